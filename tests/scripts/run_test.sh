#!/usr/bin/env bash
# Tests the README's first command as a user runs it: scripts/run builds
# and starts a stage, which prints its port and serves a telnet-like client;
# a stage that does not exist is one line and exit status 2.
# Usage: tests/scripts/run_test.sh   (run by CTest)
set -euo pipefail
cd "$(dirname "$0")/../.."

source tests/scripts/common.sh

expect_no_stage scripts/run

out=$(mktemp)
scripts/run 3 0 >"$out" 2>&1 &
pid=$!  # scripts/run ends in exec: this becomes the server's pid
trap 'kill "$pid" 2>/dev/null || true; rm -f "$out"' EXIT
port=
for ((n = 0; n < 1200; n++)); do  # 2 minutes at most: it may build
    port=$(sed -n 's/^chatserver3: listening on port \([0-9]*\)$/\1/p' "$out")
    kill -0 "$pid" 2>/dev/null || fail "it stopped: $(cat "$out")"
    [ -z "$port" ] || break
    sleep 0.1
done
[ -n "$port" ] || fail "no port after 2 minutes: $(cat "$out")"
echo "ok: $(head -n 1 "$out")"

exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'hello\r\n' >&3
IFS= read -r -t 10 reply <&3 || fail "no echo"
[ "$reply" = $'hello\r' ] || fail "echo was '$reply'"
exec 3>&-
echo "ok: a client is echoed"
