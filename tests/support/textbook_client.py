#!/usr/bin/env python3
"""The textbook's chat client (Goldwasser & Letscher, 16.4), emulated.

Its parsing, as the book's client does it: each recv(1024) is split on
"\\n" (the piece after the last "\\n" is dropped), the first word of a line
is the command and the rest of the line after one space is its parameter;
MESSAGE and PRIVATE take the next line as their text. It prints what the
book's client prints ("==> alice has joined the chat room"). It sends as
the book's client does, "MESSAGE text" with no line end included.

Instead of a person typing, it plays one conversation, waiting for what it
should see before it goes on (never for a fixed time):
join as NAME, say "hello everyone", whisper "psst" to FRIEND, wait for
FRIEND's private "back at you", quit. Exit status 0 when it all went so;
1 at once when a line it shows has a "\\r" in it, or when it never sees
what it waits for; a Python exception is a failure too.

Usage: textbook_client.py PORT NAME FRIEND
"""
import socket
import sys
import time

DEADLINE = 20  # seconds for the whole conversation


def show(shown, text):
    print(text, flush=True)
    shown.append(text)
    if "\r" in text:  # a terminal would show the rest over the start
        print("textbook_client: a \\r in %r" % text, file=sys.stderr)
        sys.exit(1)


def receive(server, shown):
    """One recv(1024), parsed as the textbook's client parses it.
    False once the server has said GOODBYE or closed."""
    transmission = server.recv(1024).decode("utf-8", "replace")
    if not transmission:
        return False
    lines = transmission.split("\n")[:-1]
    more = True
    i = 0
    while i < len(lines):
        command = lines[i].split()[0]
        param = lines[i][len(command) + 1:]
        if command == "GOODBYE":
            more = False
        elif command == "NEW":
            show(shown, "==> " + param + " has joined the chat room")
        elif command == "LEFT":
            show(shown, "==> " + param + " has left the chat room")
        elif command == "MESSAGE":
            i += 1
            show(shown, "==> " + param + ": " + lines[i])
        elif command == "PRIVATE":
            i += 1
            show(shown, "==> " + param + " [private]: " + lines[i])
        i += 1
    return more


def wait_for(server, shown, text):
    """Reads until a shown line equals `text`; False at the deadline or
    when the server goes."""
    while text not in shown:
        if time.monotonic() > start + DEADLINE:
            return False
        if not receive(server, shown):
            return text in shown
    return True


port, name, friend = int(sys.argv[1]), sys.argv[2], sys.argv[3]
start = time.monotonic()
server = socket.create_connection(("127.0.0.1", port))
server.settimeout(DEADLINE)
shown = []
steps = [
    ("ADD %s\n" % name, "==> %s has joined the chat room" % name),
    ("MESSAGE hello everyone", "==> %s: hello everyone" % name),
    ("PRIVATE %s\npsst\n" % friend, "==> %s [private]: back at you" % friend),
]
ok = True
for sent, expected in steps:
    server.send(sent.encode())
    if not wait_for(server, shown, expected):
        print("textbook_client: never saw %r" % expected, file=sys.stderr)
        ok = False
        break
server.send(b"QUIT\n")
while ok and receive(server, shown):  # until GOODBYE
    pass
sys.exit(0 if ok else 1)
