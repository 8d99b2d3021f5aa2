"""The host-side egress proxy: a sandbox's traffic may reach only the hosts it is allowed.

Used for the CLI agents' model traffic (only the configured API hosts) and for a task's
network policy (``looplab.netpolicy``: public, or an allowlist, for the agent phase and
the verifier). The sandbox has its own network namespace with nothing but loopback, so
nothing inside it can reach anything else. ``EgressProxy`` runs on the host (stdlib,
a thread per connection) and listens on a Unix socket that is bound read-only
into the sandbox; a tiny forwarder started inside the sandbox (``FORWARDER_SOURCE``,
stdlib, run by the system python) accepts TCP on ``127.0.0.1:PORT`` and relays
each connection to that socket, and the agent's command gets ``HTTPS_PROXY`` /
``HTTP_PROXY`` pointing at it. The proxy speaks HTTP ``CONNECT host:port`` (HTTPS
tunnels, end to end encrypted) and absolute-form plain-HTTP requests
(``GET http://host:port/...``), and opens the upstream connection only when
``(host, port)`` is on the allow list; every other destination gets ``403`` and
nothing else leaves. Each request (allowed or refused) is appended to a JSONL log.

Allow-list entries: ``api.anthropic.com`` (port 443), ``host:port``, a URL
(``https://host``, ``http://127.0.0.1:8080``: its host and port), or ``*.domain``
(any subdomain, port 443). ``allow_any`` lets every destination through (a task's
``public`` network mode): nothing is filtered, everything is still logged.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
import threading
from pathlib import Path
from urllib.parse import urlsplit

from looplab.sandbox.relay import pipe

MAX_HEAD = 64 << 10
SANDBOX_PROXY_DIR = "/run/looplab-proxy"
DEFAULT_PORT = 18080


def parse_allowed(entry: str) -> tuple[str, int]:
    """``host``, ``host:port``, ``scheme://host[:port][/path]`` or ``*.domain`` → (host, port)."""
    entry = entry.strip()
    if "://" in entry:
        u = urlsplit(entry)
        if not u.hostname:
            raise ValueError(f"allowed host {entry!r}: no host in URL")
        return u.hostname.lower(), u.port or (443 if u.scheme == "https" else 80)
    host, sep, port = entry.rpartition(":")
    if sep and port.isdigit() and host:
        return host.strip("[]").lower(), int(port)
    if not entry:
        raise ValueError("empty allowed host")
    return entry.lower(), 443


