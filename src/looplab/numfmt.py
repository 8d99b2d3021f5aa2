"""How numbers are shown in tables and messages: a dash for a missing value, a fixed or significant precision."""

from __future__ import annotations

from typing import Any

MISSING = "—"


def fixed(v: Any, digits: int = 3) -> str:
    """``0.125`` -> ``"0.125"``; None -> a dash."""
    return MISSING if v is None else f"{float(v):.{digits}f}"


def significant(v: float | None, digits: int = 6) -> str:
    """A score of any magnitude (``1.23457e+06``, ``0.00123``); None -> a dash."""
    return MISSING if v is None else f"{v:.{digits}g}"
