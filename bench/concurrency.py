"""Benchmark: do concurrent trials finish sooner without skewing each other's timed rewards?

Two CPU-bound trials of one task (default: the catalog task ``prime_count`` with
the oracle agent, whose verifier times baseline and candidate side by side) run as
one job with ``-n 2`` (each trial pinned to its own core by the allocator) and as
one job with ``-n 1`` (one after the other). Each round runs both, in alternating
order to cancel drift, and records the job's wall time and each trial's reward.

Reported: the concurrent/serial wall-time ratio per round and its median (target
≤ 0.55 on a 2-core machine), and for each attempt the difference between its
reward when it ran next to the other trial and when it ran alone in the same
round (target: mean |difference| ≤ 0.02, max no worse than the max alone-vs-alone
noise). Where the time goes, per trial: agent phase, verifier, timed pairs and
why they stopped, measurement-lock waits; per job: time outside any trial's
phases (set-up, scheduling) and, concurrent, the gap between the two trials' ends
(one core idle while the other verifier still takes pairs). The machine's load average is recorded
before and after: other processes on the box share its cores, which no allocator
inside one job can prevent.

Run: .venv/bin/python bench/concurrency.py [--task tasks/prime_count] [--agent oracle] [--rounds 3]
Writes bench/results/concurrency.json and .md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from looplab.environment.build import build_environment  # noqa: E402
from looplab.fsutil import atomic_write_json, atomic_write_text, read_json  # noqa: E402
from looplab.hostinfo import host_info  # noqa: E402
from looplab.job.runner import JobSpec, run_job  # noqa: E402
from looplab.tasks.loader import load_task  # noqa: E402

RATIO_TARGET = 0.55
REWARD_TARGET = 0.02  # mean |concurrent - alone|; the max must not exceed the max alone-vs-alone noise


def phases(trial: dict) -> dict:
    """Where one trial's time went: agent phase, verifier, its timed pairs and why they stopped, lock waits."""
    timing = trial.get("timing") or {}
    vr = trial.get("verifier_result") or {}
    paired = (vr.get("measurement") or {}).get("paired") or {}
    rewards = vr.get("rewards") or {}
    return {
        "agent_s": (timing.get("agent_execution") or {}).get("duration_s"),
        "verifier_s": (timing.get("verifier") or {}).get("duration_s"),
        "pairs": paired.get("pairs"),
        "stop_reason": paired.get("stop_reason"),
        "lock_waited_s": rewards.get("lock_waited_s"),
    }


def run_once(task_path: Path, agent: str, concurrency: int, jobs_dir: Path, name: str) -> dict:
    task = load_task(task_path)
    spec = JobSpec(
        job_name=name,
        jobs_dir=jobs_dir,
        task_paths=[str(task_path)],
        agents=[agent],
        attempts=2,
        concurrency=concurrency,
    )
    cores: dict[int, list[int]] = {}

    def on_event(kind: str, info: dict) -> None:
        if kind == "start":
            cores[int(info["slot"].rsplit("/", 1)[1])] = info["cores"]

    t0 = time.monotonic()
    summary = run_job(spec, [task], on_event=on_event)
    wall = time.monotonic() - t0
    by_attempt = {t["attempt"]: t for t in summary["trials"]}
    if any(t["status"] != "completed" for t in by_attempt.values()):
        raise SystemExit(f"{name}: a trial did not complete: {summary['trials']}")
    records = {
        r["attempt"]: r
        for r in (
            read_json(d / "result.json") for d in spec.job_dir.iterdir() if (d / "result.json").is_file()
        )
    }
    ph = [phases(records[k]) for k in sorted(by_attempt)]
    spans = [(p["agent_s"] or 0.0) + (p["verifier_s"] or 0.0) for p in ph]
    busy = max(spans) if concurrency > 1 else sum(spans)
    return {
        "phases": ph,
        # job wall time not spent in any trial's agent or verifier phase: set-up, scheduling, summary
        "outside_trials_s": round(wall - busy, 3),
        # concurrent: how long one core sat idle while the other trial's verifier was still going
        "end_gap_s": round(max(spans) - min(spans), 3) if concurrency > 1 else None,
        "concurrency": concurrency,
        "wall_s": round(wall, 3),
        "rewards": [round(by_attempt[k]["reward"], 4) for k in sorted(by_attempt)],
        "cores": [cores.get(k) for k in sorted(by_attempt)],
    }


