"""Run the red-team matrix (attacks x catalog tasks) for real and write docs/security.md and its JSON.

    python scripts/security_matrix.py                  # one task per measure kind
    python scripts/security_matrix.py --all            # every CPU catalog task, cheapest kinds first
    python scripts/security_matrix.py --task bm25_search --attack leaked_answer
    python scripts/security_matrix.py --render         # run nothing: rewrite the page from the JSON

Each cell is a real ``looplab run`` with a scripted cheating agent (tests/redteam/). The
rows of the tasks run now replace theirs in an existing --json (others are kept, with
the date, load and commit each was measured at), unless --fresh. The JSON and the page
are rewritten after every task, so a stopped run keeps what it measured.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from redteam.attacks import ATTACKS, catalog, needs_gpu  # noqa: E402
from redteam.matrix import DEFAULT_TASKS, cpu_tasks, merge, render, run_row, task_info, to_json  # noqa: E402

from looplab.fsutil import atomic_write_json, atomic_write_text, read_json  # noqa: E402

# --all runs the cheap kinds first, so a run cut short has covered the most tasks.
KIND_ORDER = ("exact", "model-dev", "instructions", "paired")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--all", action="store_true", help="every CPU catalog task (default: one per kind)")
    ap.add_argument("--task", action="append", help="only these tasks")
    ap.add_argument("--attack", action="append", choices=ATTACKS, help="only these attacks")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "security.md")
    ap.add_argument("--json", type=Path, default=REPO / "docs" / "security.json")
    ap.add_argument("--fresh", action="store_true", help="drop the rows of an existing --json")
    ap.add_argument("--render", action="store_true", help="run nothing: rewrite --out from --json")
    ap.add_argument(
        "--from-jobs",
        type=Path,
        nargs="*",
        default=None,
        help="run nothing: read the trials recorded in these job folders (one per task, as left by a run)",
    )
    args = ap.parse_args(argv)
    if args.all:
        tasks = sorted(cpu_tasks(), key=lambda t: (KIND_ORDER.index(task_info(t)["kind"]), t))
    else:
        tasks = args.task or list(DEFAULT_TASKS.values())
    unknown = sorted(set(tasks) - set(catalog()))
    if unknown:
        print(f"security_matrix: unknown task(s) {', '.join(unknown)}", file=sys.stderr)
        return 2
    gpu = [t for t in tasks if needs_gpu(t)]
    if gpu:
        print(f"security_matrix: {', '.join(gpu)} need a GPU; not run here", file=sys.stderr)
        tasks = [t for t in tasks if t not in gpu]
    recorded: dict[str, Path] = {}
    for d in args.from_jobs or []:
        task = next((t for t in catalog() if d.name.startswith(f"redteam-{t}-")), None)
        if task is None:
            print(f"security_matrix: {d}: not a job folder of this script (redteam-TASK-*)", file=sys.stderr)
            return 2
        recorded[task] = d
    if args.from_jobs is not None:
        tasks = list(recorded)
    if args.render:
        tasks = []
    old = read_json(args.json) if args.json.is_file() and not args.fresh else {}
    rows, cells = merge(old, [], [])
    for task in tasks:
        t0 = time.monotonic()
        row, got = run_row(
            task,
            args.attack or ATTACKS,
            recorded.get(task),
            recorded=task in recorded,
            on_cell=lambda c: print(
                f"{c.task:24} {c.attack:22} {c.reward!s:8} {c.seconds:7.1f} s "
                f"{'pass' if c.passed else 'FAIL'}",
                flush=True,
            ),
        )
        if args.attack:  # a partial row: keep the cells of the attacks not run now
            keep = [c for c in cells if c.task == task and c.attack not in args.attack]
            got = keep + got
        rows, cells = merge(to_json(rows, cells), [row], got)
        _write(args, rows, cells)
        print(f"{task}: nop {row['nop']}, oracle {row['oracle']}, {time.monotonic() - t0:.0f} s", flush=True)
    _write(args, rows, cells)
    fails = [c for c in cells if not c.passed]
    print(f"wrote {args.out} and {args.json}: {len(fails)} failing of {len(cells)} cells")
    return 0 if not fails and all(r["oracle_ok"] for r in rows) else 1


def _write(args: argparse.Namespace, rows: list[dict], cells: list) -> None:
    atomic_write_text(args.out, render(rows, cells))
    atomic_write_json(
        args.json, {"generated": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), **to_json(rows, cells)}
    )


if __name__ == "__main__":
    sys.exit(main())
