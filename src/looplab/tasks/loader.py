"""Load and validate a task directory (Harbor/AutoLab layout) into a ``Task``.

Errors are one line naming the file, every bad field and the problem; unknown keys
of foreign sections are kept on the model and listed in ``Task.warnings``; an unknown
key in ``[looplab]`` is an error that lists the valid keys.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from looplab.errors import LooplabError, validation_message
from looplab.harbor.compose import compose_file, load_compose
from looplab.tasks.model import TaskConfig, unknown_keys


@dataclass
class Task:
    name: str
    path: Path
    config: TaskConfig
    instruction: str
    warnings: list[str] = field(default_factory=list)
    overlay: Path | None = None  # the overlay file that gave this foreign task its [looplab] section

    @property
    def native(self) -> bool:
        """A looplab-native task: its own task.toml has a [looplab] section (an overlay's does not count)."""
        return "looplab" in self.config.model_fields_set and self.overlay is None

    @property
    def environment_dir(self) -> Path:
        return self.path / "environment"

    @property
    def tests_dir(self) -> Path:
        return self.path / "tests"

    @property
    def solution_dir(self) -> Path:
        return self.path / "solution"

    @property
    def dockerfile(self) -> Path | None:
        """The Dockerfile to build: ``[environment] docker_image`` is one line (``FROM image``),
        written into looplab's cache, else ``environment/Dockerfile`` when there is one."""
        image = self.config.environment.docker_image
        if image:
            return generated_dockerfile(image)
        p = self.environment_dir / "Dockerfile"
        return p if p.is_file() else None

    @property
    def multi_step(self) -> bool:
        return bool(self.config.steps)

    def step_dir(self, name: str) -> Path:
        return self.path / "steps" / name

    def step_instruction(self, name: str) -> str:
        return (self.step_dir(name) / "instruction.md").read_text(errors="replace")


SERVICE_REFUSAL = (
    "names no service: artifacts and collect hooks run in main (the agent's environment) or a "
    "sidecar of environment/docker-compose.yaml (docs/task-format.md, 'Compose environments')"
)


def generated_dockerfile(image: str) -> Path:
    """A one-line Dockerfile ``FROM image`` in the cache (content-addressed, written once)."""
    import hashlib

    from looplab.fsutil import atomic_write_text
    from looplab.settings import runtime_dir

    text = f"FROM {image}\n"
    path = runtime_dir() / "docker-image" / hashlib.sha256(text.encode()).hexdigest()[:16] / "Dockerfile"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, text)
    return path


def format_validation_error(file: Path, exc: ValidationError) -> str:
    """Every error of a task.toml in one line; an unknown [looplab] key lists the valid ones."""
    return validation_message(str(file), exc, TaskConfig)


def load_task_config(toml_path: Path) -> tuple[TaskConfig, list[str]]:
    try:
        raw = tomllib.loads(toml_path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise LooplabError(f"{toml_path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise LooplabError(f"{toml_path}: not UTF-8 text") from None
    try:
        cfg = TaskConfig.model_validate(raw)
    except ValidationError as exc:
        raise LooplabError(format_validation_error(toml_path, exc)) from None
    warnings = [f"{toml_path}: unknown key '{k}' (kept, ignored)" for k in unknown_keys(cfg)]
    return cfg, warnings


def load_task(path: str | Path) -> Task:
    path = Path(path).resolve()
    if not path.is_dir():
        raise LooplabError(f"{path}: not a task directory")
    toml_path = path / "task.toml"
    if not toml_path.is_file():
        raise LooplabError(f"{path}: missing task.toml")
    cfg, warnings = load_task_config(toml_path)
    from looplab.overlays import apply_overlay, overlay_file

    overlay = overlay_file(path.name)
    if overlay is not None:
        cfg = apply_overlay(cfg, toml_path, overlay)
    instr_path = path / "instruction.md"
    env_dir = path / "environment"
    compose = compose_file(env_dir)
    if compose is not None:  # checked now: a bad key is one line before anything is built
        load_compose(compose, env_dir)
    _check_services(toml_path, cfg, service_names(env_dir))
    if cfg.environment.tpu:
        raise LooplabError(f"{toml_path}: field environment.tpu: TPUs are not supported (no TPU passthrough)")
    if cfg.environment.os == "windows":
        raise LooplabError(
            f"{toml_path}: field environment.os: 'windows' environments are not supported (linux only)"
        )
    if cfg.steps:
        _check_steps(path, toml_path, cfg)
    else:
        if not instr_path.is_file():
            raise LooplabError(f"{path}: missing instruction.md")
        if not (path / "tests" / "test.sh").is_file():
            raise LooplabError(f"{path}: missing tests/test.sh (the verifier entry point)")
    if env_dir.exists() and not (env_dir / "Dockerfile").is_file() and not cfg.environment.docker_image:
        warnings.append(f"{env_dir}: no Dockerfile; the environment is the host plus this folder's files")
    for glob in cfg.looplab.editable:
        if not glob.strip() or ".." in Path(glob).parts:
            raise LooplabError(f"{toml_path}: field looplab.editable: bad glob {glob!r}")
    return Task(
        name=path.name,
        path=path,
        config=cfg,
        instruction=instr_path.read_text(errors="replace") if instr_path.is_file() else "",
        warnings=warnings,
        overlay=overlay,
    )


def _check_steps(path: Path, toml_path: Path, cfg: TaskConfig) -> None:
    """Every step has its instruction and a test.sh (its own, or the task's shared one)."""
    shared_test = (path / "tests" / "test.sh").is_file()
    for i, step in enumerate(cfg.steps or []):
        d = path / "steps" / step.name
        if not (d / "instruction.md").is_file():
            raise LooplabError(f"{toml_path}: field steps[{i}] ({step.name}): missing {d / 'instruction.md'}")
        if not shared_test and not (d / "tests" / "test.sh").is_file():
            where = f"{toml_path}: field steps[{i}] ({step.name})"
            raise LooplabError(f"{where}: no test.sh in {d / 'tests'} nor in {path / 'tests'}")


def service_names(env_dir: Path) -> set[str]:
    """``main`` and the sidecars of the task's compose file (already checked), if it has one."""
    compose = compose_file(env_dir)
    return {"main", *(load_compose(compose, env_dir).doc.services if compose else ())}


def _check_services(toml_path: Path, cfg: TaskConfig, services: set[str]) -> None:
    """Artifacts and collect hooks name ``main`` (the agent's environment) or a compose sidecar."""
    named = [(f"artifacts[{i}]", a.service) for i, a in enumerate(cfg.artifacts)]
    named += [(f"verifier.collect[{i}]", c.service) for i, c in enumerate(cfg.verifier.collect)]
    for step in cfg.steps or []:
        named += [(f"steps.{step.name}.artifacts[{i}]", a.service) for i, a in enumerate(step.artifacts)]
    for where, service in named:
        if service not in services:
            raise LooplabError(f"{toml_path}: field {where}.service: {service!r}: {SERVICE_REFUSAL}")


def discover_tasks(paths: list[Path]) -> list[Path]:
    """Task folders named by ``paths``: a task folder itself, or a folder of task folders."""
    found: list[Path] = []
    for p in paths:
        p = Path(p)
        if (p / "task.toml").is_file():
            found.append(p)
        elif p.is_dir():
            kids = sorted(c for c in p.iterdir() if (c / "task.toml").is_file())
            if not kids:
                raise LooplabError(f"{p}: neither a task folder nor a folder of tasks")
            found += kids
        else:
            raise LooplabError(f"{p}: no such task folder")
    return found
