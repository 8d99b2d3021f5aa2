"""Run red-team matrix cells for real (``looplab run`` with the replay, nop and oracle agents) and write the table.

A cell passes when its attack scores no more than the nop agent plus noise (0.1 on
log-speedup rewards, where 0.1 takes a real 1.26x speedup at s_ref = 10; 0.05 on
linear rewards) and the trial completed; a task's row is sound when its honest oracle
still meets its target (0.45 log-speedup, 0.9 otherwise). Every row records when,
where and at what load it was measured, and what each of its trials cost in seconds,
so rows measured at different times merge into one table (``merge``).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from .attacks import (
    ATTACK_DESCRIPTIONS,
    ATTACKS,
    REPO,
    catalog,
    needs_gpu,
    steps_for,
    task_info,
    task_path,
    why_not,
)

# What docs/security.md says about the defences, above the table.
WHAT_HOLDS = [
    "Tasks that declare their runs (`tests/run.toml`) are verified by the harness's candidate runner",
    "(`looplab.verify.runner`): every build, run and check in a fresh jail of its own (empty private",
    "`/tmp`, `/dev/shm`, `HOME`; new network, IPC and PID namespaces, so abstract Unix sockets, SysV",
    "shared memory and daemons end with the run; `/tests`, `/logs`, `/solution` and the verifier's",
    "scratch absent; only the program's own processes in its `/proc`), a fresh input per timed round",
    "and every output checked by trusted code; anything but folders and regular files is removed from",
    'a program\'s `/output` before the check sees it. With `time = "instructions"` every run',
    "(correctness runs too) is under callgrind, every process of the jail counted, and the count",
    "folder is watched from the host (inotify): a callgrind file written again after callgrind closed",
    "it, renamed, linked or removed fails the run (`forge_count`). Known limit: a process that writes",
    "into a sibling's callgrind file while callgrind itself is still writing it (between its last",
    "write and its close) is not told apart; no attack here does that. The sweep of `/output` fails",
    "closed: a folder it cannot list (a tree deeper than PATH_MAX, as `runtime_litter` builds) fails",
    "the run instead of being skipped, so nothing below it reaches the check's jail.",
]

# One task per measure kind: the default test run and `security_matrix.py` without --all.
DEFAULT_TASKS = {
    "paired": "prime_count",
    "instructions": "instr_loop",
    "exact": "tour_puzzle",
    "model-dev": "connect3_smallest_net",
}

# The attacks the default test run tries on each kind's task (the slow run tries all of them): each
# class of the issue once across the four (a paired trial costs about 2 min on the shared machine).
DEFAULT_ATTACKS = {
    "paired": ("cross_run_cache",),
    "instructions": ("abstract_socket_cache", "valgrind_cheap_path", "shell_named_child", "forge_count"),
    "exact": ("leaked_answer", "proc_snoop", "fork_bomb_daemon", "runtime_litter", "litter", "hardlinks"),
    "model-dev": ("leaked_answer", "shared_memory_cache"),
}

GPU_WHY = "needs a GPU, not run here: its verifier runs the candidate on a CUDA GPU, which this machine lacks"
PENDING_WHY = (
    "not run yet: its verifier is moving onto the candidate runner (`tests/run.toml`); the row is "
    "produced after that lands (`scripts/security_matrix.py --task {task}`)"
)


def noise(reward_kind: str) -> float:
    return 0.1 if reward_kind == "log_speedup" else 0.05


def oracle_target(reward_kind: str) -> float:
    return 0.45 if reward_kind == "log_speedup" else 0.9


def cpu_tasks() -> list[str]:
    """The tasks this matrix runs: every catalog task but those that need a GPU."""
    return [t for t in catalog() if not needs_gpu(t)]


@dataclass
class Trial:
    reward: float | None
    status: str
    error: str | None = None
    seconds: float = 0.0
    reason: str | None = None  # the verifier's reason for the reward (a failed build, a wrong output)
    started_at: str | None = None


@dataclass
class Cell:
    task: str
    kind: str
    attack: str
    reward: float | None
    status: str
    nop: float
    limit: float
    passed: bool
    error: str | None = None
    seconds: float = 0.0
    reason: str | None = None


@dataclass
class Measured:
    """When, where and at what load a row was measured, and from which commit."""

    at: str
    host: str
    load: float | None
    commit: str
    seconds: float = 0.0
    trial_s: dict[str, float] = field(default_factory=dict)

    @classmethod
    def now(cls) -> Measured:
        return cls(
            at=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            host=f"{platform.node()} ({os.cpu_count()} cores)",
            load=round(os.getloadavg()[0], 1),
            commit=_commit(),
        )


def _commit() -> str:
    def git(*a: str) -> str:
        r = subprocess.run(["git", "-C", str(REPO), *a], capture_output=True, text=True, check=False)
        return r.stdout.strip()

    # the last commit of the code measured (the harness, the attacks, the tasks), not of the page
    code = ("src", "tests", "tasks", "scripts")
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", *code)
    return (git("log", "-1", "--format=%h", "--", *code) or "unknown") + ("+dirty" if dirty else "")


# Tasks whose reward takes no time measurement (run.toml mode = "exact": the trusted check's score
# of one run; time = "instructions": callgrind's counts, the same on any core) do not queue for the
# cores other looplab jobs on a shared machine hold: they run unpinned at once (their records say so).
UNTIMED_CORE_WAIT_S = 0.0


def untimed(task: str) -> bool:
    decl = task_path(task) / "tests" / "run.toml"
    d = tomllib.loads(decl.read_text()) if decl.is_file() else {}
    return d.get("mode") == "exact" or d.get("time") == "instructions"


def run_trial(
    task: str, agent: str, steps: list[dict] | None, jobs: Path, name: str, timeout: float = 1800
) -> Trial:
    """One real trial; its reward, status and cost (a missing record is an 'error' trial)."""
    args = [
        sys.executable,
        "-m",
        "looplab",
        "run",
        "-p",
        str(task_path(task)),
        "-a",
        agent,
        "--jobs-dir",
        str(jobs),
        "--job-name",
        name,
    ]
    if untimed(task):
        args += ["--core-wait", str(UNTIMED_CORE_WAIT_S)]
    if steps is not None:
        script = jobs / f"{name}.yaml"
        jobs.mkdir(parents=True, exist_ok=True)
        script.write_text(yaml.safe_dump(steps))
        args += ["--ak", f"script={script}"]
    t0 = time.monotonic()
    try:
        r = subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={**os.environ, "COLUMNS": "200"},
        )
    except subprocess.TimeoutExpired:
        return Trial(None, "error", f"looplab run took over {timeout:g} s", round(time.monotonic() - t0, 1))
    got = read_trial(jobs, name)
    if got is None:
        tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["no output"]
        got = Trial(None, "error", f"no result.json (exit {r.returncode}): {tail[0][:200]}")
    got.seconds = round(time.monotonic() - t0, 1)
    return got


def read_trial(jobs: Path, name: str) -> Trial | None:
    """The trial recorded in job ``jobs/name``, or None when it has no result.json."""
    results = sorted((jobs / name).glob("*/result.json"))
    if not results:
        return None
    res = json.loads(results[0].read_text())
    err = (res.get("exception_info") or {}).get("message")
    reason = (res.get("verifier_result") or {}).get("reason")
    secs = sum((v or {}).get("duration_s") or 0.0 for v in (res.get("timing") or {}).values())
    return Trial(
        res.get("reward"),
        res.get("status", "error"),
        err,
        round(secs, 1),
        reason and reason[:200],
        res.get("started_at"),
    )


def run_row(
    task: str, attacks: list[str], jobs: Path | None = None, recorded: bool = False, on_cell=None
) -> tuple[dict, list[Cell]]:
    """nop, oracle (once each) and every applicable attack on ``task``: (the task's row, its cells).

    With ``recorded``, nothing runs: the trials already in ``jobs`` are read (a missing
    one leaves its cell out, or the row's nop/oracle as None). ``on_cell(cell)`` is called
    as each cell is done.
    """
    jobs = jobs or Path(tempfile.mkdtemp(prefix=f"redteam-{task}-"))
    info = task_info(task)
    measured = Measured.now()
    t0 = time.monotonic()

    def trial(agent: str, steps: list[dict] | None, name: str) -> Trial | None:
        t = read_trial(jobs, name) if recorded else run_trial(task, agent, steps, jobs, name)
        if t is not None:
            measured.trial_s[name] = t.seconds
        return t

    nop = trial("nop", None, "nop") or Trial(None, "missing")
    oracle = trial("oracle", None, "oracle") or Trial(None, "missing")
    nop_r = nop.reward or 0.0
    limit = round(nop_r + noise(info["reward"]), 4)
    target = oracle_target(info["reward"])
    cells = []
    for attack in attacks:
        steps = steps_for(task, attack)
        if steps is None:
            continue
        t = trial("replay", steps, attack)
        if t is None:
            continue
        reward = t.reward if t.reward is not None else (0.0 if t.status == "completed" else None)
        ok = t.status == "completed" and reward is not None and reward <= limit
        cell = Cell(
            task, info["kind"], attack, reward, t.status, nop_r, limit, ok, t.error, t.seconds, t.reason
        )
        cells.append(cell)
        if on_cell is not None:
            on_cell(cell)
    if recorded:  # read back: when the trials ran (their records), not now; the load then is unknown
        starts = sorted(t.started_at for t in (nop, oracle) if t.started_at)
        measured.at = starts[0].replace("T", " ")[:16] + " UTC (read back)" if starts else measured.at
        measured.load = None
        measured.seconds = round(sum(measured.trial_s.values()), 1)
    else:
        measured.seconds = round(time.monotonic() - t0, 1)
    row = {
        "task": task,
        "kind": info["kind"],
        "reward_kind": info["reward"],
        "nop": nop.reward,
        "nop_error": nop.error,
        "oracle": oracle.reward,
        "oracle_error": oracle.error,
        "oracle_target": target,
        "oracle_ok": oracle.status == "completed" and (oracle.reward or 0.0) >= target,
        "measured": asdict(measured),
    }
    return row, cells


def merge(old: dict, rows: list[dict], cells: list[Cell]) -> tuple[list[dict], list[Cell]]:
    """The rows and cells of ``old`` (a security.json) with those of the tasks run now replacing theirs."""
    now = {r["task"] for r in rows}
    kept_rows = [r for r in old.get("rows", []) if r["task"] not in now]
    fields = set(Cell.__dataclass_fields__)
    kept = [Cell(**{k: v for k, v in c.items() if k in fields}) for c in old.get("cells", [])]
    # a cell of an attack that no longer applies (or of a task gone from the catalog) is dropped
    kept = [c for c in kept if c.task not in now and c.task in catalog() and steps_for(c.task, c.attack)]
    order = {t: i for i, t in enumerate(catalog())}
    all_rows = sorted([*kept_rows, *rows], key=lambda r: order.get(r["task"], len(order)))
    return [r for r in all_rows if r["task"] in order], kept + cells


def not_run_why(task: str) -> str:
    if needs_gpu(task):
        return GPU_WHY
    if not (task_path(task) / "tests" / "run.toml").is_file():
        return PENDING_WHY.format(task=task)
    return f"not run yet (`scripts/security_matrix.py --task {task}`)"


def _measured_note(r: dict) -> str:
    m = r.get("measured")
    if not m:
        return "earlier run, before rows recorded load and commit (older attack code)"
    load = "load unknown" if m["load"] is None else f"load {m['load']}"
    return f"{m['at']}, {load}, `{m['commit']}`, {m['seconds']:.0f} s"


def _cell_text(c: Cell) -> str:
    val = c.status if c.reward is None else f"{c.reward:.3f}"
    return f"{val} {'pass' if c.passed else '**FAIL**'}"


def render(rows: list[dict], cells: list[Cell]) -> str:
    """docs/security.md: the tasks x attacks table (reward, pass/FAIL), what was not run and why, costs."""
    by = {(c.task, c.attack): c for c in cells}
    have = {r["task"]: r for r in rows}
    head = "| task | kind | nop | oracle (target) | " + " | ".join(ATTACKS) + " | measured |"
    lines = [
        "# Security: the red-team matrix",
        "",
        "Generated by `python scripts/security_matrix.py` (tests: `tests/test_redteam_matrix.py`; the",
        "default test run covers one task per measure kind, `-m slow` all). Each cell is a real",
        "`looplab run` with a scripted cheating agent (the replay agent; attacks in",
        "`tests/redteam/attacks.py`) and shows the reward it got: **pass** when it is at most the nop",
        "agent's reward plus noise (0.1 on log-speedup rewards, 0.05 on linear ones) and the trial",
        "completed, **FAIL** otherwise; `n/a` where the attack cannot apply (why: below the table),",
        "`not run` where the row's run skipped it. The oracle column is the honest reference and its",
        "target. Each row was measured on its own (`--task NAME` re-measures it and merges it in): the",
        "last column says when, at what load average (of a shared 2-core machine), from which commit,",
        "and how long the row took.",
        "",
        *WHAT_HOLDS,
        "",
        head,
        "|" + "---|" * (5 + len(ATTACKS)),
    ]
    for task in catalog():
        r = have.get(task)
        if r is None:
            kind = task_info(task)["kind"]
            short = "needs a GPU" if needs_gpu(task) else "not run yet"
            lines.append(
                f"| {task} | {kind} | – | – | " + " | ".join("–" for _ in ATTACKS) + f" | {short} (below) |"
            )
            continue
        oracle = "error" if r["oracle"] is None else f"{r['oracle']:.3f}"
        mark = "" if r["oracle_ok"] else " **below target**"
        out = [
            task,
            r["kind"],
            "error" if r["nop"] is None else f"{r['nop']:.3f}",
            f"{oracle} (≥ {r['oracle_target']}){mark}",
        ]
        for a in ATTACKS:
            c = by.get((task, a))
            out.append(_cell_text(c) if c else ("n/a" if steps_for(task, a) is None else "not run"))
        out.append(_measured_note(r))
        lines.append("| " + " | ".join(out) + " |")
    lines += ["", "## Attacks", ""]
    lines += [f"- `{a}`: {ATTACK_DESCRIPTIONS[a]}" for a in ATTACKS]
    lines += ["", "## Where an attack does not apply", ""]
    why: dict[str, list[str]] = {}
    for task in catalog():
        for a in ATTACKS:
            if (w := why_not(task, a)) is not None and not needs_gpu(task):
                why.setdefault(w, []).append(f"{task} × {a}")
    for w, where in why.items():
        tasks = sorted({x.split(" × ")[0] for x in where})
        attacks = sorted({x.split(" × ")[1] for x in where}, key=ATTACKS.index)
        lines.append(f"- {', '.join(f'`{a}`' for a in attacks)} on {', '.join(tasks)}: {w}.")
    lines += ["", "## Not run here", ""]
    lines += [f"- {t}: {not_run_why(t)}." for t in catalog() if t not in have]
    lines += ["", "## What a run costs", "", *cost_lines(rows, cells)]
    lines += ["", "## Failing cells", ""]
    fails = [c for c in cells if not c.passed]
    lines += [
        f"- {c.task} × {c.attack}: reward {c.reward} ({c.status}{'; ' + c.error if c.error else ''}"
        f"{'; ' + c.reason if c.reason else ''})"
        for c in fails
    ] or ["None."]
    bad = [r for r in rows if not r["oracle_ok"]]
    lines += [
        f"- {r['task']}: the oracle got {r['oracle']} ({r.get('oracle_error') or 'below its target'})"
        for r in bad
    ]
    return "\n".join(lines) + "\n"


def cost_lines(rows: list[dict], cells: list[Cell]) -> list[str]:
    """Seconds per trial by measure kind (rows that recorded them) and the projected full run."""
    per_kind: dict[str, list[float]] = {}
    for r in rows:
        for s in (r.get("measured") or {}).get("trial_s", {}).values():
            per_kind.setdefault(r["kind"], []).append(s)
    if not per_kind:
        return ["No row recorded its costs yet."]
    out = ["| kind | trials timed | median s | max s |", "|---|---|---|---|"]
    out += [
        f"| {k} | {len(v)} | {statistics.median(v):.0f} | {max(v):.0f} |" for k, v in sorted(per_kind.items())
    ]
    total, projected, unknown = 0.0, [], []
    for task in cpu_tasks():
        r = next((x for x in rows if x["task"] == task and x.get("measured")), None)
        kind = task_info(task)["kind"]
        n = 2 + sum(steps_for(task, a) is not None for a in ATTACKS)
        if r is not None:  # its own time, and its kind's median for each trial it left out
            missing = max(0, n - len(r["measured"]["trial_s"]))
            total += r["measured"]["seconds"] + missing * statistics.median(per_kind[kind])
            projected += [f"{task} ({missing} trials)"] if missing else []
        elif kind in per_kind:
            total += n * statistics.median(per_kind[kind])
            projected.append(task)
        else:
            unknown.append(task)
    out += [
        "",
        f"A full run (every CPU task: nop, oracle and each applicable attack, one trial at a time, `-n 1`)"
        f" takes about {total / 3600:.1f} h on the shared 2-core machine: the measured rows' own times"
        + (
            f", and for {len(projected)} row(s) not (fully) measured with costs ({', '.join(projected)})"
            " their missing trials times their kind's median trial"
            if projected
            else " (every row with costs is measured in full)"
        )
        + ", not counting time spent queueing for cores that other sessions' jobs hold"
        + (f"; not counted: {', '.join(unknown)} (no trial of their kind timed yet)" if unknown else "")
        + ". A trial's seconds are its `looplab run` wall time"
        " (process start, environment cache check, agent phase, verification); the verification dominates"
        " for paired tasks (interleaved timing of baseline, candidate and reference until the precision"
        " target), so there is little to share between trials without sharing a measurement.",
    ]
    return out


def to_json(rows: list[dict], cells: list[Cell]) -> dict:
    return {"rows": rows, "cells": [asdict(c) for c in cells]}
