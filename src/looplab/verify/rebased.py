"""Machine-independent scoring for AutoLab ``[optimization]`` tasks (``[looplab] rebase = true``).

AutoLab's test.sh scores a metric against fixed constants, the baseline and reference
scores measured on the authors' machine: ``0.5 * ln(speedup) / ln(ref_speedup)`` with
``speedup = baseline / metric`` (``metric / baseline`` for higher-is-better), 0 at or below
the baseline, capped at 1. Here the verifier also runs the *pristine* editable files
through the same test.sh, interleaved with the agent's run (pristine, agent, pristine),
and recomputes that formula with the measured baseline (the geometric mean of the
pristine runs that reported a metric) in place of the constant and the reference scaled by measured ÷ nominal
baseline. The formula is only recomputed when it reproduces the published reward from the
agent's own metric; otherwise the rebased reward is left out, with the reason.

Both rewards are recorded (``published_reward``, ``rebased_reward``); the trial's
``reward`` is the rebased one where it could be computed (``extra.reward_shown`` says which).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from looplab.environment.build import Environment
from looplab.fsutil import remove_tree
from looplab.sandbox.base import SandboxSpec
from looplab.sandbox.factory import make_sandbox
from looplab.tasks.loader import Task
from looplab.tasks.model import OptimizationSection
from looplab.verify.reward_file import ParsedReward, parse_reward_dir

FORMULA_TOLERANCE = 2e-4  # test.sh rounds the reward to 4 decimals


def wanted(task: Task) -> bool:
    """The task asks for rebased scoring and has what the formula needs."""
    opt = task.config.optimization
    return bool(
        task.config.looplab.rebase
        and opt is not None
        and opt.direction
        and opt.baseline is not None
        and opt.baseline.score
        and opt.reference is not None
        and opt.reference.score
    )


def log_speedup_reward(metric: float, baseline: float, reference: float, direction: str) -> float:
    """AutoLab's reward: half of the way to the reference's speed-up at the reference, in log space."""
    if metric <= 0 or baseline <= 0 or reference <= 0:
        return 0.0
    speedup = baseline / metric if direction == "lower" else metric / baseline
    ref_speedup = baseline / reference if direction == "lower" else reference / baseline
    if speedup <= 1.0 or ref_speedup <= 1.0:
        return 0.0
    return max(0.0, min(1.0, 0.5 * math.log(speedup) / math.log(ref_speedup)))


def metric_of(data: dict[str, Any], opt: OptimizationSection) -> float | None:
    """The metric test.sh reported: reward.json's ``metric``, or the key named by [optimization] metric."""
    for key in ("metric", opt.metric):
        v = data.get(key) if key else None
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v > 0:
            return float(v)
    return None


def rebase(opt: OptimizationSection, agent: ParsedReward, pristine: list[ParsedReward]) -> dict[str, Any]:
    """The rebased reward (or None and the reason) and what it was computed from."""
    assert opt.baseline is not None and opt.reference is not None and opt.direction is not None
    nominal, reference = float(opt.baseline.score or 0), float(opt.reference.score or 0)
    measured = [metric_of(p.data(), opt) for p in pristine]
    out: dict[str, Any] = {
        "baseline_nominal": nominal,
        "reference_nominal": reference,
        "pristine_metrics": measured,
        "rebased_reward": None,
    }
    ok = [m for m in measured if m is not None]
    reasons = [p.reason for p, m in zip(pristine, measured, strict=True) if m is None and p.reason]
    if reasons:  # one pristine run failed (a timeout under load): the others still measure the baseline
        out["pristine_failures"] = reasons
    if not ok:
        out["reason"] = "no pristine run reported a metric" + (f" ({reasons[0]})" if reasons else "")
        return out
    baseline = math.exp(sum(math.log(m) for m in ok) / len(ok))
    scaled_reference = reference * baseline / nominal
    out.update(baseline_measured=baseline, reference_scaled=scaled_reference)
    metric = metric_of(agent.data(), opt)
    if metric is None:  # the agent's run failed (a wrong answer, a build error): 0 either way
        out["rebased_reward"] = 0.0 if agent.reward == 0.0 else None
        if out["rebased_reward"] is None:
            out["reason"] = "the agent's run reported a reward but no metric"
        return out
    recomputed = log_speedup_reward(metric, nominal, reference, opt.direction)
    out["agent_metric"] = metric
    if abs(recomputed - agent.reward) > FORMULA_TOLERANCE:
        out["reason"] = (
            f"test.sh's reward {agent.reward:g} is not AutoLab's log-speedup formula of its metric "
            f"({recomputed:.4f}): not rebased"
        )
        return out
    out["rebased_reward"] = round(log_speedup_reward(metric, baseline, scaled_reference, opt.direction), 4)
    return out


def run_pristine(
    task: Task, env: Environment, spec: SandboxSpec, box_dir: Path, log_dir: Path, n: int, timeout: float
) -> ParsedReward:
    """Run test.sh on the pristine environment (the editable files untouched), as the agent's run was
    (under the agent's run's ``timeout``)."""
    from looplab.verify.roots import root_view, stage_verifier_root

    base = box_dir / f"pristine{n}"
    root = base / "root"
    try:
        with root_view(env, root):
            stage_verifier_root(task, root)
            for w in spec.writable:
                (root / w.lstrip("/")).mkdir(parents=True, exist_ok=True)
            sandbox = make_sandbox(dataclasses.replace(spec, root=root, name=f"{spec.name}-p{n}"[:40]))
            sandbox.start()
            try:
                r = sandbox.exec(["/bin/bash", "/tests/test.sh"], timeout=timeout, cwd=env.workdir)
                sandbox.kill_processes()
            finally:
                sandbox.stop()
            (log_dir / f"pristine{n}-stdout.txt").write_text(r.stdout)
            (log_dir / f"pristine{n}-stderr.txt").write_text(r.stderr)
            if r.timed_out:
                return ParsedReward(reason=f"the pristine run timed out after {timeout:g} s")
            logs = root / "logs" / "verifier"
            if any(d.is_symlink() for d in (root / "logs", logs)) or not logs.is_dir():
                return ParsedReward(reason="/logs/verifier was replaced in the pristine run")
            return parse_reward_dir(logs)
    finally:
        remove_tree(base)


def apply(task: Task, agent: ParsedReward, pristine: list[ParsedReward], result: Any) -> None:
    """Record both rewards on the verifier's result; its reward becomes the rebased one where there is one."""
    opt = task.config.optimization
    assert opt is not None
    published = float(result.reward)
    info = rebase(opt, agent, pristine)
    result.rewards["published_reward"] = published
    shown = "published"
    if info["rebased_reward"] is not None:
        result.rewards["rebased_reward"] = float(info["rebased_reward"])
        result.reward = float(info["rebased_reward"])
        result.rewards["reward"] = result.reward
        shown = "rebased"
    result.extra["reward_shown"] = shown
    result.measurement = {**(result.measurement or {}), "rebased": info}
