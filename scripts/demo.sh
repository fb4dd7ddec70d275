#!/usr/bin/env bash
# A narrated tour of bx-events against the built-in sandbox portal (`make demo`).
# Uses a throw-away config directory, so your real profiles are never touched.
set -euo pipefail

BIN=${1:-target/debug/bx-events}
WORK=$(mktemp -d)
export BX_EVENTS_CONFIG_DIR="$WORK/config"
SANDBOX_PID=
LISTEN_PID=
DEV_PID=

cleanup() {
    if [ -n "$DEV_PID" ]; then kill "$DEV_PID" 2>/dev/null || true; wait "$DEV_PID" 2>/dev/null || true; fi
    if [ -n "$LISTEN_PID" ]; then kill "$LISTEN_PID" 2>/dev/null || true; wait "$LISTEN_PID" 2>/dev/null || true; fi
    if [ -n "$SANDBOX_PID" ]; then kill "$SANDBOX_PID" 2>/dev/null || true; wait "$SANDBOX_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

bold() { if [ -t 1 ]; then printf '\033[1m%s\033[0m\n' "$*"; else printf '%s\n' "$*"; fi; }

# step "narration" command args...: shows the command, runs it, shows a failing exit code.
step() {
    local say=$1; shift
    echo
    bold "# $say"
    echo "\$ bx-events ${*:2}"
    local code=0
    "$@" || code=$?
    [ "$code" -eq 0 ] || echo "(exit code $code)"
}

APP_TOKEN=demo-application-token
"$BIN" sandbox --port 0 --save-profile demo --application-token "$APP_TOKEN" >"$WORK/sandbox.log" 2>&1 &
SANDBOX_PID=$!
for _ in $(seq 1 100); do
    grep -q "listening on" "$WORK/sandbox.log" 2>/dev/null && break
    kill -0 "$SANDBOX_PID" 2>/dev/null || { cat "$WORK/sandbox.log"; exit 1; }
    sleep 0.1
done
grep -q "listening on" "$WORK/sandbox.log" || { echo "the sandbox did not start"; exit 1; }
bold "$(head -n 1 "$WORK/sandbox.log")"

step "The sandbox saved its credentials as profile 'demo'; check them:" "$BIN" auth status
step "Which deal events can the application bind?" "$BIN" events crmdeal
step "Bind a handler to new deals:" "$BIN" bind ONCRMDEALADD https://hooks.example.com/deal
step "Binding again is harmless (status already_bound, exit 0):" "$BIN" bind ONCRMDEALADD https://hooks.example.com/deal
step "Queue deal updates for pulling instead of pushing:" "$BIN" bind ONCRMDEALUPDATE --offline
step "A typo gets a suggestion (exit 1):" "$BIN" bind ONCRMDEALAD https://hooks.example.com/deal
step "Everything registered, as a table:" "$BIN" list
step "The same as JSON, for scripts:" "$BIN" list -o json
step "Remove the handler:" "$BIN" unbind ONCRMDEALADD https://hooks.example.com/deal
echo
bold "# Now the handler loop: a local receiver, bound like any handler."
echo "\$ bx-events listen --port 0 --application-token $APP_TOKEN &"
"$BIN" listen --port 0 --application-token "$APP_TOKEN" >"$WORK/listen.out" 2>"$WORK/listen.err" &
LISTEN_PID=$!
for _ in $(seq 1 100); do
    grep -q "Listening on" "$WORK/listen.err" 2>/dev/null && break
    sleep 0.1
done
LISTEN_URL=$(grep -o 'http://[0-9.:]*/' "$WORK/listen.err" | head -n 1)
[ -n "$LISTEN_URL" ] || { cat "$WORK/listen.err"; exit 1; }
echo "Listening on $LISTEN_URL"
step "Bind the receiver (loopback is fine for the sandbox; a real portal needs a public URL):" "$BIN" bind ONCRMDEALADD "$LISTEN_URL" -q
step "Make a change on the sandbox portal: it calls the handler like a portal would:" "$BIN" sandbox fire ONCRMDEALADD --data FIELDS.ID=7405
for _ in $(seq 1 50); do
    [ -s "$WORK/listen.out" ] && break
    sleep 0.1
done
echo
bold "# What listen printed (time, event, deal id, application token verdict):"
cat "$WORK/listen.out"
echo
bold "# No public URL? dev binds the event offline and delivers each queued record to"
bold "# the local handler as the portal's own online request (listen accepts its token)."
"$BIN" unbind ONCRMDEALADD "$LISTEN_URL" -q >/dev/null
echo "\$ bx-events dev ONCRMDEALADD --forward-to $LISTEN_URL &"
"$BIN" dev ONCRMDEALADD --forward-to "$LISTEN_URL" --poll-interval 1 >"$WORK/dev.out" 2>"$WORK/dev.err" &
DEV_PID=$!
for _ in $(seq 1 100); do
    grep -q "Delivering" "$WORK/dev.err" 2>/dev/null && break
    sleep 0.1
done
step "A change on the portal, queued for dev:" "$BIN" sandbox fire ONCRMDEALADD --data FIELDS.ID=7406 -q
for _ in $(seq 1 100); do
    [ "$(wc -l < "$WORK/listen.out")" -ge 2 ] && break
    sleep 0.1
done
kill -INT "$DEV_PID" 2>/dev/null || true
wait "$DEV_PID" 2>/dev/null || true
DEV_PID=
echo
bold "# What dev said (Ctrl-C removed the offline binding it made):"
cat "$WORK/dev.err"
bold "# What the handler received through dev:"
tail -n 1 "$WORK/listen.out"
"$BIN" bind ONTASKADD http://127.0.0.1:9/broken -q >/dev/null
step "A handler that never answers: doctor says what is wrong and how to fix it (exit 1):" "$BIN" doctor
step "Remove whatever is left (--yes skips the confirmation):" "$BIN" unbind --all --yes
step "Nothing is bound now:" "$BIN" list -o json
echo
bold "Demo finished; the sandbox is stopped and its temporary profile removed."
