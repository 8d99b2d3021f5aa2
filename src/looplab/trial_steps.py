"""A multi-step trial (``[[steps]]``): its steps in order, then the trial's record from theirs.

Every step runs its agent phase and its sealed verification (``trial_plan.run_plan``) in the one
agent sandbox the trial keeps (``trial_plan.Session``). After each step, ``min_reward`` or a step
without a verifier result stops the rest. The trial's rewards combine the steps'
(``harbor.steps.combine``); its agent_result sums their usage and its timing spans theirs.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from looplab import cancel
from looplab.environment.build import Environment
from looplab.harbor.steps import combine, min_reward_failure
from looplab.harbor.steps import plans as step_plans
from looplab.records.layout import TrialPaths
from looplab.records.results import TrialResult
from looplab.tasks.loader import Task
from looplab.trial_config import TrialConfig
from looplab.trial_plan import Workspace, exception_info, open_session, run_plan
from looplab.verify.reward_file import parse_reward_data


def run_steps(
    task: Task, env: Environment, cfg: TrialConfig, paths: TrialPaths, ws: Workspace, result: TrialResult
) -> None:
    """A multi-step task: each step's agent phase and verifier in order, in one kept agent sandbox;
    ``min_reward`` or a step without a verifier result stops the rest (``looplab.harbor.steps``).
    The session's sandbox is stopped by ``ws.close()`` (the trial's clean-up)."""
    open_session(task, cfg, ws)
    result.step_results = []
    stopped: str | None = None
    failure = "agent_error"  # what a step's exception makes the trial: verifier_error when verifying raised
    for plan in step_plans(task):
        assert plan.name is not None
        step_paths = paths.step(plan.name)
        rec: dict[str, Any] = {"step_name": plan.name, "timing": {}}
        result.step_results.append(rec)
        try:
            run = run_plan(
                task, env, cfg, step_paths, ws, plan, rec["timing"], partial(rec.__setitem__, "agent_result")
            )
        except cancel.Cancelled:
            result.agent_result = _steps_agent_result(result.step_results)
            raise
        except Exception as exc:  # a set-up script or healthcheck failed, or the harness did
            rec["exception_info"] = exception_info(exc)
            stopped = f"step {plan.name!r} failed: {type(exc).__name__}: {exc}"
            break
        for k in ("agent_execution", "verifier"):  # Harbor's per-step timing fields
            if k in rec["timing"]:
                rec[k] = rec["timing"][k]
        rec["agent_result"] = run.agent_result
        if run.artifacts:
            rec["artifacts"] = run.artifacts
        if run.outcome.stop_reason == "error":
            rec["exception_info"] = {"type": "AgentError", "message": run.outcome.error or "the agent failed"}
        if run.verifier_error is not None:
            rec["exception_info"] = run.verifier_error
            stopped = f"step {plan.name!r}: its verifier failed"
            failure = "verifier_error"
            break
        rec["verifier_result"] = run.vr.to_json()
        rec["reward"] = run.vr.reward
        miss = min_reward_failure(run.vr.rewards, plan.thresholds)
        if miss is not None:
            stopped = f"step {plan.name!r}: {miss}"
            break
    result.agent_result = _steps_agent_result(result.step_results)
    for phase in ("agent_execution", "verifier"):  # the trial's phases span its steps'
        spans = [r["timing"][phase] for r in result.step_results if phase in r["timing"]]
        if spans:
            result.timing[phase] = {
                "started_at": spans[0].get("started_at"),
                "finished_at": spans[-1].get("finished_at"),
                "duration_s": round(sum(x.get("duration_s") or 0 for x in spans), 3),
            }
    verified = [r["verifier_result"] for r in result.step_results if "verifier_result" in r]
    if verified:
        result.sealed = all(v.get("sealed") for v in verified)
    strategy = task.config.multi_step_reward_strategy
    combined = combine(strategy, [r.get("verifier_result", {}).get("rewards") for r in result.step_results])
    result.multi_step = {
        "strategy": strategy,
        "steps": [s.name for s in task.config.steps or []],
        "steps_run": [r["step_name"] for r in result.step_results],
        "stopped": stopped,
    }
    if combined is not None:
        parsed = parse_reward_data(combined, "steps", task.config.looplab.primary_reward)
        result.verifier_result = {"rewards": combined, "reward": parsed.reward, "primary": parsed.primary}
        result.reward = parsed.reward
    errors = [r for r in result.step_results if r.get("exception_info")]
    if combined is None:
        result.status = failure if errors else "verifier_error"
        result.exception_info = (errors[-1]["exception_info"] if errors else None) or {
            "type": "NoStepVerified",
            "message": stopped or "no step was verified",
        }
        result.reward = None
    elif errors:
        result.status = failure
        result.exception_info = errors[-1]["exception_info"]
    else:
        result.status = "completed"


def _steps_agent_result(steps: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The trial's agent_result of a multi-step trial: the steps' usage summed, the last stop reason."""
    results = [s["agent_result"] for s in steps if s.get("agent_result")]
    if not results:
        return None
    usage: dict[str, Any] = {}
    for r in results:
        for k, v in (r.get("usage") or {}).items():
            if isinstance(v, int | float) and not isinstance(v, bool):
                usage[k] = (usage.get(k) or 0) + v
            else:
                usage.setdefault(k, v)
    return {"stop_reason": results[-1].get("stop_reason"), "usage": usage, "steps": len(results)}
