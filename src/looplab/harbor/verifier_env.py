"""Harbor's separate verifier: which environment a verification's test.sh runs in.

Harbor resolves the mode of each verification (the task's, or a step's): an explicit
``environment_mode`` (a step's over the task's), else ``separate`` where an ``environment`` table is
declared (``[steps.verifier.environment]``, ``[verifier.environment]``), else ``shared`` (test.sh in
the agent's container). A separate verifier's environment is the step's table, else the task's,
else a copy of ``[environment]``; it starts from the step's ``steps/<name>/tests/`` folder when
there is one, else ``tests/``: the table's ``docker_image``, else that folder's ``Dockerfile`` built
with the folder as its context. Nothing is uploaded to it: the image holds ``/tests``. The
agent's environment is gone by then; only the collected artifacts (put back at their source
paths) and ``/logs/artifacts`` cross, and ``/logs/verifier`` starts empty.

looplab's verifier is always a fresh sandbox of its own. A separate verification gets an
environment of its own (``own``: built here in image mode, cached like the task's) when an
environment table is declared or the tests folder has a Dockerfile; otherwise (and for
``shared``) test.sh runs on the task's pristine environment with ``tests/`` uploaded to
``/tests`` and the editable files carried, which Harbor refuses for a separate verifier with
neither an image nor a Dockerfile (``tasks lint`` says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from looplab.environment.build import Environment
from looplab.errors import LooplabError
from looplab.harbor.service_images import build_image
from looplab.tasks.loader import Task, generated_dockerfile
from looplab.tasks.model import EnvironmentSection, TaskConfig


@dataclass
class VerifierEnv:
    """How one verification is run, as Harbor resolves it."""

    mode: str  # shared | separate
    section: EnvironmentSection | None  # the declared environment table (a step's or the task's)
    context: Path  # the folder a separate verifier's environment starts from
    own: bool  # whether it gets an environment of its own (not the task's)

    @property
    def image(self) -> str | None:
        return (self.section or EnvironmentSection()).docker_image if self.own else None

    def record(self) -> dict[str, object]:
        return {
            "mode": self.mode,
            "own_environment": self.own,
            **({"image": self.image} if self.image else {}),
            **({"context": str(self.context)} if self.own and not self.image else {}),
        }


def resolve(cfg: TaskConfig, folder: Path, step: str | None = None) -> VerifierEnv:
    """The verification of the task in ``folder`` (``step`` None) or of one of its steps."""
    task_v = cfg.verifier
    step_v = next((s.verifier for s in cfg.steps or [] if s.name == step), None) if step else None
    mode = None
    for v in (step_v, task_v):
        if v is not None and mode is None:
            mode = v.environment_mode or ("separate" if v.environment is not None else None)
    mode = mode or "shared"
    section = (step_v.environment if step_v is not None else None) or task_v.environment
    context = folder / "tests"
    if step is not None and (folder / "steps" / step / "tests").is_dir():
        context = folder / "steps" / step / "tests"
    inherited = cfg.environment if section is None else section
    own = mode == "separate" and (section is not None or (context / "Dockerfile").is_file())
    if own and section is None:  # a copy of [environment]: its image, if it names one
        section = inherited.model_copy(update={"workdir": inherited.workdir})
    return VerifierEnv(mode, section, context, own)


def build(task: Task, venv: VerifierEnv) -> Environment:
    """A separate verifier's own environment: its ``docker_image`` pulled, else its tests folder's
    Dockerfile built, in image mode."""
    assert venv.own and venv.section is not None
    image = venv.section.docker_image
    if image:
        context, dockerfile = task.path / ".looplab-verifier", generated_dockerfile(image)
    elif (venv.context / "Dockerfile").is_file():
        context, dockerfile = venv.context, venv.context / "Dockerfile"
    else:
        raise LooplabError(
            f"{task.path / 'task.toml'}: field verifier.environment: a separate verifier needs a "
            f"docker_image or {venv.context / 'Dockerfile'} (Harbor refuses one with neither)"
        )
    try:
        return build_image(task, "verifier", context, dockerfile, venv.section)
    except LooplabError as exc:
        raise LooplabError(f"separate verifier environment: {exc}") from None
