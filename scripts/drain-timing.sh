#!/usr/bin/env bash
# Times `offline consume --stdout` draining 10,000 records from a fresh sandbox,
# with the config directory on the filesystem of $TMPDIR (say which when you
# publish a figure: `df -T "${TMPDIR:-/tmp}"`).
#   scripts/drain-timing.sh target/release/bx-events [pipe|FILE]
# FILE defaults to /dev/null; `pipe` drains into `| cat >/dev/null`. Prints the
# drain's wall time and the consumer's CPU time and peak memory.
set -euo pipefail
bin=$(realpath "$1")
out=${2:-/dev/null}
work=$(mktemp -d "${TMPDIR:-/tmp}/bx-drain.XXXXXX")
trap 'kill "$sandbox" 2>/dev/null || true; rm -rf "$work"' EXIT
export BX_EVENTS_CONFIG_DIR="$work/config"
"$bin" sandbox --save-profile sb --rate-limit off >"$work/sandbox.log" 2>&1 &
sandbox=$!
for _ in $(seq 100); do
    [ -f "$BX_EVENTS_CONFIG_DIR/credentials.toml" ] && break
    sleep 0.1
done
"$bin" bind ONCRMDEALADD --offline >/dev/null 2>&1
"$bin" sandbox fire ONCRMDEALADD --count 10000 --data 'FIELDS.ID={N}' >/dev/null 2>&1
timing=(/usr/bin/time -f "consumer: user %U s, sys %S s, peak RSS %M KB" -o "$work/time")
start=$(date +%s%N)
if [ "$out" = pipe ]; then
    "${timing[@]}" "$bin" offline consume --stdout 2>"$work/consume.log" | cat >/dev/null
else
    "${timing[@]}" "$bin" offline consume --stdout >"$out" 2>"$work/consume.log"
fi
end=$(date +%s%N)
echo "drain of 10,000 records to $out: $(( (end - start) / 1000000 )) ms wall; $(cat "$work/time")"
