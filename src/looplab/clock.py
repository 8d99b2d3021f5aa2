"""Timestamps in records: ``now_iso()``, UTC in ISO 8601 (seconds, or milliseconds where order matters)."""

from __future__ import annotations

import datetime as dt
from typing import Literal


def now_iso(timespec: Literal["seconds", "milliseconds"] = "seconds") -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec=timespec)
