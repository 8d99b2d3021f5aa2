"""The candidate runner's exact mode (``mode = "exact"``): one run, the trusted check's JSON is the reward.

``run_exact`` screens and builds the candidate, generates a fresh input, runs the
candidate once in its jail and hands its output to the trusted check, whose JSON
object (the last line of its stdout) is the verification's reward file.

With ``reference = "solution"`` in ``tests/run.toml`` the task's own solution (the
program ``solution`` the harness adds, ``verify.reference``) is the yardstick run in
the same verification: built like the candidate, then run on the same input at the
same time, each in its own jail and cgroup on the same cores, under the same limits
and ``[run] cpu_sec`` budget; its output is the check's ``{reference}``. A budget of
CPU seconds buys a different amount of work on a different or busier CPU; the two runs
share the CPU and its load, so a check that scores the candidate against the
reference's result measured now scores the same on any machine. A reference that
fails is the harness's failure (``LooplabError``), never the candidate's.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from looplab.errors import LooplabError
from looplab.fsutil import remove_tree
from looplab.sandbox.jail import JailResult
from looplab.verify.run_declaration import SOLUTION, StepFailed, fresh_seed
from looplab.verify.runner import EXPECTED, INPUT, OUTPUT, REFERENCE, TRUSTED_HIDDEN, CandidateRunner, _tail

EXACT_PURPOSE = "exact"
MAX_CHECK_JSON = 1 << 20


class ExactResult(BaseModel):
    """What an exact verification produced: the check's JSON object, or why there is none."""

    data: dict[str, Any] | None = None  # the check's JSON (reward, metrics, correct, reason, ...)
    reason: str | None = None  # why the candidate gets no reward (failed build/run/check)
    seed: int | None = None  # the input's seed, drawn at verification time (None: no generator)


def run_alongside(runner: CandidateRunner, names: list[str], inp: Path) -> dict[str, tuple[JailResult, Path]]:
    """Run every program of ``names`` on ``inp`` at the same time, each in a cgroup of its own.

    All jails get the runner's cores: the programs share the CPU (and whatever else
    loads it) for as long as they run together. Returns each one's result and output.
    """
    with ThreadPoolExecutor(max_workers=len(names), thread_name_prefix="runner-alongside") as pool:
        futures = {n: pool.submit(runner.run, n, inp, runner.own_cgroup(n)) for n in names}
        done: dict[str, tuple[JailResult, Path]] = {}
        failure: BaseException | None = None
        for n, fut in futures.items():
            try:
                done[n] = fut.result()
            except BaseException as exc:  # noqa: BLE001 - the others' folders are removed first
                failure = failure or exc
    if failure is not None:
        for _, out in done.values():
            remove_tree(out)
        raise failure
    return done


def _logged(runner: CandidateRunner, name: str, r: JailResult) -> None:
    runner.log.append(
        {
            "step": "run",
            "program": name,
            "exit_code": r.exit_code,
            "s": round(r.duration_s, 3),
            "cpu_s": r.cpu_s,
            "cpu_limited": r.cpu_limited,
        }
    )


def run_exact(runner: CandidateRunner, name: str = "candidate") -> ExactResult:
    """Screen, build, generate a fresh input, run ``name`` once, and score it with the trusted check.

    The check (its own jail; sees ``/tests``, ``/input``, ``/expected``, the program's
    ``/output``, the reference's ``/reference`` where one runs alongside, and, read-only,
    its sources ``{src}`` as data) prints one JSON object on stdout, its last non-empty
    line: the reward file of this verification. A program that fails to build or run, or
    a check that exits non-zero or prints no JSON object, gives no data and the reason. A
    failing generator or reference is a ``LooplabError`` (not the agent's).
    A run stopped at its CPU budget (``[run] cpu_sec``) did not fail: the check judges what
    it left, and a reason the check gives says that it was stopped.
    """
    decl = runner.decl
    src = decl.programs[name]
    alongside = [decl.reference] if decl.reference == SOLUTION else []
    if alongside and SOLUTION not in runner.programs:
        raise LooplabError(
            "tests/run.toml: field reference: 'solution' runs the task's solution alongside the candidate, "
            "but the harness added no such program (no solution/solve.sh?)"
        )
    seed = fresh_seed() if decl.generate is not None else None
    folders: list[Path] = []
    inp = exp = out = ref_out = None
    stopped = ""  # why the run's output is what it left when stopped at its CPU budget
    try:
        runner.screen(name)
        for prog in (name, *alongside):
            runner.build(prog)
        if seed is not None:
            inp, exp = runner.generate(seed, EXACT_PURPOSE)
        else:
            inp, exp = runner._fresh("input"), runner._fresh("expected")
        folders += [inp, exp]
        if decl.run is not None:
            if alongside:
                runs = run_alongside(runner, [name, *alongside], inp)
            else:
                runs = {name: runner.run(name, inp)}
            folders += [o for _, o in runs.values()]
            for prog, (r, _) in runs.items():
                _logged(runner, prog, r)
            r, out = runs[name]
            runner._ran(name, r)
            if r.cpu_limited and decl.run.cpu_sec is not None:
                stopped = f" ({name} was stopped at its {decl.run.cpu_sec:g} CPU-second budget)"
            for prog in alongside:
                rr, ref_out = runs[prog]
                try:
                    runner._ran(prog, rr)
                except StepFailed as exc:
                    raise LooplabError(
                        f"the reference solution failed alongside the candidate: {exc}"
                    ) from exc
        else:
            out = runner._fresh(f"output-{name}")
            folders.append(out)
        cmd = runner._fill(
            decl.check.command, src=src, seed=str(seed or 0), purpose=EXACT_PURPOSE, reference=REFERENCE
        )
        ro = [(inp, INPUT), (exp, EXPECTED), (out, OUTPUT)] + ([(ref_out, REFERENCE)] if ref_out else [])
        c = runner._jail(decl.check, cmd, TRUSTED_HIDDEN, ro, [])
        runner.log.append(
            {"step": "check", "program": name, "exit_code": c.exit_code, "s": round(c.duration_s, 3)}
        )
    except StepFailed as exc:
        if exc.side != name:
            raise
        return ExactResult(reason=str(exc), seed=seed)
    finally:
        for d in folders:
            remove_tree(d)
    if c.timed_out or c.exit_code != 0:
        why = "timed out" if c.timed_out else f"exited {c.exit_code}"
        return ExactResult(reason=f"the check {why}: {_tail(c.stderr or c.stdout)}{stopped}", seed=seed)
    data = last_json_object(c.stdout)
    if data is None:
        return ExactResult(reason=f"the check printed no JSON object: {_tail(c.stdout)}{stopped}", seed=seed)
    if stopped and isinstance(data.get("reason"), str):
        data["reason"] += stopped
    return ExactResult(data=data, seed=seed)


def last_json_object(text: str) -> dict[str, Any] | None:
    """The JSON object on the last non-empty line of ``text`` (at most 1 MiB), else None."""
    lines = [ln for ln in text[-MAX_CHECK_JSON:].splitlines() if ln.strip()]
    if not lines:
        return None
    try:
        data = json.loads(lines[-1])
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
