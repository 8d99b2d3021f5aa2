"""The ``command`` agent: each iteration runs a user's script in the sandbox to propose a change.

No model and no API key: the script is the search strategy (a parameter sweep, a
compiler-flag search, a random mutation, a grid). It runs inside the agent's
sandbox, in the working folder, with the pipeline writable, and edits files there.
Give it as ``--ak script=FILE`` (a host file: its text is sent into the sandbox and
run by its ``#!`` line, ``bash`` without one) or ``--ak command="SHELL LINE"`` (run
as is, for tools already in the sandbox). In a lab, the script sees
``LOOPLAB_EXPERIMENT`` (this experiment's number), ``LOOPLAB_HISTORY`` (a JSONL
file of earlier experiments: score, kept, notes...), ``LOOPLAB_PIPELINE_DIR``,
``LOOPLAB_DATA_DIR`` and ``LOOPLAB_NOTES``: a file to write a one-line description of
the change into (else the last line the script prints is the note). A script that
wraps a paid tool can report its spend as JSON in ``LOOPLAB_USAGE``
(``{"input_tokens", "output_tokens", "cost_usd"}``). A non-zero exit is an agent
error; the files it changed are still what the lab evaluates.
"""

from __future__ import annotations

from pathlib import Path

from looplab.agents.base import Agent, AgentContext, AgentOutcome, Budget
from looplab.errors import LooplabError
from looplab.sandbox.base import Sandbox

SCRIPT_IN_SANDBOX = "/tmp/.looplab-command-agent"


class CommandAgent(Agent):
    name = "command"

    def __init__(self, script: str | None = None, command: str | None = None, timeout: float | None = None):
        if bool(script) == bool(command):
            raise LooplabError("the command agent needs exactly one of --ak script=FILE or --ak command=LINE")
        self.script_text: str | None = None
        if script:
            p = Path(script)
            if not p.is_file():
                raise LooplabError(f"command agent: script {p} not found")
            self.script_text = p.read_text()
            self.script_name = p.name
        self.command = command
        self.timeout = float(timeout) if timeout is not None else None

    def run(self, instruction: str, sandbox: Sandbox, budget: Budget, ctx: AgentContext) -> AgentOutcome:
        traj = ctx.trajectory
        if self.script_text is not None:
            put = sandbox.exec(
                ["/bin/sh", "-c", f"cat > {SCRIPT_IN_SANDBOX} && chmod 700 {SCRIPT_IN_SANDBOX}"],
                stdin=self.script_text,
                timeout=30,
            )
            if not put.ok:
                return AgentOutcome(
                    stop_reason="error", error=f"could not install the script: {put.stderr.strip()}"
                )
            first = self.script_text.splitlines()[0] if self.script_text else ""
            cmd: str | list[str] = (
                [SCRIPT_IN_SANDBOX] if first.startswith("#!") else ["bash", SCRIPT_IN_SANDBOX]
            )
            shown = f"script {self.script_name}"
        else:
            cmd = str(self.command)
            shown = str(self.command)
        timeout = budget.remaining() if self.timeout is None else min(self.timeout, budget.remaining())
        traj.event("command", tool="shell", command=shown)
        r = sandbox.exec(cmd, timeout=max(0.1, timeout), cwd=ctx.workdir)
        traj.observation(r)
        (ctx.logs_dir / "command.txt").write_text(f"$ {shown}\n[exit {r.exit_code}]\n{r.stdout}\n{r.stderr}")
        lines = [ln.strip() for ln in r.stdout.splitlines() if ln.strip()]
        notes = lines[-1][:500] if lines else ""
        if r.timed_out:
            return AgentOutcome(stop_reason="timeout", notes=notes, error="the command timed out")
        if r.exit_code != 0:
            last = (r.stderr.strip() or r.stdout.strip() or "no output").splitlines()[-1][:300]
            return AgentOutcome(stop_reason="error", notes=notes, error=f"exit {r.exit_code}: {last}")
        traj.event("finish", reason="command finished")
        return AgentOutcome(stop_reason="finished", notes=notes)
