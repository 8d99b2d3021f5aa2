"""The ``replay`` agent: runs a scripted list of steps from a YAML or JSON file.

For tests, demos and reproducing a trajectory. Steps (one key each):
``run: CMD`` (optional ``timeout``), ``write: {path, content}``, ``patch: {path, old,
new}`` (replace exactly one occurrence), ``diff: UNIFIED_DIFF`` (applied in the
working folder with ``patch -p1``, or ``-pN`` with ``strip: N``; e.g. the output of
``git diff``), ``dev_check: true``, ``sleep: SECONDS``, ``finish: true``. A step may
carry ``at: SECONDS`` to wait until that many seconds of the budget have passed
before it runs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from looplab.agents.base import Agent, AgentContext, AgentOutcome, Budget
from looplab.errors import LooplabError, validation_message
from looplab.sandbox.base import Sandbox

STEP_KINDS = ("run", "write", "patch", "diff", "dev_check", "sleep", "finish")


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")
    run: str | None = None
    timeout: float | None = None
    write: dict[str, str] | None = None
    patch: dict[str, str] | None = None
    diff: str | None = None
    strip: int | None = None
    dev_check: bool | None = None
    sleep: float | None = None
    finish: bool | None = None
    at: float | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Step:
        kinds = [k for k in STEP_KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"each step needs exactly one of {', '.join(STEP_KINDS)}; got {kinds or 'none'}")
        if self.write is not None and not {"path", "content"} <= set(self.write):
            raise ValueError("write needs 'path' and 'content'")
        if self.patch is not None and not {"path", "old", "new"} <= set(self.patch):
            raise ValueError("patch needs 'path', 'old' and 'new'")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in STEP_KINDS if getattr(self, k) is not None)


def load_script(path: str | Path) -> list[Step]:
    path = Path(path)
    if not path.is_file():
        raise LooplabError(f"{path}: replay script not found")
    try:
        data: Any = (
            json.loads(path.read_text()) if path.suffix == ".json" else yaml.safe_load(path.read_text())
        )
    except (ValueError, yaml.YAMLError) as exc:
        raise LooplabError(
            f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}"
        ) from None
    if isinstance(data, dict) and "steps" in data:
        data = data["steps"]
    if not isinstance(data, list):
        raise LooplabError(f"{path}: a replay script is a list of steps (or {{steps: [...]}})")
    steps = []
    for i, raw in enumerate(data):
        try:
            steps.append(Step.model_validate(raw))
        except ValidationError as exc:
            raise LooplabError(validation_message(f"{path}: step {i + 1}", exc, Step)) from None
    return steps


class ReplayAgent(Agent):
    name = "replay"

    def __init__(self, script: str | None = None, steps: list[Step] | None = None):
        if steps is None:
            if not script:
                raise LooplabError("the replay agent needs a script: --ak script=FILE.yaml")
            steps = load_script(script)
        self.steps = steps

    def run(self, instruction: str, sandbox: Sandbox, budget: Budget, ctx: AgentContext) -> AgentOutcome:
        traj = ctx.trajectory
        for step in self.steps:
            if budget.expired():
                return AgentOutcome(stop_reason="timeout")
            if step.at is not None and budget.elapsed() < step.at:
                time.sleep(min(step.at - budget.elapsed(), budget.remaining()))
            kind = step.kind
            if kind == "run":
                timeout = min(step.timeout or budget.remaining(), budget.remaining())
                traj.event("command", tool="shell", command=step.run)
                r = sandbox.exec(step.run or "", timeout=max(0.1, timeout), cwd=ctx.workdir)
                traj.observation(r)
            elif kind == "write":
                assert step.write is not None
                traj.event(
                    "command", tool="write_file", path=step.write["path"], bytes=len(step.write["content"])
                )
                r = sandbox.exec(
                    ["/bin/sh", "-c", 'cat > "$1"', "sh", step.write["path"]], stdin=step.write["content"]
                )
                traj.event("observation", exit_code=r.exit_code, stderr=r.stderr[-2000:])
            elif kind == "patch":
                assert step.patch is not None
                traj.event("command", tool="apply_edit", path=step.patch["path"])
                cur = sandbox.exec(["cat", step.patch["path"]])
                n = cur.stdout.count(step.patch["old"]) if cur.ok else 0
                if n != 1:
                    traj.event("observation", exit_code=1, error=f"old text found {n} times (need exactly 1)")
                    continue
                new = cur.stdout.replace(step.patch["old"], step.patch["new"])
                r = sandbox.exec(["/bin/sh", "-c", 'cat > "$1"', "sh", step.patch["path"]], stdin=new)
                traj.event("observation", exit_code=r.exit_code)
            elif kind == "diff":
                assert step.diff is not None
                strip = 1 if step.strip is None else step.strip
                traj.event("command", tool="apply_patch", strip=strip, diff=step.diff[:8000])
                r = sandbox.exec(
                    ["patch", f"-p{strip}", "--batch", "--forward", "--no-backup-if-mismatch"],
                    stdin=step.diff,
                    cwd=ctx.workdir,
                    timeout=60,
                )
                traj.event(
                    "observation", exit_code=r.exit_code, stdout=r.stdout[-4000:], stderr=r.stderr[-2000:]
                )
            elif kind == "dev_check":
                if ctx.dev_check is None:
                    traj.event("observation", error="this task has no dev check")
                    continue
                ctx.dev_check()
            elif kind == "sleep":
                time.sleep(min(step.sleep or 0.0, budget.remaining()))
            elif kind == "finish":
                traj.event("finish", reason="script finished")
                return AgentOutcome(stop_reason="finished")
        if budget.expired():
            return AgentOutcome(stop_reason="timeout")
        traj.event("finish", reason="end of script")
        return AgentOutcome(stop_reason="finished")
