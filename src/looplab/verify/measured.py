"""Measured rewards: time (or count) the candidate against the pristine baseline inside the verifier.

Called by the sealed verifier after ``test.sh`` for tasks with ``[looplab] measure
= "paired"`` or ``"instructions"``. Gates first (``correct`` from reward.json, then
``[looplab.gates]``): a failing solution is never measured and scores 0 with the
reason. Then, in the same verifier sandbox, the optional ``[looplab.paired] build``
command runs, and the ``baseline`` command (the task's pristine copy, e.g. /orig)
and the ``candidate`` command (/app) are measured: interleaved paired timing under
the host-wide measurement lock of the sandbox's cores (waiting at most the
verifier's timeout, then a ``LooplabError``: an infrastructure failure, not the
agent's), or callgrind instruction counts (``run_timeout_sec`` then bounds each
valgrind run, which is tens of times slower than the program). The speedup becomes
a reward through the ``[looplab] reward`` formula (default ``log_speedup``).

``s_ref``, the reference solution's speedup the formula divides by, comes from
(``docs/catalog.md``, "how rewards are normalised"):

- ``same-run reference`` (tasks with ``tests/run.toml``, the default): the task's own
  solution (``verify.reference``) is timed as a third program in the candidate's
  rounds, so matching the reference scores 0.5 on any machine; both ratios and their
  intervals are recorded, and the reward's interval follows from them;
- ``calibration``: where the task opts out (``s_ref = "calibration"`` in run.toml),
  this machine's calibration, keyed by its fingerprint; a declared task with a
  solution that has none is calibrated here and now, the first time it verifies on
  the machine (the runner times baseline against the reference), and the record
  (date, fingerprint) goes into the trial; test.sh tasks read one ``looplab
  calibrate`` made;
- ``constants``: the task's ``[optimization]`` scores, where neither is possible
  (``verify.s_ref`` holds these rules).

Everything measured — CI, pairs, CV, lock wait, precision reached, where ``s_ref``
came from — goes into the returned details and ``measurement.json`` in the
verifier's log folder.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from looplab.errors import LooplabError
from looplab.fsutil import atomic_write_json
from looplab.measure.calibrate import lookup_calibration
from looplab.measure.instructions import count_instructions
from looplab.measure.lock import MeasurementLock
from looplab.measure.runners import SandboxRunner
from looplab.measure.stats import InvalidMeasurement
from looplab.measure.timing import MeasurementFailed, PairedResult, PairedSettings, measure_pair
from looplab.sandbox.base import Sandbox
from looplab.tasks.loader import Task
from looplab.tasks.model import PairedMeasure
from looplab.verify.reference import PROGRAM, derive_reference, has_reference
from looplab.verify.reward_file import ParsedReward, parse_reward_data
from looplab.verify.rewards import (
    gate_reason,
    normalize_formula,
    reward_from_config,
    reward_from_speedup,
)
from looplab.verify.runner import CandidateRunner, StepFailed
from looplab.verify.runner_exact import run_exact
from looplab.verify.s_ref import (
    SAME_RUN,
    RefSpeedup,
    calibrate_here,
    calibration_s_ref,
    legacy_s_ref,
    reward_interval,
)


class MeasuredReward(BaseModel):
    """The reward of a measured task, its metrics, and how it was measured."""

    reward: float
    reason: str | None = None  # why the reward is 0 (gate, failed run, no s_ref), else None
    metrics: dict[str, float] = Field(default_factory=dict)
    details: dict[str, Any] = Field(default_factory=dict)


def settings_from(pm: PairedMeasure) -> PairedSettings:
    return PairedSettings(
        warmup=pm.warmup,
        min_pairs=pm.min_pairs,
        max_pairs=max(pm.max_pairs, pm.min_pairs),
        max_seconds=pm.max_seconds,
        target=pm.target,
        confidence=pm.confidence,
        time_source=pm.time_source,
        run_timeout=pm.run_timeout_sec,
    )


def _finish(out: MeasuredReward, log_dir: Path) -> MeasuredReward:
    atomic_write_json(Path(log_dir) / "measurement.json", out.model_dump(mode="json"))
    return out


def _tail(text: str, n: int = 400) -> str:
    text = text.strip().replace("\n", " | ")
    return text if len(text) <= n else "…" + text[-n:]


def measure_in_verifier(
    task: Task, sandbox: Sandbox, reward_data: dict[str, Any], log_dir: Path
) -> MeasuredReward:
    """Measure the candidate against the pristine baseline in ``sandbox`` and score it."""
    cfg = task.config
    lcfg = cfg.looplab
    mode = lcfg.measure
    toml = task.path / "task.toml"
    if mode == "reported":
        raise LooplabError(
            f"{toml}: field looplab.measure: 'reported' tasks are not measured by the verifier"
        )
    pm = lcfg.paired
    if pm is None or not pm.baseline or not pm.candidate:
        raise LooplabError(
            f"{toml}: field looplab.paired: measure = {mode!r} needs baseline and candidate commands"
        )
    formula = normalize_formula(lcfg.reward or "log_speedup")
    details: dict[str, Any] = {
        "mode": mode,
        "formula": formula,
        "baseline": pm.baseline,
        "candidate": pm.candidate,
    }

    reason = gate_reason(cfg, reward_data)
    if reason:
        details["skipped"] = "not measured: the solution failed a gate"
        return _finish(MeasuredReward(reward=0.0, reason=reason, details=details), log_dir)

    runner = SandboxRunner(sandbox, cwd=pm.cwd)
    if pm.build:
        b = sandbox.exec(pm.build, timeout=pm.build_timeout_sec, cwd=pm.cwd)
        details["build"] = {
            "command": pm.build,
            "exit_code": b.exit_code,
            "duration_s": round(b.duration_s, 3),
        }
        if not b.ok:
            why = "timed out" if b.timed_out else f"exited {b.exit_code}"
            details["build"]["stderr_tail"] = _tail(b.stderr, 2000)
            reason = f"build command {why}: {_tail(b.stderr) or '(no stderr)'}"
            return _finish(MeasuredReward(reward=0.0, reason=reason, details=details), log_dir)

    metrics: dict[str, float] = {}
    try:
        if mode == "paired":
            lock = MeasurementLock(
                cores=sandbox.spec.cpus, timeout=cfg.verifier.timeout_sec, label=f"verify {task.name}"
            )
            res = measure_pair(pm.baseline, pm.candidate, runner, settings_from(pm), lock=lock)
            speedup = res.speedup
            _paired_details(res, details, metrics)
        else:
            base = count_instructions(
                pm.baseline, function=pm.function, runner=runner, timeout=pm.run_timeout_sec
            )
            try:
                cand = count_instructions(
                    pm.candidate, function=pm.function, runner=runner, timeout=pm.run_timeout_sec
                )
            except LooplabError as exc:
                raise MeasurementFailed("candidate", str(exc)) from None
            if cand.instructions <= 0:
                raise MeasurementFailed("candidate", "candidate executed no counted instructions")
            speedup = base.instructions / cand.instructions
            details["instructions"] = {
                "baseline": base.model_dump(mode="json"),
                "candidate": cand.model_dump(mode="json"),
            }
            metrics.update(
                baseline_instructions=float(base.instructions),
                candidate_instructions=float(cand.instructions),
            )
    except MeasurementFailed as exc:
        details["failed_side"] = exc.side
        return _finish(
            MeasuredReward(reward=0.0, reason=f"measurement failed: {exc}", details=details), log_dir
        )

    return _score(task, formula, speedup, metrics, details, log_dir)


def _paired_details(res: PairedResult, details: dict[str, Any], metrics: dict[str, float]) -> None:
    """What a paired measurement adds to the details and metrics of a measured reward."""
    details["paired"] = res.model_dump(mode="json")
    details.update(
        speedup_ci_low=res.ci_low,
        speedup_ci_high=res.ci_high,
        confidence=res.confidence,
        rel_half_width=res.rel_half_width,
        precision_reached=res.precision_reached,
        pairs=res.pairs,
        lock_waited_s=res.lock.waited_s if res.lock else None,
    )
    metrics.update(
        speedup_ci_low=res.ci_low,
        speedup_ci_high=res.ci_high,
        baseline_s=res.baseline.median_s,
        candidate_s=res.candidate.median_s,
        baseline_cv=res.baseline.cv,
        candidate_cv=res.candidate.cv,
        pairs=float(res.pairs),
        rel_half_width=res.rel_half_width,
        precision_reached=float(res.precision_reached),
        lock_waited_s=res.lock.waited_s if res.lock else 0.0,
    )


def measure_declared(
    task: Task,
    runner: CandidateRunner,
    log_dir: Path,
    pristine_workdir: Path | None = None,
    workdir: str = "/app",
    env_key: str = "",
) -> MeasuredReward:
    """Score a task that declares its runs (``tests/run.toml``): build, check, time, all jailed.

    Nothing here runs ``test.sh``: every program run goes through ``CandidateRunner``.
    A candidate that does not build, fails a check (on a correctness input or on any
    timed run's input) or dies scores 0 with the reason; a baseline (or reference) that
    fails is an infrastructure failure (``LooplabError``). ``pristine_workdir``: the
    built environment's working folder (host), from which the reference is derived; without
    it (or without a solution) the reference cannot be timed and ``s_ref`` is calibrated.
    The caller closes ``runner``.
    """
    decl, cores, cfg = runner.decl, runner.cores, task.config
    root, scratch = runner.root, runner.scratch
    if (cfg.looplab.measure == "instructions") != (decl.time == "instructions"):
        raise LooplabError(
            f"{task.tests_dir / 'run.toml'}: field time: {decl.time!r} does not fit "
            f'[looplab] measure = {cfg.looplab.measure!r} (instructions go with time = "instructions")'
        )
    pm = cfg.looplab.paired or PairedMeasure()
    formula = normalize_formula(cfg.looplab.reward or "log_speedup")
    details: dict[str, Any] = {
        "mode": "paired",
        "formula": formula,
        "runner": "declared",
        "programs": decl.programs,
        "time_source": decl.time,
    }
    needs_ref = formula in ("log_speedup", "linear")
    # the reference's folder is bound over the working folder: the candidate's sources must lie in it
    inside = Path(decl.programs["candidate"]).is_relative_to(workdir)
    runnable = pristine_workdir is not None and has_reference(task) and inside
    same_run = needs_ref and decl.s_ref == "same-run" and runnable
    ref = RefSpeedup()
    if needs_ref and not same_run:
        ref.notes.append(
            "s_ref: the task opts out of the same-run reference (tests/run.toml s_ref = 'calibration')"
            if decl.s_ref == "calibration"
            else "s_ref: the task has no runnable reference solution (solution/solve.sh)"
            if inside
            else f"s_ref: the candidate's sources ({decl.programs['candidate']}) are not in {workdir}, "
            "where the reference is derived"
        )
    metrics: dict[str, float] = {}
    lock = MeasurementLock(cores=cores, timeout=cfg.verifier.timeout_sec, label=f"verify {task.name}")
    try:
        calibrate = needs_ref and not same_run and runnable and decl.time != "instructions"
        if calibrate:
            ref = calibration_s_ref(task, ref)
            calibrate = lookup_calibration(task) is None
        if same_run or calibrate:
            assert pristine_workdir is not None
            t0 = time.monotonic()
            ref_dir, cached = derive_reference(
                task,
                pristine_workdir,
                workdir,
                root,
                cores,
                runner.env,
                runner.runtime_ro,
                scratch,
                env_key,
            )
            runner.add_program(PROGRAM, decl.programs["candidate"], [(ref_dir, workdir)])
            details["reference_program"] = {
                "from": "solution/solve.sh",
                "cached": cached,
                "derive_s": round(time.monotonic() - t0, 3),
            }
        for name in runner.programs:
            if name != PROGRAM:
                runner.screen(name)
        for name in runner.programs:
            runner.build(name)
        metrics["correctness_runs"] = float(runner.correctness("candidate"))
        metrics["correct"] = 1.0
        if calibrate:
            ref = calibrate_here(task, runner, settings_from(pm), lock, ref)
            runner.programs.pop(PROGRAM)
        if decl.time == "instructions":
            counts = runner.count(decl.count_rounds)
        else:
            res = runner.time(settings_from(pm), lock)
    except StepFailed as exc:
        details["failed_side"] = exc.side
        details["steps"] = runner.log
        if exc.side != "candidate":
            which = "reference solution" if exc.side == PROGRAM else exc.side
            raise LooplabError(f"{task.name}: the {which} program failed in the verifier: {exc}") from None
        metrics["correct"] = 0.0
        return _finish(MeasuredReward(reward=0.0, reason=str(exc), metrics=metrics, details=details), log_dir)
    details["steps"] = runner.log
    if decl.time == "instructions":
        speedup = _counted_speedup(counts, details, metrics)
        if same_run:
            ref = ref.model_copy(
                update={"value": sum(counts["baseline"]) / max(sum(counts[PROGRAM]), 1), "source": SAME_RUN}
            )
        return _score(task, formula, speedup, metrics, details, log_dir, ref)
    _paired_details(res, details, metrics)
    if same_run:
        r = res.others_speedup[PROGRAM]
        ref = ref.model_copy(
            update={"value": r.speedup, "source": SAME_RUN, "ci_low": r.ci_low, "ci_high": r.ci_high}
        )
        details["reference"] = {
            "speedup": r.speedup,
            "ci_low": r.ci_low,
            "ci_high": r.ci_high,
            "rel_half_width": r.rel_half_width,
            "median_s": res.others[PROGRAM].median_s,
            "cv": res.others[PROGRAM].cv,
        }
        metrics.update(
            reference_speedup=r.speedup,
            reference_ci_low=r.ci_low,
            reference_ci_high=r.ci_high,
            reference_s=res.others[PROGRAM].median_s,
        )
    return _score(task, formula, res.speedup, metrics, details, log_dir, ref)


def _counted_speedup(
    counts: dict[str, list[int]], details: dict[str, Any], metrics: dict[str, float]
) -> float:
    """Baseline over candidate instructions, summed over the counted rounds (each on a fresh input)."""
    base, cand = sum(counts["baseline"]), sum(counts["candidate"])
    details.update(mode="instructions", instructions=counts)
    metrics.update(baseline_instructions=float(base), candidate_instructions=float(cand))
    return base / max(cand, 1)


def _score(
    task: Task,
    formula: str,
    speedup: float,
    metrics: dict[str, float],
    details: dict[str, Any],
    log_dir: Path,
    ref: RefSpeedup | None = None,
) -> MeasuredReward:
    """The reward of a measured ``speedup``: ``s_ref`` (``ref``, else calibration or constants),
    the formula, and no reward for noise."""
    mode = details.get("mode")
    if ref is None or ref.value is None:  # no same-run reference, no calibration made here
        legacy = legacy_s_ref(task)
        ref = legacy.model_copy(update={"notes": [*(ref.notes if ref else []), *legacy.notes]})
    s_ref = ref.value
    details.update(speedup=speedup, s_ref=s_ref, s_ref_source=ref.source, notes=ref.notes)
    if ref.source == SAME_RUN:
        details["s_ref_ci"] = [ref.ci_low, ref.ci_high]
    rec = ref.calibration
    if rec is not None:
        details["calibration"] = {
            "fingerprint": rec.fingerprint.key,
            "machine": rec.fingerprint.describe(),
            "measured_at": rec.measured_at,
            "made_by_this_verification": ref.calibrated_now,
            "runs": rec.runs,
            "ci_low": rec.ci_low,
            "ci_high": rec.ci_high,
        }
    metrics["speedup"] = speedup
    if s_ref is not None:
        metrics["s_ref"] = s_ref
    reason = None
    ci_low = details.get("speedup_ci_low") if mode == "paired" else None
    try:
        reward = reward_from_speedup(formula, speedup, s_ref)
    except (LooplabError, InvalidMeasurement) as exc:
        reward, reason = 0.0, f"no reward from speedup {speedup:.4g}: {exc}"
        if s_ref is None:
            reason += " (run `looplab calibrate TASK` or set [optimization] baseline/reference scores)"
    interval = reward_interval(formula, details, ref)
    if interval is not None:
        details["reward_ci"] = list(interval)
        metrics.update(reward_ci_low=interval[0], reward_ci_high=interval[1])
    if (
        reward > 0
        and ci_low is not None
        and ci_low <= 1.0
        and normalize_formula(formula or "log_speedup") != "ratio"
    ):
        # noise is not progress: a speedup whose interval reaches 1 is no speedup
        reward = 0.0
        reason = (
            f"speedup {speedup:.4g} is not distinguishable from 1 "
            f"({details.get('confidence', 0.95):.0%} CI low {ci_low:.4g} <= 1)"
        )
    details["reward"] = reward
    return _finish(MeasuredReward(reward=reward, reason=reason, metrics=metrics, details=details), log_dir)


def measure_exact(
    task: Task,
    runner: CandidateRunner,
    log_dir: Path,
    pristine_workdir: Path | None = None,
    workdir: str = "/app",
    env_key: str = "",
) -> tuple[MeasuredReward, ParsedReward]:
    """Score a task whose reward is not a timing (``mode = "exact"`` in ``tests/run.toml``).

    ``run_exact``: the candidate runs once in its jails on an input drawn now, and the
    trusted check's JSON is read as a reward file would be; a ``[looplab] reward`` formula
    then recomputes the reward from the metric (as for reported rewards). A candidate that
    does not build or run, or a check that fails, scores 0 with the reason. With
    ``reference = "solution"`` the reference program is derived from ``pristine_workdir``
    (as for a same-run ``s_ref``) and runs alongside the candidate. The caller closes ``runner``.
    """
    decl = runner.decl
    details: dict[str, Any] = {"mode": "exact", "runner": "declared", "programs": decl.programs}
    if decl.reference == PROGRAM:
        if pristine_workdir is None or not has_reference(task):
            raise LooplabError(
                f"{task.tests_dir / 'run.toml'}: field reference: the solution runs alongside the candidate, "
                "but there is no solution/solve.sh or no built environment to apply it to"
            )
        t0 = time.monotonic()
        ref_dir, cached = derive_reference(
            task,
            pristine_workdir,
            workdir,
            runner.root,
            runner.cores,
            runner.env,
            runner.runtime_ro,
            runner.scratch,
            env_key,
        )
        runner.add_program(PROGRAM, decl.programs["candidate"], [(ref_dir, workdir)])
        details["reference_program"] = {
            "from": "solution/solve.sh",
            "cached": cached,
            "derive_s": round(time.monotonic() - t0, 3),
            "alongside": True,
        }
    res = run_exact(runner)
    details.update({"steps": runner.log, "input_seeded": res.seed is not None})
    if res.data is None:
        parsed = ParsedReward(reason=res.reason, source="runner", extra={"correct": False})
    else:
        parsed = parse_reward_data(res.data, source="runner")
    reward, reason = parsed.reward, parsed.reason
    if parsed.reason is None and task.config.looplab.reward:
        details["reported_reward"] = parsed.reward
        reward, reason = reward_from_config(task.config, parsed.data())
    details["reward"] = reward
    return _finish(
        MeasuredReward(reward=reward, reason=reason, metrics=parsed.metrics, details=details), log_dir
    ), parsed
