"""How numbers are shown in tables and messages: a dash when missing, fixed or significant digits."""

from __future__ import annotations

from typing import Any

MISSING = "—"


def fixed(v: Any, digits: int = 3) -> str:
    """``0.125`` -> ``"0.125"``; None -> a dash."""
    return MISSING if v is None else f"{float(v):.{digits}f}"


def significant(v: float | None, digits: int = 6) -> str:
    """A score of any magnitude (``1.23457e+06``, ``0.00123``); None -> a dash."""
    return MISSING if v is None else f"{v:.{digits}g}"


def cell(x: Any, digits: int = 3) -> str:
    """A table cell: a float to ``digits`` places, a bool as yes/no, anything else as text; None -> a dash."""
    if x is None:
        return MISSING
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def percent(x: float | None) -> str:
    """``0.25`` -> ``"25%"``; None -> a dash."""
    return MISSING if x is None else f"{100 * x:.0f}%"
