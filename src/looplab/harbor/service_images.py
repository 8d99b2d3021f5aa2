"""Environments built for a trial besides the agent's own: a compose sidecar's image, a separate
verifier's image.

Each is built as the task's environment is, in image mode (``environment.build``), from a build
context and a Dockerfile (``BuildInput``): a sidecar's ``build:`` context, a generated one-line
Dockerfile for its ``image:``, or a separate verifier's ``tests/`` folder. ``dockerfile_command``
resolves the ENTRYPOINT and CMD a Dockerfile ends with, as Docker does (a sidecar without a
``command`` runs them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from looplab.environment.build import Environment, build_environment
from looplab.environment.dockerfile import parse_dockerfile
from looplab.environment.image_build import resolve_bases
from looplab.environment.images import image_command
from looplab.environment.registry import RegistryOptions
from looplab.errors import LooplabError
from looplab.harbor.compose import Compose
from looplab.harbor.compose_model import ComposeBuild, ComposeService
from looplab.tasks.loader import Task, generated_dockerfile
from looplab.tasks.model import EnvironmentSection


@dataclass
class BuildInput(Task):
    """An image to build, as a task-shaped input: its context folder and Dockerfile."""

    context_dir: Path | None = None
    dockerfile_path: Path | None = None

    @property
    def environment_dir(self) -> Path:
        assert self.context_dir is not None
        return self.context_dir

    @property
    def dockerfile(self) -> Path | None:
        return self.dockerfile_path


def build_image(
    task: Task, name: str, context: Path, dockerfile: Path, environment: EnvironmentSection | None = None
) -> Environment:
    """Build ``dockerfile`` over ``context`` in image mode, under ``environment``'s resources, build
    limits and ``workdir`` (the task's, without its working folder, unless given)."""
    base = environment or task.config.environment.model_copy(update={"workdir": None})
    ecfg = base.model_copy(update={"docker_image": None})
    cfg = task.config.model_copy(update={"environment": ecfg})
    stask = BuildInput(
        name=f"{task.name}.{name}",
        path=task.path,
        config=cfg,
        instruction="",
        context_dir=context,
        dockerfile_path=dockerfile,
    )
    return build_environment(stask, base="image")


def build_sidecar(task: Task, compose: Compose, name: str) -> Environment:
    """The image of compose sidecar ``name``: its ``image:`` pulled, or its ``build:`` built."""
    svc = compose.doc.services[name]
    env_dir = task.environment_dir
    if svc.image:
        context, dockerfile = env_dir / f".looplab-service-{name}", generated_dockerfile(svc.image)
    else:
        b = build_of(svc)
        context = (env_dir / b.context).resolve()
        dockerfile = context / b.dockerfile
    try:
        return build_image(task, name, context, dockerfile)
    except LooplabError as exc:
        raise LooplabError(f"{compose.path}: services.{name}: {exc}") from None


def sidecar_command(task: Task, svc: ComposeService) -> tuple[list[str] | None, list[str] | None]:
    """A sidecar image's ENTRYPOINT and CMD: its Dockerfile's (stage by stage), else its base image's."""
    opts = RegistryOptions.from_env()
    if svc.image:
        return image_command(svc.image, opts)
    b = build_of(svc)
    return dockerfile_command(task.environment_dir / b.context / b.dockerfile, opts)


def build_of(svc: ComposeService) -> ComposeBuild:
    b = svc.build
    return b if isinstance(b, ComposeBuild) else ComposeBuild(context=b or ".")


def dockerfile_command(dockerfile: Path, opts: Any) -> tuple[list[str] | None, list[str] | None]:
    """The ENTRYPOINT and CMD the last stage of ``dockerfile`` ends with, as Docker resolves them:
    a stage inherits its base's (an earlier stage, or an image's config) unless it sets them, and
    setting ENTRYPOINT clears an inherited CMD; the shell form runs under ``/bin/sh -c``."""
    instructions = parse_dockerfile(dockerfile)
    bases = {ins.line: image for ins, image in resolve_bases(instructions, opts)}
    stages: list[dict[str, Any]] = []
    for ins in instructions:
        if ins.op == "FROM":
            words = ins.args.split()
            stages.append(
                {
                    "name": words[2].lower() if len(words) >= 3 and words[1].lower() == "as" else None,
                    "image": bases.get(ins.line),
                    "from": words[0].lower() if words else "",
                }
            )
        elif ins.op in ("ENTRYPOINT", "CMD") and stages:
            form = ins.json_args()
            value = form if form is not None else ["/bin/sh", "-c", ins.args]
            stages[-1][ins.op] = value  # a CMD of the same stage stays; an inherited one does not

    def resolve(i: int) -> tuple[list[str] | None, list[str] | None]:
        st = stages[i]
        if "ENTRYPOINT" in st:
            return st["ENTRYPOINT"], st.get("CMD")
        base_ep, base_cmd = None, None
        earlier = [j for j in range(i) if stages[j]["name"] == st["from"]]
        if earlier:
            base_ep, base_cmd = resolve(earlier[-1])
        elif st["image"]:
            base_ep, base_cmd = image_command(st["image"], opts)
        return base_ep, st.get("CMD", base_cmd)

    return resolve(len(stages) - 1) if stages else (None, None)
