"""The in-sandbox relay: TCP 127.0.0.1:PORT inside a sandbox to a Unix socket bound from the host.

A sandbox has its own network namespace with only loopback; services on the host (the CLI
agents' egress proxy, a lab's host service) are reached through a Unix socket bound into the
sandbox, and this program, started inside (``python3 -I -S forwarder.py PORT SOCKET``),
relays TCP connections to it. It is stdlib only and imports nothing of looplab, so its own
text is what runs inside (``FORWARDER_SOURCE``); the host's egress proxy uses its ``pipe``.
"""

import contextlib
import socket
import sys
import threading


def _copy(src: socket.socket, dst: socket.socket) -> None:
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


def pipe(a: socket.socket, b: socket.socket) -> None:
    """Copy both ways until both sides are done (half-closes passed on)."""
    t = threading.Thread(target=_copy, args=(b, a), daemon=True)
    t.start()
    _copy(a, b)
    t.join()


def _serve(client: socket.socket, path: str) -> None:
    up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        up.connect(path)
    except OSError:
        client.close()
        return
    pipe(client, up)
    client.close()
    up.close()


def main(port: int, path: str) -> None:
    """Listen on 127.0.0.1:``port`` and relay every connection to the Unix socket ``path``."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(64)
    while True:
        c, _ = srv.accept()
        threading.Thread(target=_serve, args=(c, path), daemon=True).start()


if __name__ == "__main__":  # run inside a sandbox, as a file or with -c
    main(int(sys.argv[1]), sys.argv[2])
else:
    with open(__file__, encoding="utf-8") as _f:
        FORWARDER_SOURCE = _f.read()
