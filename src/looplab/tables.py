"""Terminal tables that never hide content: every column folds (wraps) instead of cutting a cell.

Piped output has no terminal width (rich assumes 80 columns); a cut cell such as
``prime_c…`` loses what the user asked for, so cells wrap onto more lines instead.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

RIGHT = ("attempt", "reward", "trials", "errors", "mean reward", "n", "cost", "score")


def make_table(title: str, columns: Sequence[str]) -> Table:
    """A table with ``columns`` (numbers right-aligned) whose cells wrap, never truncate."""
    table = Table(title=title)
    for col in columns:
        table.add_column(col, justify="right" if col in RIGHT else "left", overflow="fold")
    return table


def print_fitted(
    console: Console,
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    optional: Sequence[str] = (),
) -> None:
    """Print a table that fits the console: optional columns are dropped (in order, with a note)
    while the table is wider than the console; the cells that remain wrap, never truncate."""
    keep = list(columns)
    dropped: list[str] = []

    def build() -> Table:
        t = make_table(title, keep)
        idx = [list(columns).index(c) for c in keep]
        for r in rows:
            t.add_row(*(r[i] for i in idx))
        return t

    table = build()
    for col in optional:
        if _natural_width(console, table) <= console.width:
            break
        keep.remove(col)
        dropped.append(col)
        table = build()
    console.print(table)
    if dropped:
        console.print(
            f"[dim]columns left out to fit {console.width} columns: {', '.join(dropped)} (--json has all)[/]"
        )


def _natural_width(console: Console, table: Table) -> int:
    """The width the table needs to show every header and cell word unbroken."""
    return console.measure(table, options=console.options.update(width=10_000)).maximum
