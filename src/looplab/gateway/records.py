"""The gateway's record of every model call: one JSON line per call in the trial, secrets redacted.

Each line holds the request and the reply as they passed (JSON bodies decoded, a
stream kept as its SSE text), the usage and dollars metered from it, the status and
the latency. Every secret handed to ``CallLog`` (the real key, the trial's dummy
token) is replaced by ``[REDACTED]`` anywhere in the line before it is written.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from looplab.fsutil import read_jsonl

REDACTED = "[REDACTED]"
MAX_BODY = 4 << 20  # characters of one body kept in the record


def body_for_record(raw: bytes, streamed: bool = False) -> Any:
    """A body as the record keeps it: decoded JSON, or the text (a stream's SSE text), cut at MAX_BODY."""
    if not raw:
        return None
    if not streamed:
        try:
            return json.loads(raw)
        except ValueError:
            pass
    text = raw.decode("utf-8", "replace")
    return (
        text if len(text) <= MAX_BODY else text[:MAX_BODY] + f"... [{len(text) - MAX_BODY} more characters]"
    )


class CallLog:
    def __init__(self, path: Path | None, secrets: list[str]):
        self.path = Path(path) if path else None
        self.secrets = [s for s in secrets if s]
        self._lock = threading.Lock()
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def redact(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, REDACTED)
        return text

    def write(self, record: dict[str, Any]) -> None:
        if self.path is None:
            return
        line = self.redact(json.dumps(record, default=str))
        with self._lock, open(self.path, "a") as fh:
            fh.write(line + "\n")


def read_calls(path: Path) -> list[dict[str, Any]]:
    """The records of a call log (a torn last line skipped)."""
    return read_jsonl(path)