class EgressProxy:
    def __init__(
        self,
        allowed: list[str],
        socket_path: Path,
        log_path: Path | None = None,
        connect_timeout: float = 30.0,
        allow_any: bool = False,
    ):
        self.allowed = [parse_allowed(a) for a in allowed if a.strip()]
        self.allow_any = allow_any
        self.socket_path = Path(socket_path)
        self.log_path = Path(log_path) if log_path else None
        self.connect_timeout = connect_timeout
        self.events: list[dict] = []
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._closed = threading.Event()
        self._conns: set[socket.socket] = set()

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self) -> EgressProxy:
        if len(str(self.socket_path)) > 100:
            raise OSError(f"unix socket path too long: {self.socket_path}")
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(str(self.socket_path))
        os.chmod(self.socket_path, 0o666)  # the sandbox user must be able to connect
        s.listen(64)
        self._sock = s
        threading.Thread(target=self._accept_loop, daemon=True, name="egress-proxy").start()
        return self

    def stop(self) -> None:
        self._closed.set()
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
            self._sock = None
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            with contextlib.suppress(OSError):
                c.close()
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()

    def __enter__(self) -> EgressProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def is_allowed(self, host: str, port: int) -> bool:
        if self.allow_any:
            return True
        host = host.lower().strip("[]")
        for h, p in self.allowed:
            if p != port:
                continue
            if h == host or (h.startswith("*.") and host.endswith(h[1:])):
                return True
        return False

    # ---- serving ---------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._closed.is_set() and self._sock is not None:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _record(self, **fields: object) -> None:
        ev = {"time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"), **fields}
        with self._lock:
            self.events.append(ev)
            if self.log_path is not None:
                with open(self.log_path, "a") as fh:
                    fh.write(json.dumps(ev) + "\n")

    def _handle(self, conn: socket.socket) -> None:
        with self._lock:
            self._conns.add(conn)
        upstream: socket.socket | None = None
        try:
            conn.settimeout(30)
            head, rest = _read_head(conn)
            if head is None:
                return
            lines = head.split(b"\r\n")
            parts = lines[0].decode("latin-1").split()
            if len(parts) != 3:
                _reply(conn, 400, "bad request line")
                return
            method, target, version = parts
            if method.upper() == "CONNECT":
                host, _, port_s = target.rpartition(":")
                port = int(port_s) if port_s.isdigit() else 443
                host = host or target
            else:
                u = urlsplit(target)
                if u.scheme != "http" or not u.hostname:
                    _reply(conn, 400, f"absolute http:// URL required, got {target[:200]}")
                    return
                host, port = u.hostname, u.port or 80
            host = host.strip("[]").lower()
            if not self.is_allowed(host, port):
                self._record(method=method, host=host, port=port, allowed=False)
                allowed = ", ".join(f"{h}:{p}" for h, p in self.allowed) or "none"
                _reply(
                    conn,
                    403,
                    f"looplab egress proxy: {host}:{port} is not an allowed destination (allowed: {allowed})",
                )
                return
            try:
                upstream = socket.create_connection((host, port), timeout=self.connect_timeout)
            except OSError as exc:
                self._record(method=method, host=host, port=port, allowed=True, error=str(exc))
                _reply(conn, 502, f"looplab egress proxy: cannot connect to {host}:{port}: {exc}")
                return
            self._record(method=method, host=host, port=port, allowed=True)
            if method.upper() == "CONNECT":
                conn.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                if rest:
                    upstream.sendall(rest)
            else:
                u = urlsplit(target)
                path = (u.path or "/") + (f"?{u.query}" if u.query else "")
                out = [f"{method} {path} {version}".encode("latin-1")]
                for h in lines[1:]:
                    name = h.split(b":", 1)[0].strip().lower()
                    if name in (b"proxy-connection", b"proxy-authorization", b"connection", b"keep-alive"):
                        continue
                    if h:
                        out.append(h)
                out.append(b"Connection: close")
                upstream.sendall(b"\r\n".join(out) + b"\r\n\r\n" + rest)
            conn.settimeout(None)
            upstream.settimeout(None)
            pipe(conn, upstream)
        except (OSError, ValueError):
            return
        finally:
            for s in (conn, upstream):
                if s is not None:
                    with contextlib.suppress(OSError):
                        s.close()
            with self._lock:
                self._conns.discard(conn)


def _read_head(conn: socket.socket) -> tuple[bytes | None, bytes]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = conn.recv(8192)
        if not chunk:
            return None, b""
        buf += chunk
        if len(buf) > MAX_HEAD:
            _reply(conn, 431, "request head too large")
            return None, b""
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head, rest


def _reply(conn: socket.socket, status: int, text: str) -> None:
    reason = {
        400: "Bad Request",
        403: "Forbidden",
        431: "Request Header Fields Too Large",
        502: "Bad Gateway",
    }
    body = (text + "\n").encode()
    head = (
        f"HTTP/1.1 {status} {reason.get(status, 'Error')}\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    with contextlib.suppress(OSError):
        conn.sendall(head.encode() + body)


def forwarder_command(
    port: int = DEFAULT_PORT, proxy_dir: str = SANDBOX_PROXY_DIR, socket_name: str = "proxy.sock"
) -> str:
    """Shell command (run inside the sandbox) that starts the forwarder of ``port`` to the socket
    ``proxy_dir/socket_name`` in the background and waits for it."""
    log = f"/tmp/looplab-forwarder-{port}.log"
    return (
        f"setsid /usr/bin/python3 -I -S {proxy_dir}/forwarder.py {port} {proxy_dir}/{socket_name} "
        f"> {log} 2>&1 < /dev/null &\n"
        f"for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && exit 0; "
        "sleep 0.05; done\n"
        f"echo 'forwarder to {socket_name} did not start:' >&2; cat {log} >&2; exit 1"
    )


def proxy_env(port: int = DEFAULT_PORT) -> dict[str, str]:
    url = f"http://127.0.0.1:{port}"
    return {
        "HTTPS_PROXY": url,
        "HTTP_PROXY": url,
        "https_proxy": url,
        "http_proxy": url,
        "NO_PROXY": "",
        "no_proxy": "",
    }
