"""Run red-team matrix cells for real (``looplab run`` with the replay, nop and oracle agents) and write the table.

A cell passes when its attack scores no more than the nop agent plus noise (0.1 on
log-speedup rewards, where 0.1 takes a real 1.26x speedup at s_ref = 10; 0.05 on
linear rewards) and the trial completed; a task's row is sound when its honest oracle
still meets its target (0.45 log-speedup, 0.9 otherwise).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from .attacks import ATTACK_DESCRIPTIONS, ATTACKS, catalog, steps_for, task_info, task_path

# What docs/security.md says about the defences, above the table.
WHAT_HOLDS = [
    "Tasks that declare their runs (`tests/run.toml`) are verified by the harness's candidate runner",
    "(`looplab.verify.runner`): every build, run and check in a fresh jail of its own (empty private",
    "`/tmp`, `/dev/shm`, `HOME`; new network, IPC and PID namespaces, so abstract Unix sockets, SysV",
    "shared memory and daemons end with the run; `/tests`, `/logs`, `/solution` and the verifier's",
    "scratch absent; only the program's own processes in its `/proc`), a fresh input per timed round",
    'and every output checked by trusted code. With `time = "instructions"` every run (correctness',
    "runs too) is under callgrind, every process of the jail counted, and the count folder is watched",
    "from the host (inotify): a callgrind file written again after callgrind closed it, renamed, linked",
    "or removed fails the run (`forge_count`). Known limit: a process that writes into a sibling's",
    "callgrind file while callgrind itself is still writing it (between its last write and its close)",
    "is not told apart; no attack here does that.",
]

# One task per measure kind: the default test run and `security_matrix.py` without --all.
DEFAULT_TASKS = {
    "paired": "prime_count",
    "instructions": "instr_loop",
    "exact": "tour_puzzle",
    "model-dev": "connect3_smallest_net",
}

# The attacks the default test run tries on each kind's task (the slow run tries all of them).
DEFAULT_ATTACKS = {
    "paired": ("leaked_answer", "cross_run_cache"),
    "instructions": ("cross_run_cache", "valgrind_cheap_path", "shell_named_child", "forge_count"),
    "exact": tuple(ATTACKS),
    "model-dev": ("leaked_answer",),
}


def noise(reward_kind: str) -> float:
    return 0.1 if reward_kind == "log_speedup" else 0.05


def oracle_target(reward_kind: str) -> float:
    return 0.45 if reward_kind == "log_speedup" else 0.9


@dataclass
class Trial:
    reward: float | None
    status: str
    error: str | None = None


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


def run_trial(
    task: str, agent: str, steps: list[dict] | None, jobs: Path, name: str, timeout: float = 1800
) -> Trial:
    """One real trial; its reward and status (a missing record is an 'error' trial)."""
    args = [sys.executable, "-m", "looplab", "run", "-p", str(task_path(task)), "-a", agent,
            "--jobs-dir", str(jobs), "--job-name", name]  # fmt: skip
    if steps is not None:
        script = jobs / f"{name}.yaml"
        jobs.mkdir(parents=True, exist_ok=True)
        script.write_text(yaml.safe_dump(steps))
        args += ["--ak", f"script={script}"]
    try:
        r = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False,
                           env={**os.environ, "COLUMNS": "200"})  # fmt: skip
    except subprocess.TimeoutExpired:
        return Trial(None, "error", f"looplab run took over {timeout:g} s")
    got = read_trial(jobs, name)
    if got is None:
        tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["no output"]
        return Trial(None, "error", f"no result.json (exit {r.returncode}): {tail[0][:200]}")
    return got


def read_trial(jobs: Path, name: str) -> Trial | None:
    """The trial recorded in job ``jobs/name``, or None when it has no result.json."""
    results = sorted((jobs / name).glob("*/result.json"))
    if not results:
        return None
    res = json.loads(results[0].read_text())
    err = (res.get("exception_info") or {}).get("message")
    return Trial(res.get("reward"), res.get("status", "error"), err)


def run_row(
    task: str, attacks: list[str], jobs: Path | None = None, recorded: bool = False
) -> tuple[dict, list[Cell]]:
    """nop, oracle and every applicable attack on ``task``: (the task's summary, its cells).

    With ``recorded``, nothing runs: the trials already in ``jobs`` are read (a missing
    one leaves its cell out, or the row's nop/oracle as None).
    """
    jobs = jobs or Path(tempfile.mkdtemp(prefix=f"redteam-{task}-"))
    info = task_info(task)

    def trial(agent: str, steps: list[dict] | None, name: str) -> Trial | None:
        if recorded:
            return read_trial(jobs, name)
        return run_trial(task, agent, steps, jobs, name)

    nop = trial("nop", None, "nop") or Trial(None, "missing")
    oracle = trial("oracle", None, "oracle") or Trial(None, "missing")
    nop_r = nop.reward or 0.0
    limit = round(nop_r + noise(info["reward"]), 4)
    target = oracle_target(info["reward"])
    row = {
        "task": task, "kind": info["kind"], "reward_kind": info["reward"], "nop": nop.reward,
        "oracle": oracle.reward, "oracle_target": target,
        "oracle_ok": oracle.status == "completed" and (oracle.reward or 0.0) >= target,
    }  # fmt: skip
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
        cells.append(Cell(task, info["kind"], attack, reward, t.status, nop_r, limit, ok, t.error))
    return row, cells


def render(rows: list[dict], cells: list[Cell], note: str = "") -> str:
    """docs/security.md: the tasks x attacks table (reward, pass/FAIL), then the attack list."""
    by = {(c.task, c.attack): c for c in cells}
    head = "| task | kind | nop | oracle (target) | " + " | ".join(ATTACKS) + " |"
    lines = [
        "# Security: the red-team matrix",
        "",
        "Generated by `python scripts/security_matrix.py` (tests: `tests/test_redteam_matrix.py`; the",
        "default run covers one task per measure kind, `-m slow` all). Each cell is a real `looplab run`",
        "with a scripted cheating agent (the replay agent; attacks in `tests/redteam/attacks.py`) and",
        "shows the reward it got: **pass** when it is at most the nop agent's reward plus noise (0.1 on",
        "log-speedup rewards, 0.05 on linear ones) and the trial completed, **FAIL** otherwise; `n/a`",
        "where the editable files are not code the attack can live in, `not run` where this run skipped it. The oracle column is the honest",
        "reference and its target.",
        "",
    ]
    if note:
        lines += [note, ""]
    lines += [*WHAT_HOLDS, ""]
    unmigrated = [t for t in catalog() if not (task_path(t) / "tests" / "run.toml").is_file()]
    lines += [
        "Tasks not yet migrated to the candidate runner (no `tests/run.toml`; their verifiers still run",
        "their own jail code, other branches are migrating them): "
        + (", ".join(f"`{t}`" for t in unmigrated) or "none")
        + ".",
        "",
    ]
    lines += [head, "|" + "---|" * (4 + len(ATTACKS))]
    for r in rows:
        oracle = "error" if r["oracle"] is None else f"{r['oracle']:.3f}"
        mark = "" if r["oracle_ok"] else " **below target**"
        out = [r["task"], r["kind"], "error" if r["nop"] is None else f"{r['nop']:.3f}",
               f"{oracle} (≥ {r['oracle_target']}){mark}"]  # fmt: skip
        for a in ATTACKS:
            c = by.get((r["task"], a))
            if c is None:
                out.append("n/a" if steps_for(r["task"], a) is None else "not run")
            else:
                val = c.status if c.reward is None else f"{c.reward:.3f}"
                out.append(f"{val} {'pass' if c.passed else '**FAIL**'}")
        lines.append("| " + " | ".join(out) + " |")
    lines += ["", "## Attacks", ""]
    lines += [f"- `{a}`: {ATTACK_DESCRIPTIONS[a]}" for a in ATTACKS]
    fails = [c for c in cells if not c.passed]
    lines += ["", "## Failing cells", ""]
    lines += [f"- {c.task} × {c.attack}: reward {c.reward} ({c.status}{'; ' + c.error if c.error else ''})"
              for c in fails] or ["None."]  # fmt: skip
    return "\n".join(lines) + "\n"


def to_json(rows: list[dict], cells: list[Cell]) -> dict:
    return {"rows": rows, "cells": [asdict(c) for c in cells]}