def bench_task(task_path: Path, agent: str, n_rounds: int) -> dict:
    build_environment(load_task(task_path))  # build (or find cached) before anything is timed
    load_before = os.getloadavg()
    rounds = []
    with tempfile.TemporaryDirectory(prefix="looplab-bench-conc-") as tmp:
        for i in range(n_rounds):
            order = (1, 2) if i % 2 == 0 else (2, 1)
            res = {n: run_once(task_path, agent, n, Path(tmp), f"r{i}-n{n}") for n in order}
            serial, conc = res[1], res[2]
            diffs = [round(c - s, 4) for c, s in zip(conc["rewards"], serial["rewards"], strict=True)]
            rounds.append(
                {
                    "round": i,
                    "order": list(order),
                    "serial": serial,
                    "concurrent": conc,
                    "ratio": round(conc["wall_s"] / serial["wall_s"], 3),
                    "reward_diffs": diffs,
                    "alone_noise": round(abs(serial["rewards"][0] - serial["rewards"][1]), 4),
                }
            )
            print(
                f"{task_path.name} round {i}: serial {serial['wall_s']:.1f} s {serial['rewards']}, "
                f"concurrent {conc['wall_s']:.1f} s {conc['rewards']} cores {conc['cores']}, "
                f"ratio {rounds[-1]['ratio']:.3f}, reward diffs {diffs}",
                flush=True,
            )
    load_after = os.getloadavg()
    ratios = [r["ratio"] for r in rounds]
    diffs = [abs(d) for r in rounds for d in r["reward_diffs"]]
    noise = [r["alone_noise"] for r in rounds]
    alone = [x for r in rounds for x in r["serial"]["rewards"]]
    together = [x for r in rounds for x in r["concurrent"]["rewards"]]
    summary = {
        "median_ratio": statistics.median(ratios),
        "max_abs_reward_diff": max(diffs),
        "mean_abs_reward_diff": round(statistics.fmean(diffs), 4),
        "mean_alone_noise": round(statistics.fmean(noise), 4),
        "max_alone_noise": max(noise),
        "mean_reward_alone": round(statistics.fmean(alone), 4),
        "mean_reward_concurrent": round(statistics.fmean(together), 4),
        "ratio_target": RATIO_TARGET,
        "reward_target": REWARD_TARGET,
        "ratio_met": statistics.median(ratios) <= RATIO_TARGET,
        "reward_met": statistics.fmean(diffs) <= REWARD_TARGET and max(diffs) <= max(noise),
        "median_end_gap_s": statistics.median(r["concurrent"]["end_gap_s"] for r in rounds),
        "median_outside_trials_s": {
            "serial": statistics.median(r["serial"]["outside_trials_s"] for r in rounds),
            "concurrent": statistics.median(r["concurrent"]["outside_trials_s"] for r in rounds),
        },
    }
    return {
        "task": str(task_path.relative_to(REPO) if task_path.is_relative_to(REPO) else task_path),
        "measure": load_task(task_path).config.looplab.measure,
        "agent": agent,
        "rounds": rounds,
        "summary": summary,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--task", type=Path, action="append", help="task folder (repeatable; default tasks/prime_count)"
    )
    ap.add_argument("--agent", default="oracle")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    ap.add_argument("--note", default="", help="a line for the report (for example the machine's state)")
    ap.add_argument(
        "--host-claims",
        action="store_true",
        help="keep host-wide core claims (default off: other processes' trials would queue the bench's)",
    )
    args = ap.parse_args()
    if not args.host_claims:
        os.environ["LOOPLAB_CORE_CLAIMS"] = "0"
    if len(os.sched_getaffinity(0)) < 2:
        raise SystemExit("needs at least two cores")
    tasks = [t.resolve() for t in (args.task or [REPO / "tasks" / "prime_count"])]
    result = {
        "benchmark": "concurrency",
        "host_core_claims": args.host_claims,
        "runs": [bench_task(t, args.agent, args.rounds) for t in tasks],
        "host": host_info(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "note": args.note,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out / "concurrency.json", result)
    atomic_write_text(args.out / "concurrency.md", markdown(result))
    print(markdown(result))


def markdown(res: dict) -> str:
    ok = {True: "met", False: "NOT met"}
    h = res["host"]
    lines = [
        "# Concurrent trials: wall time and reward fidelity",
        "",
        f"Two trials (attempts 0 and 1) of each task as one job with `-n 1` (serial) and with `-n 2` (concurrent, "
        f"one core each), rounds in alternating order. For a `paired` task the verifier takes pairs until its "
        f"interval is tight enough, so its duration (and the wall-time ratio) depends on the noise it meets. Host: {h['cpu_model']}, {h['cpu_count']} cores. Other work on "
        f"this shared machine runs on the same cores (load averages below); host-wide core claims "
        f"{'on' if res['host_core_claims'] else 'off'}. *Alone noise*: |reward of attempt 0 − attempt 1| when both "
        "ran alone in the same round — the same program measured twice, i.e. the measurement's own noise floor.",
        "",
    ]
    for r in res["runs"]:
        s = r["summary"]
        lines += [
            f"## `{r['task']}` (measure: {r['measure']}), agent `{r['agent']}`",
            "",
            f"Load average before {r['load_average_before'][0]}, after {r['load_average_after'][0]}.",
            "",
            "| round | serial s | concurrent s | ratio | rewards alone | rewards concurrent | cores (concurrent) | concurrent − alone | alone noise | end gap s | outside trials s (serial/conc) | pairs (serial/conc) | stop (conc) | lock wait s (conc) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for x in r["rounds"]:
            se, co = x["serial"], x["concurrent"]
            lines.append(
                f"| {x['round']} | {se['wall_s']:.1f} | {co['wall_s']:.1f} | {x['ratio']:.3f} | "
                f"{se['rewards']} | {co['rewards']} | {co['cores']} | "
                f"{x['reward_diffs']} | {x['alone_noise']} | {co['end_gap_s']} | "
                f"{se['outside_trials_s']}/{co['outside_trials_s']} | "
                f"{[p['pairs'] for p in se['phases']]}/{[p['pairs'] for p in co['phases']]} | "
                f"{[p['stop_reason'] for p in co['phases']]} | {[p['lock_waited_s'] for p in co['phases']]} |"
            )
        lines += [
            "",
            f"- Median concurrent/serial wall-time ratio: **{s['median_ratio']:.3f}** (target ≤ {s['ratio_target']}: {ok[s['ratio_met']]}).",
            f"- Reward next to another trial minus reward alone (same attempt, same round): max |diff| **{s['max_abs_reward_diff']:.4f}**, "
            f"mean |diff| {s['mean_abs_reward_diff']:.4f} (target: mean ≤ {s['reward_target']} and max ≤ max alone noise: {ok[s['reward_met']]}).",
            f"- Median gap between the concurrent trials' ends (one core idle): {s['median_end_gap_s']:.1f} s; "
            f"median job time outside any trial's phases: serial {s['median_outside_trials_s']['serial']:.1f} s, "
            f"concurrent {s['median_outside_trials_s']['concurrent']:.1f} s.",
            f"- Alone noise (same program, both alone): mean {s['mean_alone_noise']:.4f}, max {s['max_alone_noise']:.4f}.",
            f"- Mean reward alone {s['mean_reward_alone']:.4f}, concurrent {s['mean_reward_concurrent']:.4f}.",
            "",
        ]
    lines += [f"Measured {res['measured_at']} with `bench/concurrency.py`.", ""]
    if res.get("note"):
        lines += [f"Note: {res['note']}", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
