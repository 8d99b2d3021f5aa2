"""Cross-machine figure: do timed rewards mean the same on every machine?

``run``: every timed catalog task (``[looplab] measure`` ``paired`` or ``instructions``, GPU
tasks only where this machine has the GPUs) is verified ``k`` times with the ``oracle`` and
``k`` times with ``nop``, one trial at a time, through ordinary looplab jobs. Per task and
agent it records every reward, their median, min and max, the reward intervals the verifier
gave (same-run reference: from the candidate's and the reference's intervals), the ``s_ref``
values and their sources, and the verification seconds; plus this machine's fingerprint
(``looplab.measure.fingerprint``), its description, the load average before and after.
Written to ``bench/results/cross_machine-<fingerprint>.json`` (and ``.md``); commit the file
of the machine you measured on, and add another machine's later.

``compare A.json B.json``: per task present in both, the difference of the median oracle
rewards (and of the nop medians), the noise measured on the two machines (each side's noise:
the larger of half its rewards' range and the median half-width of its reward intervals;
combined as the root of the sum of squares), and whether the difference lies within it;
plus the issue's target (oracle medians within 0.05, nop 0 on both). Exit 1 when a task
misses the target.

Timing figures depend on what else runs on the machine: measure on a quiet one (the load
average is recorded).

``collect --jobs-dir D [--jobs-dir D2]``: the same file from the job folders of earlier runs
(one stopped part-way, or the tasks split over several processes).

Run: .venv/bin/python bench/cross_machine.py run [--k 3] [--tasks prime_count,dedupe_lines]
     .venv/bin/python bench/cross_machine.py collect --jobs-dir JOBS [--jobs-dir JOBS2] --k 3
     .venv/bin/python bench/cross_machine.py compare bench/results/cross_machine-A.json B.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from looplab.fsutil import atomic_write_json, atomic_write_text, read_json  # noqa: E402
from looplab.hostinfo import host_info  # noqa: E402
from looplab.job.gpus import gpu_shortfall  # noqa: E402
from looplab.job.runner import JobSpec, existing_trials, run_job  # noqa: E402
from looplab.measure.fingerprint import machine_fingerprint  # noqa: E402
from looplab.tasks.catalog import catalog_task_paths, resolve_task_path  # noqa: E402
from looplab.tasks.loader import Task, load_task  # noqa: E402

SCHEMA = 1
AGENTS = ("oracle", "nop")
TARGET = 0.05  # the issue's bound on an oracle's reward across machines


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def timed_tasks(names: list[str] | None) -> list[Task]:
    """The named tasks (catalog names or folders), else every timed catalog task this machine can run."""
    paths = [resolve_task_path(n) for n in names] if names else catalog_task_paths()
    tasks = [load_task(p) for p in paths]
    timed = [t for t in tasks if t.config.looplab.measure in ("paired", "instructions")]
    return [t for t in timed if names or not gpu_shortfall(t)]


def _agent_summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    rewards = [float(r["reward"]) for r in records if r.get("reward") is not None]
    measurements = [(r.get("verifier_result") or {}).get("measurement") or {} for r in records]
    intervals = [m["reward_ci"] for m in measurements if m.get("reward_ci")]
    half = [(hi - lo) / 2 for lo, hi in intervals]
    spread = (max(rewards) - min(rewards)) / 2 if len(rewards) > 1 else 0.0
    return {
        "trials": len(records),
        "statuses": [r.get("status") for r in records],
        "rewards": rewards,
        "median": statistics.median(rewards) if rewards else None,
        "min": min(rewards) if rewards else None,
        "max": max(rewards) if rewards else None,
        "reward_ci": intervals,
        "noise": max(spread, statistics.median(half) if half else 0.0),
        "s_ref": [m.get("s_ref") for m in measurements],
        "s_ref_source": sorted({str(m.get("s_ref_source")) for m in measurements}),
        "verify_s": [((r.get("timing") or {}).get("verifier") or {}).get("duration_s") for r in records],
    }


def _header(args: argparse.Namespace) -> dict[str, Any]:
    fp = machine_fingerprint()
    return {
        "schema": SCHEMA,
        "fingerprint": fp.key,
        "machine": fp.describe(),
        "host": host_info(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "k": args.k,
        "loadavg_before": os.getloadavg()[0],
        "note": args.note,
        "tasks": {},
    }


def _task_row(job_dir: Path) -> dict[str, Any]:
    records = [t.record() for t in existing_trials(job_dir)]
    return {a: _agent_summary([r for r in records if r.get("agent") == a]) for a in AGENTS}


def _write(args: argparse.Namespace, data: dict[str, Any]) -> Path:
    data["loadavg_after"] = os.getloadavg()[0]
    out = Path(args.out) / f"cross_machine-{data['fingerprint']}.json"
    atomic_write_json(out, data)
    atomic_write_text(out.with_suffix(".md"), run_markdown(data))
    return out


def run(args: argparse.Namespace) -> Path:
    tasks = timed_tasks([n for n in args.tasks.split(",") if n] if args.tasks else None)
    if not tasks:
        raise SystemExit("no timed task to verify")
    jobs = Path(args.jobs_dir or tempfile.mkdtemp(prefix="looplab-cross-machine-"))
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    data = _header(args)
    t0 = time.monotonic()
    for task in tasks:
        say(f"{task.name}: oracle and nop, {args.k} time(s) each")
        spec = JobSpec(
            job_name=f"cross-machine-{stamp}-{task.name}",
            jobs_dir=jobs,
            task_paths=[str(task.path)],
            agents=list(AGENTS),
            attempts=args.k,
            concurrency=1,
        )
        run_job(spec, [task])
        data["tasks"][task.name] = _task_row(spec.job_dir)
        data["wall_s"] = round(time.monotonic() - t0, 1)
        out = _write(args, data)  # after every task: an interrupted run keeps what it measured
    say(f"written: {out}")
    return out


def collect(args: argparse.Namespace) -> Path:
    """The result file from the job folders of earlier ``run``s (one stopped part-way, or runs split
    over several processes): per timed task, its latest job whose trials all finished."""
    data = _header(args)
    data["loadavg_before"] = None  # the runs' own loads are not known here
    data["collected_from"] = [str(d) for d in args.jobs_dir]
    latest: dict[str, Path] = {}
    for root in map(Path, args.jobs_dir):
        for job in sorted(root.glob("cross-machine-*"), key=lambda p: p.stat().st_mtime):
            trials = existing_trials(job)
            if len(trials) == 2 * args.k and all(t.status == "completed" for t in trials):
                latest[trials[0].task_name] = job
    if not latest:
        raise SystemExit(f"no finished cross-machine job in {', '.join(args.jobs_dir)}")
    for task in sorted(latest):
        data["tasks"][task] = _task_row(latest[task])
    out = _write(args, data)
    missing = sorted({t.name for t in timed_tasks(None)} - set(latest))
    say(f"written: {out} ({len(latest)} tasks; catalog tasks missing: {', '.join(missing) or 'none'})")
    return out


def _f(x: float | None, nd: int = 3) -> str:
    return "—" if x is None else f"{x:.{nd}f}"


def run_markdown(data: dict[str, Any]) -> str:
    lines = [
        f"# Oracle and nop rewards on {data['machine']} (fingerprint {data['fingerprint']})",
        "",
        f"`bench/cross_machine.py {'collect' if data.get('collected_from') else 'run'}`, {data['date']}, "
        f"k = {data['k']}; load average "
        f"{_f(data['loadavg_before'], 2)} before, {_f(data['loadavg_after'], 2)} after. {data.get('note') or ''}",
        "",
        "| task | oracle median [min, max] | oracle noise | nop median | s_ref source | verify (s) |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in data["tasks"].items():
        o, n = row["oracle"], row["nop"]
        secs = [s for s in o["verify_s"] if s is not None]
        lines.append(
            f"| {name} | {_f(o['median'])} [{_f(o['min'])}, {_f(o['max'])}] | {_f(o['noise'])} | "
            f"{_f(n['median'])} | {', '.join(o['s_ref_source'])} | {_f(max(secs) if secs else None, 1)} |"
        )
    return "\n".join(lines) + "\n"


def compare_files(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Per task in both files: the oracle and nop median differences and whether they are noise."""
    rows = []
    for name in sorted(set(a["tasks"]) & set(b["tasks"])):
        ta, tb = a["tasks"][name], b["tasks"][name]
        row: dict[str, Any] = {"task": name}
        for agent in AGENTS:
            ma, mb = ta[agent]["median"], tb[agent]["median"]
            noise = math.hypot(ta[agent]["noise"], tb[agent]["noise"])
            diff = None if ma is None or mb is None else mb - ma
            row[agent] = {
                "a": ma,
                "b": mb,
                "diff": diff,
                "noise": noise,
                "within_noise": diff is not None and abs(diff) <= noise,
            }
        o, n = row["oracle"], row["nop"]
        row["meets_target"] = (
            o["diff"] is not None and abs(o["diff"]) <= TARGET and n["a"] == 0.0 and n["b"] == 0.0
        )
        rows.append(row)
    return rows


