# bx-events: build, test and demo targets. `make demo` and `make test` are the quick start.
CARGO ?= cargo
PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: build test demo lint lint-tested lint-library completions install bench

# What `make test` builds: the CLI with its test hooks (failpoints, the kernel
# keyring standing in for the desktop's), without the Secret Service's D-Bus
# stack, whose compile would cost the CI budget over a minute (Cargo.toml).
TEST_FEATURES = --no-default-features --features cli,failpoints,test-keyring

build:
	$(CARGO) build --release

# `make test` lints what it tests; `make lint` also checks the client library
# built alone (no CLI, no sandbox: examples/client.rs), a build of its own
# that would cost `make test` a minute of its ten (README, "Development").
lint: lint-tested lint-library

lint-tested:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets $(TEST_FEATURES) -- -D warnings

lint-library:
	$(CARGO) clippy --no-default-features --lib --example client -- -D warnings

# Four test threads on two cores: most integration tests wait on servers and
# child processes, not the CPU (measured in the README's figures).
test: lint-tested
	$(CARGO) test $(TEST_FEATURES) -- --test-threads=4 --skip ::alone::
	# What times a child's reaction in milliseconds runs on its own, unloaded.
	$(CARGO) test $(TEST_FEATURES) --test it ::alone:: -- --test-threads=1
	# Nothing may rebuild itself: a second build after the tests compiles nothing.
	@if $(CARGO) test $(TEST_FEATURES) --no-run 2>&1 | grep Compiling; then \
		echo "error: a second build recompiled the crates above (see build.rs)"; exit 1; fi

demo:
	@echo "Building bx-events (the first run takes a few minutes)..."
	$(CARGO) build --quiet
	./scripts/demo.sh target/debug/bx-events

completions:
	$(CARGO) run --quiet --example generate_assets -- .

install: build
	install -Dm755 target/release/bx-events $(DESTDIR)$(PREFIX)/bin/bx-events
	install -Dm644 completions/bx-events.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/bx-events
	install -Dm644 completions/_bx-events $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_bx-events
	install -Dm644 completions/bx-events.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/bx-events.fish
	install -d $(DESTDIR)$(PREFIX)/share/man/man1
	install -m644 docs/man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/

# Whole-process scenarios against the sandbox (about 45 minutes: the naive baselines
# wait on the portal's rate limit); rewrites docs/benchmarks.md. BENCH_QUICK=1 for a
# fast check. Micro-benchmarks: cargo bench --bench micro.
bench:
	./scripts/sdk-venv.sh
	$(CARGO) bench --bench scenarios
	$(CARGO) bench --bench peers
	$(CARGO) bench --bench fleet
	$(CARGO) bench --bench notify
	$(CARGO) bench --bench publish
