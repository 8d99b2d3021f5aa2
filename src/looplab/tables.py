"""Terminal tables that never hide content: every column folds (wraps) instead of cutting a cell.

Piped output has no terminal width (rich assumes 80 columns); a cut cell such as
``prime_c…`` loses what the user asked for, so cells wrap onto more lines instead.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

RIGHT = ("attempt", "reward", "trials", "errors", "mean reward", "n", "cost", "score")


def make_table(title: str, columns: Sequence[str]) -> Table:
    """A table with ``columns`` (numbers right-aligned) whose cells wrap, never truncate."""
    table = Table(title=title)
    for col in columns:
        table.add_column(col, justify="right" if col in RIGHT else "left", overflow="fold")
    return table
