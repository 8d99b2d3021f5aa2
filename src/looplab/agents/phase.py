"""The agent phase, one routine for a trial and a lab iteration: start, run under the deadline, stop.

The caller builds the sandbox (not started) and the agent's context. ``run_agent``
lets the agent adjust the sandbox spec (``prepare_sandbox``), starts the sandbox,
runs the agent in a worker thread and waits for it until the budget's deadline
plus a short grace; then the sandbox is stopped, so every process in it dies,
whether the agent returned or not. A cancellation (``looplab.cancel``, Ctrl-C) ends
the wait at once: the outcome's ``stop_reason`` is then ``cancelled``. The agent's
``cleanup`` always runs and the trajectory is always closed. An exception raised by the agent becomes an
``error`` outcome with its traceback in ``exception.txt`` of the agent's log folder.

With ``keep`` the sandbox is a multi-step trial's, prepared and started by the caller and kept
running after the phase, as Harbor keeps its container between steps: at the deadline only the
agent's own commands are killed (``Sandbox.kill_commands``), what they started in the
background stays, and the agent's ``cleanup`` is the caller's.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from looplab import cancel
from looplab.agents.base import Agent, AgentContext, AgentOutcome, Budget
from looplab.sandbox.base import Sandbox

KILL_GRACE_S = 5.0  # past the deadline before the sandbox is stopped under the agent
JOIN_AFTER_STOP_S = 30.0  # how long the stopped agent's thread gets to return
JOIN_AFTER_CANCEL_S = 1.0  # the same after Ctrl-C: the user waits for it


@dataclass
class PhaseResult:
    """How the agent phase went: the agent's outcome and where the time went."""

    outcome: AgentOutcome
    timed_out: bool
    setup_s: float  # prepare_sandbox + sandbox start + after_start
    agent_s: float  # the agent's own run, until it returned or the deadline passed
    teardown_s: float  # stopping the sandbox
    usage: dict[str, float] = field(default_factory=dict)  # the sandbox's resource use


def run_agent(
    agent: Agent,
    instruction: str,
    sandbox: Sandbox,
    budget: Budget,
    ctx: AgentContext,
    thread_name: str,
    after_start: Callable[[Sandbox], None] | None = None,
    before_stop: Callable[[Sandbox], None] | None = None,
    keep: bool = False,
) -> PhaseResult:
    """Run ``agent`` in ``sandbox`` (not yet started) until it returns or its deadline passes.

    ``after_start`` runs once the sandbox is up, before the agent (a raise skips the agent);
    ``before_stop`` once the agent is done (its processes killed), unless cancelled, while
    the sandbox still runs (a trial's collect hooks and artifacts)."""
    t0 = time.monotonic()
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["outcome"] = agent.run(instruction, sandbox, budget, ctx)
        except Exception as exc:
            box["outcome"] = AgentOutcome(stop_reason="error", error=f"{type(exc).__name__}: {exc}")
            box["traceback"] = traceback.format_exc()

    try:
        cancel.check()  # a cancelled job starts no sandbox
        if not keep:
            agent.prepare_sandbox(sandbox.spec, ctx)
            try:
                sandbox.start()
            except Exception:
                cancel.check()  # Ctrl-C stopped the sandbox while it started: cancelled, not broken
                raise
        if after_start is not None:
            after_start(sandbox)
        ta = time.monotonic()
        worker = threading.Thread(target=target, daemon=True, name=thread_name)
        worker.start()
        deadline = time.monotonic() + budget.remaining() + KILL_GRACE_S
        while worker.is_alive() and time.monotonic() < deadline and not cancel.requested():
            worker.join(timeout=min(0.2, max(0.0, deadline - time.monotonic())))
        cancelled = cancel.requested()
        timed_out = worker.is_alive() and not cancelled
        if keep and not cancelled:
            sandbox.kill_commands()  # a kept sandbox: the agent's commands end, its background stays
        if before_stop is not None and not cancelled:
            try:
                if not keep:
                    sandbox.kill_processes()  # the agent's processes end here, as when its container stops
                before_stop(sandbox)
            except Exception as exc:  # what runs after the agent never turns its outcome into an error
                ctx.trajectory.event("error", where="before_stop", error=f"{type(exc).__name__}: {exc}")
        tb = time.monotonic()
        if not keep or cancelled:
            sandbox.stop()  # the agent phase is over: every process in the sandbox dies now
        teardown_s = time.monotonic() - tb
        if timed_out:
            worker.join(timeout=JOIN_AFTER_STOP_S)
        elif cancelled:
            worker.join(timeout=JOIN_AFTER_CANCEL_S)
        outcome = box.get("outcome")
        if not isinstance(outcome, AgentOutcome):
            outcome = AgentOutcome(stop_reason="timeout")
        if timed_out:
            outcome.stop_reason = "timeout"
        if cancelled:
            outcome.stop_reason = "cancelled"
        usage = sandbox.usage()
        if "traceback" in box:
            (ctx.logs_dir / "exception.txt").write_text(str(box["traceback"]))
        ctx.trajectory.event("stop", stop_reason=outcome.stop_reason, error=outcome.error)
    finally:
        if not keep:
            sandbox.stop()
            agent.cleanup()
        ctx.trajectory.close()
    return PhaseResult(
        outcome=outcome,
        timed_out=timed_out,
        setup_s=ta - t0,
        agent_s=tb - ta,
        teardown_s=teardown_s,
        usage=usage,
    )
