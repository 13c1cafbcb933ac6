#!/usr/bin/env bash
# Tests scripts/classroom as an instructor uses it, through its own tmux
# server: stage 3 in four panes, a line typed into one telnet pane comes
# back there and nowhere else; the chat room's client joins; --stop stops
# them. Usage: tests/scripts/classroom_test.sh   (run by CTest)
# Exits 77 (skipped) when tmux or telnet is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

source tests/scripts/common.sh

expect_no_stage scripts/classroom  # before any tmux

for tool in tmux telnet; do
    if ! command -v "$tool" >/dev/null; then
        echo "skipped: $tool is missing (sudo apt-get install tmux telnet)"
        exit 77
    fi
done

export CHAT_CLASSROOM=classroom-test  # not the instructor's layout
scripts/classroom --stop >/dev/null  # what a killed run may have left
trap 'scripts/classroom --stop >/dev/null 2>&1 || true' EXIT

socket=
session=
start() {  # start STAGE: a detached layout on a port the system picks
    local out
    out=$(scripts/classroom --detach -p 0 "$1") || fail "could not start $1"
    echo "$out"
    socket=$(sed -n 's/.*tmux -L \([^ ]*\) attach -t \([^ ]*\) .*/\1/p' <<<"$out")
    session=$(sed -n 's/.*tmux -L \([^ ]*\) attach -t \([^ ]*\) .*/\2/p' <<<"$out")
    [[ -n $socket && -n $session ]] || fail "no socket and session in: $out"
}
t() { tmux -L "$socket" "$@"; }
screen() { t capture-pane -p -J -S - -t "$session:0.$1"; }
count() { screen "$1" | grep -c -F -- "$2" || true; }  # lines showing TEXT
wait_for() {  # wait_for PANE TEXT [TIMES]: 5 s at most
    local n
    for ((n = 0; n < 50; n++)); do
        (($(count "$1" "$2") >= ${3:-1})) && return 0
        sleep 0.1
    done
    screen "$1" >&2
    fail "pane $1 did not show '$2' ${3:-1} times (its screen is above)"
}
stop_and_check() {  # stop_and_check PROGRAM: --stop stops it, and tmux
    local server out state
    server=$(t list-panes -t "$session:0" -F '#{pane_index} #{pane_pid}' |
        sed -n 's/^0 //p')
    out=$(scripts/classroom --stop)
    echo "$out"
    [[ $out == *"stopping $1 (pid $server)"* ]] || fail "--stop did not stop $1"
    state=$(sed 's/.*) //' "/proc/$server/stat" 2>/dev/null | cut -c1 || true)
    [[ -z $state || $state == Z ]] || fail "$1 (pid $server) still runs"
    ! t has-session 2>/dev/null || fail "the tmux server still runs"
    [ ! -f "build/$CHAT_CLASSROOM.pids" ] || fail "the pid file is still there"
}

start 3
panes=$(t list-panes -t "$session:0" | wc -l)
[ "$panes" = 4 ] || fail "$panes panes, not 4"
wait_for 1 "Escape character is"
wait_for 2 "Escape character is"
line="hello from pane 1, test $$"
t send-keys -t "$session:0.1" "$line" Enter
wait_for 1 "$line" 2  # as typed, then the echo
sleep 0.5             # time enough for a broadcast to arrive, if any
(($(count 2 "$line") == 0)) || fail "pane 2 shows pane 1's line: stage 3 does not broadcast"
echo "ok: stage 3 echoes to the sender only"
stop_and_check chatserver3

start chatroom
wait_for 1 "What is your name:"
t send-keys -t "$session:0.1" "ada" Enter
wait_for 1 "ada has joined the chat room"
echo "ok: the chat room's client joins"
stop_and_check chatroom