def compare_markdown(a: dict[str, Any], b: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    lines = [
        f"# Rewards across machines: A = {a['machine']} ({a['fingerprint']}), B = {b['machine']} ({b['fingerprint']})",
        "",
        f"A: {a['date']}, k = {a['k']}; B: {b['date']}, k = {b['k']}. Target: oracle medians within "
        f"{TARGET}, nop 0 on both.",
        "",
        "| task | oracle A | oracle B | B − A | noise | within noise | nop A | nop B | meets target |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        o, n = r["oracle"], r["nop"]
        lines.append(
            f"| {r['task']} | {_f(o['a'])} | {_f(o['b'])} | {_f(o['diff'])} | {_f(o['noise'])} | "
            f"{'yes' if o['within_noise'] else 'no'} | {_f(n['a'])} | {_f(n['b'])} | "
            f"{'yes' if r['meets_target'] else 'no'} |"
        )
    only = sorted(set(a["tasks"]) ^ set(b["tasks"]))
    if only:
        lines += ["", f"In one file only: {', '.join(only)}."]
    return "\n".join(lines) + "\n"


def compare(args: argparse.Namespace) -> int:
    a, b = read_json(Path(args.a)), read_json(Path(args.b))
    for path, d in ((args.a, a), (args.b, b)):
        if not isinstance(d, dict) or d.get("schema") != SCHEMA or "tasks" not in d:
            raise SystemExit(f"{path}: not a cross_machine.py result (schema {SCHEMA})")
    rows = compare_files(a, b)
    md = compare_markdown(a, b, rows)
    print(md, end="")
    if args.out:
        atomic_write_json(Path(args.out), {"a": args.a, "b": args.b, "rows": rows})
        atomic_write_text(Path(args.out).with_suffix(".md"), md)
    return 0 if rows and all(r["meets_target"] for r in rows) else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="verify every timed task's oracle and nop k times on this machine")
    r.add_argument("--k", type=int, default=3)
    r.add_argument("--tasks", default="", help="comma-separated task names or folders (default: all timed)")
    r.add_argument("--out", default=str(REPO / "bench" / "results"))
    r.add_argument("--jobs-dir", default="")
    r.add_argument("--note", default="", help="a line for the report (the machine's state, say)")
    g = sub.add_parser("collect", help="write the result file from the job folders of earlier runs")
    g.add_argument("--jobs-dir", action="append", required=True, help="a jobs folder of a run (repeatable)")
    g.add_argument("--k", type=int, default=3)
    g.add_argument("--out", default=str(REPO / "bench" / "results"))
    g.add_argument("--note", default="")
    c = sub.add_parser("compare", help="compare two machines' result files")
    c.add_argument("a")
    c.add_argument("b")
    c.add_argument("--out", default="", help="also write the comparison as JSON (and .md)")
    args = ap.parse_args()
    if args.cmd == "run":
        if args.k < 1:
            raise SystemExit("--k must be at least 1")
        run(args)
        return 0
    if args.cmd == "collect":
        collect(args)
        return 0
    return compare(args)


if __name__ == "__main__":
    raise SystemExit(main())
