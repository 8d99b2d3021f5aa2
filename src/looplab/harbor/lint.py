"""``looplab tasks lint``: the format problems of task folders, one line each naming file and field.

Checks, without building anything: task.toml parses and every value is valid (each error its
own line); keys no model knows; the files the layout needs (``instruction.md``,
``tests/test.sh``, each step's ``steps/<name>/instruction.md`` and a test.sh, a Dockerfile or
``docker_image``); step folders no ``[[steps]]`` entry names; tests or solution copied into the
image; a verifier declared to share the agent's environment (looplab's never does), or given an
image or environment of its own (not applied); ``os = "windows"`` and ``tpu``; unpinned
images (no tag, or ``latest``, and no digest), a compose sidecar's ``image`` included; a compose
file's unsupported keys and bad values (``harbor.compose``); and looplab's own: editable
globs that match no file of ``environment/``, and a ``[looplab]`` section without a
``measure``.
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from looplab.environment.dockerfile import parse_dockerfile, split_words
from looplab.environment.registry import parse_ref
from looplab.errors import LooplabError, validation_problems
from looplab.harbor import compose, verifier_env
from looplab.tasks.loader import SERVICE_REFUSAL, service_names
from looplab.tasks.model import TaskConfig, unknown_keys


@dataclass(frozen=True)
class Problem:
    file: Path
    field: str  # a task.toml key, a Dockerfile line ("line 3"), or "-" for the folder itself
    message: str

    def line(self) -> str:
        return f"{self.file}: {self.field}: {self.message}"


def lint_task(path: Path) -> list[Problem]:
    """Every problem of the task folder ``path`` (empty: it is clean)."""
    path = Path(path)
    toml_path = path / "task.toml"
    out: list[Problem] = []
    if not toml_path.is_file():
        return [Problem(path, "-", "missing task.toml")]
    try:
        raw = tomllib.loads(toml_path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        return [Problem(toml_path, "-", f"not valid TOML: {exc}")]
    try:
        cfg = TaskConfig.model_validate(raw)
    except ValidationError as exc:
        return [Problem(toml_path, *_split(p)) for p in validation_problems(exc, TaskConfig)]
    out += [
        Problem(toml_path, k, "unknown key (no Harbor or looplab field has this name)")
        for k in unknown_keys(cfg)
    ]
    out += _layout(path, toml_path, cfg)
    out += _environment(path, toml_path, cfg)
    out += _looplab(path, toml_path, raw, cfg)
    return out


def _split(problem: str) -> tuple[str, str]:
    """``field a.b: msg`` / ``unknown key 'a.b' ...`` / ``missing key 'a'`` as (field, message)."""
    if problem.startswith("field "):
        name, _, msg = problem[6:].partition(": ")
        return name, msg
    if "'" in problem:
        head, name, tail = problem.split("'", 2)
        return name, (head + tail).strip()
    return "-", problem


def _layout(path: Path, toml_path: Path, cfg: TaskConfig) -> list[Problem]:
    out = []
    shared_test = (path / "tests" / "test.sh").is_file()
    if cfg.steps:
        for i, step in enumerate(cfg.steps):
            d = path / "steps" / step.name
            if not (d / "instruction.md").is_file():
                out.append(Problem(toml_path, f"steps[{i}].name", f"missing {d / 'instruction.md'}"))
            if not shared_test and not (d / "tests" / "test.sh").is_file():
                out.append(
                    Problem(toml_path, f"steps[{i}].name", f"no test.sh in {d / 'tests'} nor in tests/")
                )
        declared = {s.name for s in cfg.steps}
        steps_dir = path / "steps"
        for extra in sorted(p.name for p in steps_dir.iterdir() if p.is_dir()) if steps_dir.is_dir() else []:
            if extra not in declared:
                out.append(
                    Problem(steps_dir / extra, "-", "a step folder no [[steps]] entry names (never run)")
                )
    else:
        if not (path / "instruction.md").is_file():
            out.append(Problem(path, "-", "missing instruction.md"))
        if not shared_test:
            out.append(Problem(path, "-", "missing tests/test.sh (the verifier entry point)"))
    try:
        services = service_names(path / "environment")
    except LooplabError:  # the compose file's own problems are its lines; its services are unknown
        services = None
    for i, hook in enumerate(cfg.verifier.collect):
        if services is not None and hook.service not in services:
            out.append(
                Problem(toml_path, f"verifier.collect[{i}].service", f"{hook.service!r}: {SERVICE_REFUSAL}")
            )
    for i, art in enumerate(cfg.artifacts):
        if services is not None and art.service not in services:
            out.append(Problem(toml_path, f"artifacts[{i}].service", f"{art.service!r}: {SERVICE_REFUSAL}"))
    for step in [st.name for st in cfg.steps] if cfg.steps else [None]:
        venv = verifier_env.resolve(cfg, path, step)
        at = f"steps.{step}.verifier" if step else "verifier"
        if venv.mode == "separate" and venv.own and venv.image is None:
            if not (venv.context / "Dockerfile").is_file():
                out.append(
                    Problem(
                        toml_path,
                        f"{at}.environment",
                        f"a separate verifier needs a docker_image "
                        f"or {venv.context / 'Dockerfile'} (Harbor refuses one with neither)",
                    )
                )
        elif venv.mode == "separate" and not venv.own and not cfg.environment.docker_image:
            out.append(
                Problem(
                    toml_path,
                    f"{at}.environment_mode",
                    "'separate' without an environment table or "
                    f"{venv.context / 'Dockerfile'}: Harbor refuses it; looplab runs test.sh on the "
                    "task's pristine environment with tests/ uploaded",
                )
            )
    if cfg.environment.tpu:
        out.append(Problem(toml_path, "environment.tpu", "TPUs are not supported (no TPU passthrough)"))
    if cfg.environment.os == "windows":
        out.append(
            Problem(toml_path, "environment.os", "'windows' environments are not supported (linux only)")
        )
    if cfg.verifier.environment_mode == "shared":
        out.append(
            Problem(
                toml_path,
                "verifier.environment_mode",
                "'shared': Harbor runs test.sh in the agent's container, where it sees the agent's whole "
                "environment; looplab's verifier is always a fresh sandbox on the pristine environment "
                "plus the carried files: state outside them (/tmp, HOME, processes) is not seen",
            )
        )
    return out


def _environment(path: Path, toml_path: Path, cfg: TaskConfig) -> list[Problem]:
    out = []
    env_dir = path / "environment"
    found = compose.compose_file(env_dir)
    if found is not None:
        issues = compose.problems(found)
        out += [Problem(found, where, msg) for where, msg in issues]
        if not issues:  # a sidecar's image is pinned as a FROM line is
            doc = compose.load_compose(found, env_dir)
            for name, svc in doc.sidecars().items():
                if svc.image:
                    out += _pinned(found, f"services.{name}.image", svc.image)
    image = cfg.environment.docker_image
    if image:
        out += _pinned(toml_path, "environment.docker_image", image)
        return out
    dockerfile = env_dir / "Dockerfile"
    if not dockerfile.is_file():
        if env_dir.is_dir():
            out.append(Problem(env_dir, "-", "no Dockerfile and no [environment] docker_image"))
        return out
    try:
        instructions = parse_dockerfile(dockerfile)
    except LooplabError as exc:
        return out + [Problem(dockerfile, "-", str(exc))]
    stages: set[str] = set()
    for ins in instructions:
        where = f"line {ins.line}"
        if ins.op == "FROM":
            words = split_words(ins.args)
            if words and words[0] not in stages and words[0] != "scratch" and "$" not in words[0]:
                out += _pinned(dockerfile, where, words[0])
            if len(words) >= 3 and words[1].upper() == "AS":
                stages.add(words[2])
        elif ins.op in ("COPY", "ADD") and "from" not in ins.flags:
            words = ins.json_args() or split_words(ins.args)
            for src in words[:-1]:
                first = src.lstrip("./").split("/")[0]
                if (
                    first in ("tests", "solution")
                    or src.endswith(("test.sh", "solve.sh"))
                    or ".." in src.split("/")
                ):
                    out.append(
                        Problem(dockerfile, where, f"{ins.op} {src}: tests or solution copied into the image")
                    )
    return out


def _pinned(file: Path, field: str, image: str) -> list[Problem]:
    try:
        ref = parse_ref(image)
    except LooplabError as exc:
        return [Problem(file, field, str(exc))]
    if ref.digest is None and ref.tag == "latest":
        return [
            Problem(file, field, f"image {image!r} is not pinned (give a tag other than latest, or a digest)")
        ]
    return []


def _looplab(path: Path, toml_path: Path, raw: dict, cfg: TaskConfig) -> list[Problem]:
    if "looplab" not in raw:
        return []
    out = []
    section = raw["looplab"] if isinstance(raw["looplab"], dict) else {}
    if "measure" not in section:
        out.append(Problem(toml_path, "looplab.measure", "a [looplab] section without a measure"))
    env_dir = path / "environment"
    files = (
        [p.relative_to(env_dir).as_posix() for p in env_dir.rglob("*") if p.is_file()]
        if env_dir.is_dir()
        else []
    )
    for i, glob in enumerate(cfg.looplab.editable):
        g = glob.lstrip("/")
        if not any(fnmatch.fnmatch(f, g) or fnmatch.fnmatch(f, "*/" + g) for f in files):
            out.append(
                Problem(
                    toml_path,
                    f"looplab.editable[{i}]",
                    f"{glob!r} matches no file of environment/ (only files the agent creates are carried)",
                )
            )
    return out
