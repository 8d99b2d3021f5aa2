"""Benchmark: the lab loop's own overhead per iteration, at a 200-file repository.

A lab in a git repository of 200 files (190 of them the pipeline, 2 KiB each) runs
N iterations with the ``command`` agent (it edits one file: a keep on even
experiments, a regression on odd ones, so both the keep path — commit,
compare-and-swap, working-tree sync — and the discard path are measured) and a
trivial command backend with one evaluation per decision.

Per iteration the loop's wall time is taken from one experiment's start to the
next (so the stopping check, state writes and the log append are in it); the time
inside the agent (``agent.run``) and inside the evaluations (each evaluation from
sandbox start to stop) are subtracted: what is left is the overhead — workspace
materialization, the agent sandbox's start and stop, capturing the candidate as a
git tree and commit, the pipeline copies for evaluation, the decision, the keep's
git work, atomic state and log writes. The evaluation sandboxes' own start-up
(evaluation time minus the backend's run time) is reported beside it, and the
log append is timed separately at 1000 records. The CPU is shared with other
work on this machine, so medians and p90s are reported, not means.

Run: .venv/bin/python bench/lab_overhead.py [--iterations 40] [--files 200]
Writes bench/results/lab_overhead.json and .md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from looplab.fsutil import atomic_write_json, atomic_write_text  # noqa: E402
from looplab.hostinfo import host_info, machine_fingerprint  # noqa: E402
from looplab.lab.config import load_lab  # noqa: E402
from looplab.lab.log import Record, ResultsLog  # noqa: E402
from looplab.lab.loop import LabLoop, RunOptions  # noqa: E402

GIT_ENV = {
    "GIT_AUTHOR_NAME": "b",
    "GIT_AUTHOR_EMAIL": "b@b",
    "GIT_COMMITTER_NAME": "b",
    "GIT_COMMITTER_EMAIL": "b@b",
}
AGENT = """#!/bin/bash
f="$LOOPLAB_PIPELINE_DIR/pipeline/score.txt"
s=$(cat "$f")
if [ $((LOOPLAB_EXPERIMENT % 2)) = 0 ]; then echo $((s - 1)) > "$f"; else echo $((s + 5)) > "$f"; fi
echo "edit $LOOPLAB_EXPERIMENT"
"""
EVAL = 'echo "{\\"score\\": $(cat "$LOOPLAB_PIPELINE_DIR/pipeline/score.txt")}"\n'
OUTSIDE = ["README.md", "agent.sh", "eval.sh", "AGENT.md", ".gitignore", "lab.toml"]


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, env={**os.environ, **GIT_ENV}
    )


def make_repo(root: Path, n_files: int) -> Path:
    root.mkdir(parents=True)
    git(root, "init", "-q")
    body = ("x = 1  # filler line of a pipeline source file\n" * 45)[:2048]
    for i in range(n_files - len(OUTSIDE) - 1):
        p = root / "pipeline" / f"mod{i // 20:02d}" / f"f{i:03d}.py"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(body)
    (root / "pipeline" / "score.txt").write_text("1000\n")
    (root / "README.md").write_text("bench repo\n")
    (root / "agent.sh").write_text(AGENT)
    (root / "AGENT.md").write_text("edit the pipeline\n")
    (root / ".gitignore").write_text("/.looplab/\n")
    (root / "eval.sh").write_text(EVAL)
    (root / "lab.toml").write_text(
        '[lab]\nname = "bench"\npipeline = ["pipeline"]\n'
        '[backend]\ncommand = "bash eval.sh"\nfiles = ["eval.sh"]\ntimeout_sec = 60\n'
        '[agent]\nname = "command"\nkwargs = { script = "agent.sh" }\n'
        '[stop]\nplateau = "off"\n[noise]\nrepeats = 1\n'
    )
    git(root, "add", "-A")
    git(root, "commit", "-qm", "bench repo")
    n = int(
        subprocess.run(["git", "-C", str(root), "ls-files"], capture_output=True, text=True).stdout.count(
            "\n"
        )
    )
    assert n == n_files, f"made {n} files, wanted {n_files}"
    return root


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def run_bench(iterations: int, n_files: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="lab-overhead-") as tmp:
        repo = make_repo(Path(tmp) / "repo", n_files)
        marks: list[tuple[str, int, float]] = []

        def on_event(kind: str, info: dict) -> None:
            if kind in ("experiment", "logged", "stop"):
                marks.append((kind, int(info.get("experiment", -1)), time.monotonic()))

        loop = LabLoop(load_lab(repo), RunOptions(limits={"max_iterations": iterations}), on_event)
        summary = loop.run()
        recs = {r.experiment: r for r in ResultsLog(repo / ".looplab").records()}
    starts = {e: t for k, e, t in marks if k == "experiment"}
    stop_t = next(t for k, _e, t in marks if k == "stop")
    rows = []
    for e in sorted(starts):
        r = recs[e]
        end = starts.get(e + 1, stop_t)
        wall = end - starts[e]
        agent_s = r.timing.get("agent_s", 0.0)
        eval_s = r.timing.get("eval_s", 0.0)
        rows.append(
            {
                "experiment": e,
                "status": r.status,
                "wall_s": wall,
                "agent_s": agent_s,
                "eval_s": eval_s,
                "eval_sandbox_s": eval_s - r.timing.get("eval_exec_s", 0.0),
                "overhead_s": wall - agent_s - eval_s,
                "agent_setup_s": r.timing.get("agent_setup_s", 0.0),
                "capture_s": r.timing.get("capture_s", 0.0),
                "git_keep_s": r.timing.get("git_s", 0.0),
                "agent_teardown_s": r.timing.get("agent_teardown_s", 0.0),
                "copies_s": r.timing.get("copies_s", 0.0),
            }
        )
    return {"summary": {"experiments": summary.experiments, "keeps": summary.keeps}, "rows": rows}


def log_append_at(n: int) -> float:
    with tempfile.TemporaryDirectory(prefix="lab-log-") as tmp:
        log = ResultsLog(Path(tmp))
        base = dict(
            run=1,
            status="discard",
            kept=False,
            started_at="2026-01-01T00:00:00+00:00",
            finished_at="2026-01-01T00:00:01+00:00",
            score=1.0,
            commit="0" * 40,
            notes="a note " * 10,
            metrics={"m": 1.0, "k": 2.0},
        )
        for i in range(n):
            log._records = (log._records or []) + [Record(experiment=i, **base)]
        times = []
        for i in range(n, n + 5):
            t0 = time.perf_counter()
            log.append(Record(experiment=i, **base))
            times.append(time.perf_counter() - t0)
        return statistics.median(times)


def stats_of(rows: list[dict], key: str) -> dict:
    v = [r[key] for r in rows]
    return {"median_ms": round(statistics.median(v) * 1000, 1), "p90_ms": round(pct(v, 0.9) * 1000, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=40)
    ap.add_argument("--files", type=int, default=200)
    args = ap.parse_args()
    load0 = os.getloadavg()
    res = run_bench(args.iterations, args.files)
    rows = res["rows"]
    keys = [
        "wall_s",
        "agent_s",
        "eval_s",
        "overhead_s",
        "agent_setup_s",
        "agent_teardown_s",
        "capture_s",
        "copies_s",
        "eval_sandbox_s",
    ]
    out = {
        "bench": "lab_overhead",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": host_info(),
        "machine_fingerprint": machine_fingerprint(),
        "loadavg_before": load0,
        "loadavg_after": os.getloadavg(),
        "repo_files": args.files,
        "iterations": len(rows),
        "keeps": res["summary"]["keeps"],
        "per_iteration": {k: stats_of(rows, k) for k in keys},
        "overhead_by_status": {
            st: stats_of([r for r in rows if r["status"] == st], "overhead_s")
            for st in sorted({r["status"] for r in rows})
        },
        "keep_git_s": stats_of([r for r in rows if r["status"] == "keep"], "git_keep_s"),
        "log_append_ms_at_1000_records": round(log_append_at(1000) * 1000, 1),
        "rows": rows,
    }
    results = REPO / "bench" / "results"
    atomic_write_json(results / "lab_overhead.json", out)
    p = out["per_iteration"]
    lines = [
        "# Lab loop overhead per iteration",
        "",
        f"Host: {out['host'].get('cpu_model', '?')}, {os.cpu_count()} cores; load average "
        f"{load0[0]:.2f} before, {out['loadavg_after'][0]:.2f} after (the CPU is shared).",
        f"Repository: {args.files} files (the pipeline: {args.files - len(OUTSIDE)}); {len(rows)} iterations, "
        f"{out['keeps']} keeps; command agent editing one file; command backend, one evaluation per decision.",
        "",
        "Overhead = iteration wall time − time in the agent − time in evaluations (each from sandbox start to stop).",
        "",
        "| per iteration | median (ms) | p90 (ms) |",
        "|---|---|---|",
    ]
    names = {
        "overhead_s": "**loop overhead**",
        "wall_s": "whole iteration",
        "agent_s": "agent (excluded)",
        "eval_s": "evaluations, 2 per iteration (excluded)",
        "agent_setup_s": "  of which: workspace + agent sandbox start",
        "capture_s": "  of which: candidate tree + commit",
        "agent_teardown_s": "  of which: agent sandbox stop",
        "copies_s": "  of which: pipeline copies for evaluation",
        "eval_sandbox_s": "evaluation sandboxes' start/stop (inside the excluded evaluations)",
    }
    for k in [
        "overhead_s",
        "agent_setup_s",
        "agent_teardown_s",
        "capture_s",
        "copies_s",
        "wall_s",
        "agent_s",
        "eval_s",
        "eval_sandbox_s",
    ]:
        lines.append(f"| {names[k]} | {p[k]['median_ms']} | {p[k]['p90_ms']} |")
    lines += ["", "| overhead by outcome | median (ms) | p90 (ms) |", "|---|---|---|"]
    for st, v in out["overhead_by_status"].items():
        lines.append(f"| {st} | {v['median_ms']} | {v['p90_ms']} |")
    lines += [
        "",
        f"A keep's git work (commit-tree, update-ref, working-tree sync): median {out['keep_git_s']['median_ms']} ms.",
        f"Appending one record when the log holds 1000 (both files rewritten atomically): "
        f"{out['log_append_ms_at_1000_records']} ms.",
        "",
        "Run: `.venv/bin/python bench/lab_overhead.py`",
        "",
    ]
    atomic_write_text(results / "lab_overhead.md", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
