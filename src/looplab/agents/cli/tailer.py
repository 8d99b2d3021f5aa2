"""Following the log a CLI tool writes in the sandbox: new lines become trajectory events as they arrive
(a whole-document log is read once, at the end); the tool's own usage figures are kept aside."""

from __future__ import annotations

import os
import stat
import threading
from typing import Any

from looplab.agents.cli.logs import Converter
from looplab.errors import LooplabError
from looplab.sandbox.base import Sandbox


def tool_usage(ev: dict[str, Any]) -> dict[str, Any]:
    """A converted log event with the tool's own usage figures kept aside (the gateway's are the ones
    counted)."""
    for k in ("usage", "cost_usd"):
        if k in ev:
            ev[f"tool_{k}"] = ev.pop(k)
    return ev


class LogTailer:
    """Follows a log file the tool writes in the sandbox, converting new lines into trajectory events."""

    def __init__(
        self,
        sandbox: Sandbox,
        sandbox_path: str | None,
        conv: Converter,
        traj: Any,
        interval: float = 0.25,
    ):
        self.sandbox, self.path, self.conv, self.traj = sandbox, sandbox_path, conv, traj
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pos = 0
        self._partial = b""

    def start(self) -> None:
        if self.path is None or self.conv.whole_file:  # a whole document is read once, at the end
            return
        self._thread = threading.Thread(target=self._loop, daemon=True, name="cli-log-tailer")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.conv.whole_file:
            data = self._read(0, 64 << 20)
            events = self.conv.document(data.decode("utf-8", "replace")) if data else []
            self._emit(events)
        elif self._thread is not None:
            self._drain(final=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._drain()

    def _read(self, pos: int, limit: int = 8 << 20) -> bytes:
        """The log's bytes from ``pos`` on (b"" when it is missing, a link or not a regular file)."""
        try:
            # relative: BwrapSandbox.host_path normalizes "/" + path, and "//x" stays "//x" under POSIX rules
            host = self.sandbox.host_path(self.path.lstrip("/")) if self.path else None
        except LooplabError:  # the path was made a symlink: not followed
            return b""
        if host is None:
            return b""
        try:  # the sandbox user owns this file: never follow a link or block on a fifo
            fd = os.open(host, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return b""
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return b""
            os.lseek(fd, pos, os.SEEK_SET)
            return os.read(fd, limit)
        except OSError:
            return b""
        finally:
            os.close(fd)

    def _drain(self, final: bool = False) -> None:
        data = self._read(self._pos)
        self._pos += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = b"" if final else lines.pop()
        events = [ev for raw in lines for ev in self.conv.feed(raw.decode("utf-8", "replace"))]
        if final:
            events += self.conv.flush()
        self._emit(events)

    def _emit(self, events: list[dict[str, Any]]) -> None:
        for ev in events:
            self.traj.event(ev.pop("type"), **tool_usage(ev))
