"""Forward a host TCP port into a sandbox that has no network, through a Unix socket.

A sandbox's network namespace holds only its own loopback, so a host service is
unreachable from inside. ``UnixForwarder`` runs on the host: it listens on a Unix
socket in a folder that is bound into the sandbox and relays every connection to
a host TCP address. ``start_relay`` starts, inside the sandbox, the stdlib relay the
CLI agents' egress proxy already uses (``looplab.sandbox.relay.FORWARDER_SOURCE``:
TCP 127.0.0.1:PORT to a Unix socket) and waits until the port is listening, by
reading ``/proc/net/tcp`` so that no test connection reaches the service. Code in
the sandbox then talks to ``127.0.0.1:PORT`` as if the service were local; nothing
else of the host network is reachable.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import socket
import threading
from collections.abc import Callable
from pathlib import Path

from looplab.errors import LooplabError
from looplab.sandbox.base import Sandbox

SOCKET_DIR_IN_SANDBOX = "/run/looplab-forward"
CHUNK = 65536


def _pump(a: socket.socket, b: socket.socket) -> None:
    try:
        while True:
            data = a.recv(CHUNK)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    for s in (a, b):
        with contextlib.suppress(OSError):
            s.shutdown(socket.SHUT_RDWR)


def serve_unix(
    path: Path, handle: Callable[[socket.socket], None], name: str, backlog: int = 64
) -> socket.socket:
    """Listen on Unix socket ``path`` (any local user may connect: the sandbox user must) and run
    ``handle(conn)`` in a thread per connection until the returned socket is closed."""
    path.unlink(missing_ok=True)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    os.chmod(path, 0o666)
    s.listen(backlog)

    def accept() -> None:
        while True:
            try:
                conn, _ = s.accept()
            except OSError:  # closed: the server stopped
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True, name=name).start()
    return s


class UnixForwarder:
    """Host side: accept on Unix socket ``path`` and relay each connection to ``(host, port)``."""

    def __init__(self, path: Path, port: int, host: str = "127.0.0.1"):
        self.path = Path(path)
        self.target = (host, port)
        self._sock: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(self.path.parent, 0o755)
        self._sock = serve_unix(self.path, self._serve, f"forward-{self.target[1]}")

    def _serve(self, conn: socket.socket) -> None:
        try:
            up = socket.create_connection(self.target, timeout=10)
            up.settimeout(None)
        except OSError:
            conn.close()
            return
        with self._lock:
            self._conns += [conn, up]
        threading.Thread(target=_pump, args=(conn, up), daemon=True).start()
        _pump(up, conn)
        for s in (conn, up):
            with contextlib.suppress(OSError):
                s.close()

    def stop(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
        with self._lock:
            for c in self._conns:
                with contextlib.suppress(OSError):
                    c.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> UnixForwarder:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_relay(sandbox: Sandbox, port: int, socket_path: str, timeout: float = 10.0) -> None:
    """Start the in-sandbox relay for ``port`` (detached) and wait until it listens."""
    from looplab.sandbox.relay import FORWARDER_SOURCE

    listening = f"{port:04X}"
    cmd = (
        f"setsid python3 -I -S -c {shlex.quote(FORWARDER_SOURCE)} {port} {shlex.quote(socket_path)} "
        f"</dev/null >/tmp/.looplab-relay-{port}.log 2>&1 &\n"
        f"for i in $(seq {int(timeout * 20)}); do "
        f"grep -q ':{listening} 00000000:0000 0A' /proc/net/tcp && exit 0; sleep 0.05; done\n"
        f"cat /tmp/.looplab-relay-{port}.log >&2; exit 1"
    )
    r = sandbox.exec(cmd, timeout=timeout + 5)
    if not r.ok:
        raise LooplabError(f"could not forward port {port} into the sandbox: {r.stderr.strip()[-300:]}")
