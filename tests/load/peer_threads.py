#!/usr/bin/env python3
"""peer_threads: the lecture's own design, as a peer in the benchmark.

Python threads, one per client, a shared list guarded by one lock; each
recv(1024) chunk goes, as it is, with sendall to every other client. A
chunk is not a line: when two senders' chunks reach a client one after the
other, a line can be cut in two and spliced with another's (loadgen counts
only whole lines). No packages, python3 only.

Usage: peer_threads.py [port]   (loopback only; port 0: any)
"""
import socket
import sys
import threading

clients = []
lock = threading.Lock()


def serve(conn):
    with lock:
        clients.append(conn)
    try:
        while True:
            data = conn.recv(1024)
            if not data:
                break
            with lock:
                for other in clients:
                    if other is not conn:
                        try:
                            other.sendall(data)
                        except OSError:
                            pass  # that client is gone; it leaves by itself
    except OSError:
        pass
    finally:
        with lock:
            clients.remove(conn)
        conn.close()


def main():
    try:
        port = int(sys.argv[1]) if len(sys.argv) > 1 else 8888
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(socket.SOMAXCONN)
    except (ValueError, OSError) as e:
        print(f"peer_threads: {e}", file=sys.stderr)
        return 1
    print(f"peer_threads: listening on port {listener.getsockname()[1]}",
          flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
