"""The two simplest agents: ``nop`` (does nothing) and ``oracle`` (runs the task's solution).

Only the oracle ever sees ``solution/``: the trial mounts it at ``/solution`` for
agents whose ``needs_solution`` is true, and for no other; ``[solution] env`` is set for
solve.sh alone.
"""

from __future__ import annotations

from looplab.agents.base import Agent, AgentContext, AgentOutcome, Budget
from looplab.sandbox.base import Sandbox


class NopAgent(Agent):
    name = "nop"

    def run(self, instruction: str, sandbox: Sandbox, budget: Budget, ctx: AgentContext) -> AgentOutcome:
        ctx.trajectory.event("finish", reason="nop agent does nothing")
        return AgentOutcome(stop_reason="finished")


class OracleAgent(Agent):
    name = "oracle"
    needs_solution = True

    def run(self, instruction: str, sandbox: Sandbox, budget: Budget, ctx: AgentContext) -> AgentOutcome:
        cmd = f"bash {ctx.solution_path}/solve.sh"
        ctx.trajectory.event("command", command=cmd)
        env = ctx.solution_env or None
        r = sandbox.exec(cmd, timeout=max(1.0, budget.remaining()), cwd=ctx.workdir, env=env)
        ctx.trajectory.observation(r, tail=4000)
        (ctx.logs_dir / "oracle.txt").write_text(f"$ {cmd}\n[exit {r.exit_code}]\n{r.stdout}\n{r.stderr}")
        if r.timed_out:
            return AgentOutcome(stop_reason="timeout", error="solve.sh timed out")
        if r.exit_code != 0:
            return AgentOutcome(stop_reason="error", error=f"solve.sh exited {r.exit_code}")
        return AgentOutcome(stop_reason="finished")
