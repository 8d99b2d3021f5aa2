"""The one exception type looplab raises for problems a user must fix.

Its message is a single line naming the file or field and what is wrong; the CLI
prints it and exits non-zero without a traceback. ``validation_message`` turns a
pydantic error into such a line, listing every problem (never "and N more").
"""

from __future__ import annotations

from typing import Any, get_args


class LooplabError(Exception):
    """A user-facing error: bad input, missing tool, failed build step."""


def validation_message(where: str, exc: Any, model: Any = None) -> str:
    """Every error of a pydantic ``ValidationError`` in one line, each naming its key.

    ``where: unknown key 'a.b' (valid keys: x, y); missing key 'c'; field d: problem``.
    An unknown key lists the valid ones when ``model`` (the validated class) is given.
    """
    return f"{where}: " + "; ".join(validation_problems(exc, model))


def validation_problems(exc: Any, model: Any = None) -> list[str]:
    """Each error of a pydantic ``ValidationError`` as one phrase naming its key."""
    parts = []
    for err in exc.errors():
        loc = tuple(x for x in err.get("loc", ()) if not str(x).startswith("function-"))
        name = ".".join(str(x) for x in loc) or "(top level)"
        kind = err.get("type")
        if kind == "extra_forbidden":
            known = _fields_at(model, loc[:-1]) if model is not None else []
            parts.append(f"unknown key '{name}'" + (f" (valid keys: {', '.join(known)})" if known else ""))
        elif kind == "missing":
            parts.append(f"missing key '{name}'")
        else:
            msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
            parts.append(f"field {name}: {msg}")
    return parts


def _fields_at(model: Any, loc: tuple[Any, ...]) -> list[str]:
    """The declared keys of the pydantic model reached by following ``loc`` from ``model``."""
    cls = model
    for part in loc:
        info = getattr(cls, "model_fields", {}).get(part)
        if info is None:
            return []
        cls = info.annotation
        cls = next((a for a in get_args(cls) if hasattr(a, "model_fields")), cls)
        if not hasattr(cls, "model_fields"):
            return []
    return list(getattr(cls, "model_fields", {}))
