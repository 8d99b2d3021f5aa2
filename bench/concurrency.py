"""Benchmark: do concurrent trials finish sooner without skewing each other's timed rewards?

Two CPU-bound trials of one task (default: the catalog task ``prime_count`` with
the oracle agent, whose verifier times baseline and candidate side by side) run as
one job with ``-n 2`` (each trial pinned to its own core by the allocator) and as
one job with ``-n 1`` (one after the other). Each round runs the serial job, the
concurrent job and the serial job again, and records each job's wall time and
each trial's reward.
Reported: the concurrent/serial wall-time ratio per round and its median (target
≤ 0.55 on a 2-core machine), and for each attempt the difference between its
reward next to the other trial and alone, against both serial jobs of the round
(target: mean |difference| ≤ 0.02, and no wider than the alone-vs-alone noise,
the same attempt in the two serial jobs and the two attempts within each: a
one-sided permutation test of the mean |differences|, with the max against the
max beside it). Where the time goes, per trial: agent phase, verifier, timed pairs and
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
import random
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
P_FLOOR = 0.05  # concurrent-vs-alone differences count as wider than alone-vs-alone ones below this p


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


def permutation_p(worse: list[float], base: list[float], n: int = 20000, seed: int = 1) -> float:
    """One-sided permutation test: how often does a random split of the pooled samples give a mean gap
    (first group minus second) at least as large as the observed one? Small = ``worse`` really is worse."""
    rng = random.Random(seed)
    observed = statistics.fmean(worse) - statistics.fmean(base)
    pooled, k = worse + base, len(worse)
    hits = 0
    for _ in range(n):
        rng.shuffle(pooled)
        hits += statistics.fmean(pooled[:k]) - statistics.fmean(pooled[k:]) >= observed - 1e-12
    return hits / n


def bench_task(task_path: Path, agent: str, n_rounds: int) -> dict:
    build_environment(load_task(task_path))  # build (or find cached) before anything is timed
    load_before = os.getloadavg()
    rounds = []
    with tempfile.TemporaryDirectory(prefix="looplab-bench-conc-") as tmp:
        for i in range(n_rounds):
            # alone, together, alone again: each concurrent reward is compared with both alone jobs of its
            # round, and the two alone jobs with each other, so both kinds of difference span jobs alike
            before = run_once(task_path, agent, 1, Path(tmp), f"r{i}-n1-a")
            conc = run_once(task_path, agent, 2, Path(tmp), f"r{i}-n2")
            after = run_once(task_path, agent, 1, Path(tmp), f"r{i}-n1-b")
            diffs = [
                round(c - s, 4)
                for alone in (before, after)
                for c, s in zip(conc["rewards"], alone["rewards"], strict=True)
            ]
            noise = [round(b - a, 4) for a, b in zip(before["rewards"], after["rewards"], strict=True)] + [
                round(job["rewards"][1] - job["rewards"][0], 4) for job in (before, after)
            ]
            rounds.append(
                {
                    "round": i,
                    "serial": before,
                    "serial_again": after,
                    "concurrent": conc,
                    "ratio": round(conc["wall_s"] / statistics.fmean([before["wall_s"], after["wall_s"]]), 3),
                    "reward_diffs": diffs,
                    "alone_noise": noise,
                }
            )
            print(
                f"{task_path.name} round {i}: serial {before['wall_s']:.1f}/{after['wall_s']:.1f} s "
                f"{before['rewards']}/{after['rewards']}, concurrent {conc['wall_s']:.1f} s {conc['rewards']} "
                f"cores {conc['cores']}, ratio {rounds[-1]['ratio']:.3f}, reward diffs {diffs}",
                flush=True,
            )
    load_after = os.getloadavg()
    ratios = [r["ratio"] for r in rounds]
    diffs = [abs(d) for r in rounds for d in r["reward_diffs"]]
    noise = [abs(d) for r in rounds for d in r["alone_noise"]]
    alone = [x for r in rounds for job in ("serial", "serial_again") for x in r[job]["rewards"]]
    together = [x for r in rounds for x in r["concurrent"]["rewards"]]
    p = permutation_p(diffs, noise)
    mean_ok = statistics.fmean(diffs) <= REWARD_TARGET
    summary = {
        "median_ratio": statistics.median(ratios),
        "max_abs_reward_diff": max(diffs),
        "mean_abs_reward_diff": round(statistics.fmean(diffs), 4),
        "mean_alone_noise": round(statistics.fmean(noise), 4),
        "max_alone_noise": max(noise),
        "wider_than_alone_p": round(p, 4),
        "mean_reward_alone": round(statistics.fmean(alone), 4),
        "mean_reward_concurrent": round(statistics.fmean(together), 4),
        "ratio_target": RATIO_TARGET,
        "reward_target": REWARD_TARGET,
        "ratio_met": statistics.median(ratios) <= RATIO_TARGET,
        "reward_max_met": mean_ok and max(diffs) <= max(noise),
        "reward_met": mean_ok and p >= P_FLOOR,
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
        "Two trials (attempts 0 and 1) of each task as one job with `-n 2` (concurrent, one core each), and "
        "the same two as one job with `-n 1` (serial: alone) just before it and again just after it, every round. "
        "For a `paired` task the verifier takes pairs until its interval is tight enough, so its duration (and "
        f"the wall-time ratio) depends on the noise it meets. Host: {h['cpu_model']}, {h['cpu_count']} cores. "
        "Other work on this machine runs on the same cores (load averages below); host-wide core claims "
        f"{'on' if res['host_core_claims'] else 'off'}. The ratio is the concurrent job's wall time over the mean "
        "of the two serial jobs'.",
        "",
        "*Concurrent − alone*: each attempt's reward next to the other trial minus its reward alone, against both "
        "serial jobs of the round (4 per round). *Alone noise*: the same program measured twice alone, taken the "
        "same ways (4 per round): the attempt in the job after minus the job before, and attempt 1 minus "
        "attempt 0 within each serial job. The target asks the first to be no wider than the second. The max of "
        "one set against the max of another the same size exceeds it about half the time when concurrency does "
        "nothing at all, so the test of record is a one-sided permutation test of the mean absolute differences "
        f"(p < {P_FLOOR}: wider); the max against the max is reported beside it.",
        "",
    ]
    for r in res["runs"]:
        s = r["summary"]
        lines += [
            f"## `{r['task']}` (measure: {r['measure']}), agent `{r['agent']}`",
            "",
            f"Load average before {r['load_average_before'][0]}, after {r['load_average_after'][0]}.",
            "",
            "| round | serial s (before/after) | concurrent s | ratio | rewards alone (before; after) | "
            "rewards concurrent | cores (concurrent) | concurrent − alone | alone noise | end gap s | "
            "outside trials s (serial/conc) | pairs (serial/conc) | stop (conc) | lock wait s (conc) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for x in r["rounds"]:
            se, co = x["serial"], x["concurrent"]
            again = x["serial_again"]
            lines.append(
                f"| {x['round']} | {se['wall_s']:.1f}/{again['wall_s']:.1f} | {co['wall_s']:.1f} | {x['ratio']:.3f} | "
                f"{se['rewards']}; {again['rewards']} | {co['rewards']} | {co['cores']} | "
                f"{x['reward_diffs']} | {x['alone_noise']} | {co['end_gap_s']} | "
                f"{se['outside_trials_s']}/{co['outside_trials_s']} | "
                f"{[p['pairs'] for p in se['phases']]}/{[p['pairs'] for p in co['phases']]} | "
                f"{[p['stop_reason'] for p in co['phases']]} | "
                f"{[round(p['lock_waited_s'] or 0.0, 3) for p in co['phases']]} |"
            )
        lines += [
            "",
            f"- Median concurrent/serial wall-time ratio: **{s['median_ratio']:.3f}** (target ≤ {s['ratio_target']}: {ok[s['ratio_met']]}).",
            f"- Concurrent − alone: max |diff| **{s['max_abs_reward_diff']:.4f}**, mean |diff| "
            f"**{s['mean_abs_reward_diff']:.4f}** (target: mean ≤ {s['reward_target']}: "
            f"{ok[s['mean_abs_reward_diff'] <= s['reward_target']]}).",
            f"- Alone noise: max |diff| {s['max_alone_noise']:.4f}, mean |diff| {s['mean_alone_noise']:.4f}. "
            f"Concurrent − alone wider than alone noise: permutation p = **{s['wider_than_alone_p']:.3f}** "
            f"(no worse unless p < {P_FLOOR}: {ok[s['reward_met']]}); max against max: "
            f"{ok[s['reward_max_met']]}.",
            f"- Median gap between the concurrent trials' ends (one core idle): {s['median_end_gap_s']:.1f} s; "
            f"median job time outside any trial's phases: serial {s['median_outside_trials_s']['serial']:.1f} s, "
            f"concurrent {s['median_outside_trials_s']['concurrent']:.1f} s.",
            f"- Mean reward alone {s['mean_reward_alone']:.4f}, concurrent {s['mean_reward_concurrent']:.4f}.",
            "",
        ]
    lines += [f"Measured {res['measured_at']} with `bench/concurrency.py`.", ""]
    if res.get("note"):
        lines += [f"Note: {res['note']}", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
