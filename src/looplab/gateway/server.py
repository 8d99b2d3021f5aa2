"""``ModelGateway``: a plain-HTTP endpoint for one trial that forwards model calls with the real key.

Routes are path prefixes: ``/anthropic/...`` goes to the ``anthropic`` upstream's base
URL + the rest of the path (``http://GW/anthropic/v1/messages`` →
``https://api.anthropic.com/v1/messages``), ``/openai/...`` to the ``openai`` one
(``http://GW/openai/responses`` → ``https://api.openai.com/v1/responses``). The
sandbox holds only the trial's dummy token: every credential header of a request
(``x-api-key``, ``authorization``, ``api-key``, ``x-goog-api-key``) that carries the
token is sent on with the real key in its place, any other is dropped (and the
provider's own header is added when none carried the token). Replies are passed
through as they arrive (SSE flushed per read) and metered at their end
(``metering``, reading the wire with ``protocols``); a streamed Chat Completions
request is asked for its usage (``stream_options.include_usage``).

Caps (``metering.Caps``: model calls, tokens, dollars) hold for every client the
same way: a metered call that arrives when a cap is reached is not forwarded
(``metering.Meter``); it is answered with a 400 in the protocol's error format that
names the cap (clients show it and do not retry a 400), and ``capped`` says which
cap, so the agent can stop the tool. A WebSocket upgrade (Codex tries the Responses
API over one) gets a plain 404, and the client falls back to HTTP. Every call is
recorded (``records.CallLog``) and handed to ``on_call``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import json
import os
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from looplab.agents.base import Usage
from looplab.agents.llm.pricing import PriceTable
from looplab.gateway.metering import Caps, GatewayState, Meter, error_body
from looplab.gateway.protocols import OPENAI_CHAT, protocol_of
from looplab.gateway.records import CallLog, body_for_record

AUTH_HEADERS = ("x-api-key", "authorization", "api-key", "x-goog-api-key")
HOP_HEADERS = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "accept-encoding",
}
MAX_KEEP = 64 << 20  # bytes of one reply kept for metering and the record


@dataclass(frozen=True)
class Upstream:
    name: str  # the route: /NAME/... in the sandbox
    base_url: str  # the real endpoint (https, or http for a local server)
    key: str | None  # the real key, held here only
    provider: str  # "anthropic", "openai" or "gemini": the default auth header and the price table's prefix

    def default_auth(self) -> tuple[str, str]:
        """The provider's own credential header, for a client that sent none with the trial's token."""
        if self.provider == "anthropic":
            return "x-api-key", self.key or ""
        if self.provider == "gemini":
            return "x-goog-api-key", self.key or ""
        return "Authorization", f"Bearer {self.key}"


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class _TCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


class ModelGateway:
    def __init__(
        self,
        upstreams: list[Upstream],
        token: str,
        record_path: Path | None = None,
        prices: PriceTable | None = None,
        caps: Caps | None = None,
        on_call: Callable[[dict[str, Any]], None] | None = None,
        timeout: float = 600.0,
    ):
        self.upstreams = {u.name: u for u in upstreams}
        self.token = token
        self.meter = Meter(prices, caps)
        self.on_call = on_call
        self.timeout = timeout
        self.log = CallLog(record_path, [token] + [u.key for u in upstreams if u.key])
        self._lock = threading.Lock()  # the pool of upstream connections
        self._servers: list[socketserver.BaseServer] = []
        self._pool: dict[str, list[http.client.HTTPConnection]] = {}

    # ---- lifecycle ---------------------------------------------------------------------------
    def serve_unix(self, path: Path) -> ModelGateway:
        """Listen on a Unix socket the sandbox user may connect to (bound into the sandbox)."""
        path = Path(path)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        srv = _UnixServer(str(path), self._handler())
        os.chmod(path, 0o666)
        return self._serve(srv)

    def serve_tcp(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on a host TCP port (tests, benchmarks); returns the port."""
        handler = type("TCPHandler", (self._handler(),), {"disable_nagle_algorithm": True})
        srv = _TCPServer((host, port), handler)
        self._serve(srv)
        return srv.server_address[1]

    def _serve(self, srv: socketserver.BaseServer) -> ModelGateway:
        self._servers.append(srv)
        threading.Thread(
            target=srv.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True, name="model-gateway"
        ).start()
        return self

    def stop(self) -> None:
        for srv in self._servers:
            srv.shutdown()
            srv.server_close()
            addr = srv.server_address
            if isinstance(addr, str):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(addr)
        self._servers.clear()
        with self._lock:
            conns = [c for cs in self._pool.values() for c in cs]
            self._pool.clear()
        for c in conns:
            c.close()

    def __enter__(self) -> ModelGateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- what the agent reads ----------------------------------------------------------------
    def usage(self) -> Usage:
        return self.meter.usage()

    @property
    def state(self) -> GatewayState:
        return self.meter.state

    @property
    def capped(self) -> str | None:
        return self.meter.state.capped

    def set_caps(self, caps: Caps) -> None:
        self.meter.caps = caps

    def restart(self, record_path: Path) -> None:
        """Meter a new run from zero (the next step of a multi-step trial), recording to ``record_path``."""
        self.meter.reset()
        record_path.parent.mkdir(parents=True, exist_ok=True)
        self.log.path = record_path

    # ---- upstream connections ----------------------------------------------------------------
    def _connection(self, up: Upstream) -> tuple[http.client.HTTPConnection, bool]:
        """A kept-alive connection to the upstream (True) or a new one (False)."""
        with self._lock:
            idle = self._pool.get(up.name) or []
            if idle:
                return idle.pop(), True
        return self._connection_fresh(up), False

    def _release(self, up: Upstream, conn: http.client.HTTPConnection, reusable: bool) -> None:
        if not reusable:
            conn.close()
            return
        with self._lock:
            self._pool.setdefault(up.name, []).append(conn)

    # ---- one call ----------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        gw = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "looplab-gateway"

            def log_message(self, *args: Any) -> None:
                pass

            def address_string(self) -> str:
                return "sandbox"

            def do_GET(self) -> None:  # noqa: N802
                gw._handle(self)

            do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET  # noqa: N815

        return Handler

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        t0 = time.perf_counter()
        route, _, rest = h.path.lstrip("/").partition("/")
        up = self.upstreams.get(route)
        if up is None:
            known = ", ".join(f"/{n}/" for n in self.upstreams)
            return _send_json(
                h,
                404,
                {
                    "error": {
                        "type": "not_found_error",
                        "message": f"looplab gateway: no route {h.path!r} (known: {known})",
                    }
                },
            )
        if h.headers.get("upgrade", "").lower() == "websocket":
            return _send_json(
                h,
                404,
                {"error": {"type": "not_found_error", "message": "looplab gateway: no WebSocket; use HTTP"}},
            )
        raw = _read_body(h)
        protocol = protocol_of("/" + rest) if h.command == "POST" else None
        request: Any = None
        if protocol is not None:
            with contextlib.suppress(ValueError):
                request = json.loads(raw) if raw else None
            if protocol == OPENAI_CHAT and isinstance(request, dict) and request.get("stream"):
                opts = request.get("stream_options") or {}
                if not opts.get("include_usage"):
                    request["stream_options"] = {**opts, "include_usage": True}
                    raw = json.dumps(request).encode()
        refusal = self.meter.admit(protocol)
        record: dict[str, Any] = {
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "route": up.name,
            "protocol": protocol,
            "method": h.command,
            "path": "/" + rest,
            "request": request if request is not None else body_for_record(raw),
        }
        if refusal is not None:
            _send_json(h, 400, error_body(protocol, refusal))
            record.update(status=400, refused=self.state.capped, response=refusal)
            self._finish(record, t0, None)
            return
        headers = self._upstream_headers(h, up)
        base = urlsplit(up.base_url)
        target = base.path.rstrip("/") + "/" + (rest.replace(self.token, up.key) if up.key else rest)  # ?key=
        conn: http.client.HTTPConnection | None = None
        try:
            conn, reused = self._connection(up)
            try:
                conn.request(h.command, target, body=raw or None, headers=headers)
                resp = conn.getresponse()
            except (OSError, http.client.HTTPException):
                if not reused:
                    raise
                conn.close()  # a pooled connection the server had closed: once more on a fresh one
                conn = self._connection_fresh(up)
                conn.request(h.command, target, body=raw or None, headers=headers)
                resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            if conn is not None:
                conn.close()
            msg = f"looplab gateway: cannot reach {up.base_url}: {exc}"
            _send_json(h, 502, error_body(protocol, msg))
            record.update(status=502, response=msg)
            self._finish(record, t0, None)
            return
        first_byte = time.perf_counter()
        streamed = resp.getheader("content-type", "").startswith("text/event-stream")

        def at_end(data: bytes) -> None:  # metered before the client sees the end of the reply
            record.update(
                status=resp.status,
                streamed=streamed,
                response=body_for_record(data, streamed),
                first_byte_ms=round((first_byte - t0) * 1000, 3),
            )
            if protocol is not None:
                record.update(
                    self.meter.meter(up.provider, protocol, rest, request, resp.status, data, streamed)
                )

        self._relay(h, resp, at_end)
        self._release(up, conn, not resp.will_close and resp.isclosed())
        self._finish(record, t0, protocol)

    def _connection_fresh(self, up: Upstream) -> http.client.HTTPConnection:
        u = urlsplit(up.base_url)
        cls = http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection
        conn = cls(u.hostname, u.port or (443 if u.scheme == "https" else 80), timeout=self.timeout)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # headers and body leave at once
        return conn

    def _upstream_headers(self, h: BaseHTTPRequestHandler, up: Upstream) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, value in h.headers.items():
            low = name.lower()
            if low in AUTH_HEADERS:
                if self.token in value and up.key:  # the client's credential: the real key in its place
                    out[name] = value.replace(self.token, up.key)
            elif low not in HOP_HEADERS:
                out[name] = value
        if up.key and not any(k.lower() in AUTH_HEADERS for k in out):
            name, value = up.default_auth()
            out[name] = value
        out["Host"] = urlsplit(up.base_url).netloc
        out["Accept-Encoding"] = "identity"  # the reply is read to meter it
        return out

    def _relay(
        self, h: BaseHTTPRequestHandler, resp: http.client.HTTPResponse, at_end: Callable[[bytes], None]
    ) -> None:
        """Send the upstream reply to the client as it arrives; ``at_end(its bytes)`` runs before its
        last bytes go."""
        length = resp.getheader("content-length")
        h.send_response_only(resp.status, resp.reason)
        for name, value in resp.getheaders():
            if name.lower() not in HOP_HEADERS and name.lower() != "content-encoding":
                h.send_header(name, value)
        chunked = length is None and h.command != "HEAD"
        h.send_header("Transfer-Encoding", "chunked") if chunked else h.send_header(
            "Content-Length", length or "0"
        )
        h.end_headers()
        kept: list[bytes] = []
        size = 0
        client_ok = True
        ended = False

        def send(data: bytes) -> None:
            nonlocal client_ok
            if not client_ok:
                return
            try:
                h.wfile.write(data)
                h.wfile.flush()
            except OSError:
                client_ok = False  # the client went away: keep reading to meter what was spent

        while True:
            try:
                chunk = resp.read1(65536)
            except (OSError, http.client.HTTPException):
                chunk = b""
            if not chunk:
                break
            if size < MAX_KEEP:
                kept.append(chunk)
                size += len(chunk)
            if not chunked and resp.length == 0:  # the last bytes of a sized reply
                at_end(b"".join(kept))
                ended = True
            send(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
        if not ended:
            at_end(b"".join(kept))
        if chunked:
            send(b"0\r\n\r\n")
        if not client_ok:
            h.close_connection = True

    def _finish(self, record: dict[str, Any], t0: float, protocol: str | None) -> None:
        record["total_ms"] = round((time.perf_counter() - t0) * 1000, 3)
        with self.meter.lock:
            record["n"] = self.state.calls
        self.log.write(record)
        if self.on_call is not None and protocol is not None:
            brief = {
                k: record.get(k)
                for k in (
                    "n",
                    "route",
                    "protocol",
                    "model",
                    "status",
                    "usage",
                    "text",
                    "tool_calls",
                    "error",
                    "refused",
                    "first_byte_ms",
                    "total_ms",
                )
            }
            self.on_call(json.loads(self.log.redact(json.dumps(brief, default=str))))


def _read_body(h: BaseHTTPRequestHandler) -> bytes:
    if h.headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int(h.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while h.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            parts.append(h.rfile.read(size))
            h.rfile.readline()
    n = int(h.headers.get("content-length") or 0)
    return h.rfile.read(n) if n else b""


def _send_json(h: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    try:
        h.send_response_only(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
        h.wfile.flush()
    except OSError:
        h.close_connection = True
