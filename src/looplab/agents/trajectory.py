"""The trajectory: every agent step appended to ``agent/trajectory.jsonl`` as it happens.

Each line is one JSON event with its step number, wall time and seconds since the
agent phase began; the file is flushed per event so a killed trial keeps what it did.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from looplab.clock import now_iso
from looplab.fsutil import read_jsonl
from looplab.sandbox.base import ExecResult


class Trajectory:
    def __init__(self, path: Path, started: float | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.started = started if started is not None else time.monotonic()
        self._lock = threading.Lock()
        self._fh = open(self.path, "a", buffering=1)  # noqa: SIM115 - kept open for streaming
        self.step = 0

    def event(self, type: str, **fields: Any) -> dict:
        with self._lock:
            self.step += 1
            ev = {
                "step": self.step,
                "time": now_iso("milliseconds"),
                "elapsed_s": round(time.monotonic() - self.started, 3),
                "type": type,
                **fields,
            }
            self._fh.write(json.dumps(ev, default=str) + "\n")
            self._fh.flush()
            return ev

    def observation(self, r: ExecResult, tail: int = 8000, **fields: Any) -> dict:
        """The ``observation`` event of a command's result: exit code, timeout, the tails of its output."""
        return self.event(
            "observation",
            **fields,
            exit_code=r.exit_code,
            timed_out=r.timed_out,
            stdout=r.stdout[-tail:],
            stderr=r.stderr[-tail:],
        )

    def close(self) -> None:
        with self._lock:
            if not self._fh.closed:
                self._fh.close()


def read_trajectory(path: Path) -> list[dict]:
    """Events of a trajectory file; a torn last line (a killed writer) is skipped."""
    return read_jsonl(path)
