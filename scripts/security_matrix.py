"""Run the red-team matrix (attacks x catalog tasks) for real and write docs/security.md and its JSON.

    python scripts/security_matrix.py                 # one task per measure kind
    python scripts/security_matrix.py --all           # every catalog task
    python scripts/security_matrix.py --task bm25_search --attack leaked_answer

Each cell is a real ``looplab run`` with a scripted cheating agent; see tests/redteam/.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from redteam.attacks import ATTACKS, catalog  # noqa: E402
from redteam.matrix import DEFAULT_TASKS, Cell, render, run_row, to_json  # noqa: E402

from looplab.fsutil import atomic_write_json, atomic_write_text, read_json  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--all", action="store_true", help="every catalog task (default: one per measure kind)")
    ap.add_argument("--task", action="append", help="only these tasks")
    ap.add_argument("--attack", action="append", choices=ATTACKS, help="only these attacks")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "security.md")
    ap.add_argument("--json", type=Path, default=REPO / "docs" / "security.json")
    ap.add_argument(
        "--merge", action="store_true",
        help="keep the cells of an existing --json this run does not redo (other tasks, other attacks)",
    )  # fmt: skip
    ap.add_argument(
        "--from-jobs", type=Path, nargs="*", default=None,
        help="run nothing: read the trials recorded in these job folders (one per task, as left by a run)",
    )  # fmt: skip
    ap.add_argument("--note", default="", help="a paragraph for docs/security.md about this run")
    args = ap.parse_args(argv)
    tasks = args.task or (catalog() if args.all else list(DEFAULT_TASKS.values()))
    unknown = sorted(set(tasks) - set(catalog()))
    if unknown:
        print(f"security_matrix: unknown task(s) {', '.join(unknown)}", file=sys.stderr)
        return 2
    attacks = args.attack or ATTACKS
    rows, cells = [], []
    recorded = {}
    for d in args.from_jobs or []:
        task = next((t for t in catalog() if d.name.startswith(f"redteam-{t}-")), None)
        if task is None:
            print(f"security_matrix: {d}: not a job folder of this script (redteam-TASK-*)", file=sys.stderr)
            return 2
        recorded[task] = d
    if args.from_jobs is not None:
        tasks = list(recorded)
    for task in tasks:
        row, got = run_row(task, attacks, recorded.get(task), recorded=task in recorded)
        rows.append(row)
        cells += got
        for c in got:
            print(f"{c.task:24} {c.attack:20} {c.reward!s:8} {'pass' if c.passed else 'FAIL'}", flush=True)
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    note = f"Run on {when} on {platform.node()} ({platform.machine()}); tasks: {', '.join(tasks)}."
    if args.merge and args.json.is_file():
        old = read_json(args.json)
        run_now = set(tasks)
        rows = [r for r in old["rows"] if r["task"] not in run_now] + rows
        now = {(c.task, c.attack) for c in cells}
        kept = [Cell(**c) for c in old["cells"] if (c["task"], c["attack"]) not in now]
        cells = kept + cells
        host = f"{platform.node()} ({platform.machine()})"
        note = f"Merged runs; the last on {when} on {host} ran {', '.join(tasks)}."
    if args.note:
        note += "\n\n" + args.note
    atomic_write_text(args.out, render(rows, cells, note))
    atomic_write_json(args.json, {"generated": when, **to_json(rows, cells)})
    print(
        f"wrote {args.out} and {args.json}: {sum(not c.passed for c in cells)} failing of {len(cells)} cells"
    )
    return 0 if all(c.passed for c in cells) and all(r["oracle_ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
