"""``lab.toml``: the pydantic model of a lab's configuration, and loading a lab from its folder.

A lab is a folder inside a git repository holding ``lab.toml``. It names the
pipeline (the paths, relative to the lab folder, that the agent may change: folders,
files or globs), the backend (``entry = "backend.py:Class"``, ``command = "..."``
printing the result JSON, or ``task = "NAME"`` to use a catalog task's sealed
verifier), the score's direction, the agent, the stopping conditions, the noise
policy and optional host services. Unknown keys and bad values are errors naming
the file and the dotted field. ``load_lab`` resolves everything against the repo:
pipeline paths become git pathspecs relative to the repository root.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from looplab.errors import LooplabError, validation_message
from looplab.measure.stats import binomial_upper_tail
from looplab.tasks.model import normalize_direction

LAB_FILE = "lab.toml"
GLOB_CHARS = set("*?[")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class LabSection(_Strict):
    name: str
    pipeline: list[str] = Field(default_factory=lambda: ["pipeline"])
    instructions: str = "AGENT.md"
    branch: str | None = None  # default: lab/<name>
    state_dir: str = ".looplab"

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError(f"{v!r} is not a usable name (letters, digits, '.', '_', '-'; at most 64)")
        return v

    @field_validator("pipeline", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("pipeline")
    @classmethod
    def _paths(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("needs at least one path the agent may change")
        for p in v:
            if not p.strip() or p.startswith("/") or ":" in p:
                raise ValueError(f"{p!r}: must be a path relative to the lab folder")
        return v


class HostService(_Strict):
    command: str
    port: int = Field(ge=1, le=65535)
    ready_timeout_sec: float = Field(default=30.0, gt=0)
    forward_to: list[Literal["agent", "eval"]] = Field(default_factory=lambda: ["agent", "eval"])


class BackendSection(_Strict):
    # "backend.py:ClassName" (a file relative to the lab) or "package.module:ClassName"
    entry: str | None = None
    command: str | None = None  # prints the EvalResult JSON on stdout
    task: str | None = None  # a catalog task name or task folder: its sealed verifier is the backend
    # extra files/folders the backend needs (relative to the lab)
    files: list[str] = Field(default_factory=list)
    metric: str = "reward"  # task backends: which number of the verifier's result is the score
    direction: Literal["lower", "higher"] = "lower"
    timeout_sec: float = Field(default=600.0, gt=0)
    memory_mb: int | None = Field(default=None, gt=0)
    host_service: HostService | None = None

    @field_validator("direction", mode="before")
    @classmethod
    def _direction(cls, v: Any) -> Any:
        return normalize_direction(v)

    @field_validator("entry")
    @classmethod
    def _entry(cls, v: str | None) -> str | None:
        if v is not None:
            mod, sep, cls_name = v.rpartition(":")
            if not sep or not mod or not cls_name.isidentifier():
                raise ValueError(f"{v!r}: write it as 'backend.py:ClassName' or 'package.module:ClassName'")
        return v

    @model_validator(mode="after")
    def _exactly_one(self) -> BackendSection:
        kinds = [k for k in ("entry", "command", "task") if getattr(self, k)]
        if len(kinds) != 1:
            raise ValueError(f"set exactly one of entry, command or task (got {kinds or 'none'})")
        if self.metric != "reward" and kinds != ["task"]:
            raise ValueError("metric selects a number of a task's verifier result: it needs task = ...")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("entry", "command", "task") if getattr(self, k))


class AgentSection(_Strict):
    name: str = "command"
    model: str | None = None
    kwargs: dict[str, Any] = Field(default_factory=dict)
    timeout_sec: float = Field(default=1800.0, gt=0)  # per iteration
    max_turns: int | None = Field(default=None, gt=0)
    max_tokens: int | None = Field(default=None, gt=0)
    max_cost_usd: float | None = Field(default=None, gt=0)  # per iteration
    memory_mb: int | None = Field(default=None, gt=0)
    show_data: bool = True  # the data folder is visible (read-only) at /data in the agent's sandbox
    network: bool = False


def off_to_none(v: Any) -> Any:
    """Stopping limits are switched off with "off" (TOML has no null)."""
    if isinstance(v, str) and v.strip().lower() in ("off", "none", "no", ""):
        return None
    return v


class StopSection(_Strict):
    max_iterations: int | None = Field(default=50, ge=1)
    max_hours: float | None = Field(default=8.0, gt=0)
    max_cost: float | None = Field(default=None, gt=0)
    target_score: float | None = None
    plateau: int | None = Field(default=10, ge=1)
    max_restarts: int | None = Field(default=3, ge=0)

    @field_validator("*", mode="before")
    @classmethod
    def _off(cls, v: Any) -> Any:
        return off_to_none(v)


class NoiseSection(_Strict):
    repeats: int = Field(default=10, ge=1, le=200)  # most (paired) evaluations per decision; 1 = no policy
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0)
    min_effect: float = Field(default=0.0, ge=0.0, lt=1.0)  # fraction of the best score
    min_effect_abs: float = Field(default=0.0, ge=0.0)  # in score units
    paired: bool = True  # re-evaluate the best beside each candidate evaluation

    @model_validator(mode="after")
    def _reachable(self) -> NoiseSection:
        if self.repeats > 1 and binomial_upper_tail(self.repeats, self.repeats) >= 1.0 - self.confidence:
            need = 1
            while binomial_upper_tail(need, need) >= 1.0 - self.confidence:
                need += 1
            raise ValueError(
                f"repeats = {self.repeats} can never show confidence {self.confidence} "
                f"(a sign test needs at least {need}); raise repeats, "
                "or set repeats = 1 for a deterministic backend"
            )
        return self


class LabConfig(_Strict):
    lab: LabSection
    backend: BackendSection
    agent: AgentSection = Field(default_factory=AgentSection)
    stop: StopSection = Field(default_factory=StopSection)
    noise: NoiseSection = Field(default_factory=NoiseSection)


def format_error(file: Path, exc: ValidationError) -> str:
    return validation_message(str(file), exc, LabConfig)


def parse_config(path: Path) -> LabConfig:
    try:
        raw = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise LooplabError(f"{path}: no lab here (run `looplab lab init`)") from None
    except tomllib.TOMLDecodeError as exc:
        raise LooplabError(f"{path}: not valid TOML: {exc}") from None
    try:
        return LabConfig.model_validate(raw)
    except ValidationError as exc:
        raise LooplabError(format_error(Path(path), exc)) from None


@dataclass
class Lab:
    """A loaded lab: its configuration and every path resolved against the repository."""

    dir: Path  # the lab folder (holds lab.toml)
    repo: Path  # the git repository root
    config: LabConfig
    pipeline: list[str]  # git pathspecs relative to the repository root

    @property
    def name(self) -> str:
        return self.config.lab.name

    @property
    def branch(self) -> str:
        return self.config.lab.branch or f"lab/{self.name}"

    @property
    def rel(self) -> str:
        """The lab folder relative to the repository root ('' at the root)."""
        r = self.dir.relative_to(self.repo).as_posix()
        return "" if r == "." else r

    @property
    def state_dir(self) -> Path:
        return self.dir / self.config.lab.state_dir

    @property
    def key(self) -> str:
        return hashlib.sha256(str(self.dir).encode()).hexdigest()[:12]

    @property
    def direction(self) -> str:
        return self.config.backend.direction

    def sandbox_dir(self) -> str:
        """Where the lab folder sits inside the sandboxes (/app mirrors the repository root)."""
        return "/app" + (f"/{self.rel}" if self.rel else "")

    def instructions_text(self) -> str:
        p = self.dir / self.config.lab.instructions
        if not p.is_file():
            raise LooplabError(f"{self.dir / LAB_FILE}: field lab.instructions: {p} not found")
        return p.read_text(errors="replace")

    def check_pipeline_exists(self) -> None:
        """Every pipeline path that is not a glob exists (a run checks this before the baseline)."""
        for entry in self.config.lab.pipeline:
            if any(c in GLOB_CHARS for c in entry):
                continue
            p = self.dir / entry.rstrip("/")
            if not p.exists() and not p.is_symlink():
                raise LooplabError(
                    f"{self.dir / LAB_FILE}: field lab.pipeline: {entry!r} does not exist ({p}); "
                    "create it or fix the path"
                )

    def pipeline_globs(self) -> list[str]:
        """The pipeline as globs relative to the repository root (= /app in the sandboxes)."""
        out: list[str] = []
        for spec in self.pipeline:
            if spec.startswith(":(glob)"):
                out.append(spec.removeprefix(":(glob)"))
            else:
                out += [spec, f"{spec}/**"]
        return out


def _pathspec(lab_dir: Path, repo: Path, entry: str, where: Path) -> str:
    import os

    is_glob = any(c in GLOB_CHARS for c in entry)
    joined = os.path.normpath(os.path.join(str(lab_dir), entry.rstrip("/")))
    rel = os.path.relpath(joined, str(repo))
    if rel == ".":
        raise LooplabError(
            f"{where}: field lab.pipeline: {entry!r} is the whole repository {repo}, lab.toml and the "
            'backend included; name the folders or files the agent may change, e.g. pipeline = ["src"]'
        )
    if rel.startswith("..") or rel.split("/")[0] == ".git":
        raise LooplabError(f"{where}: field lab.pipeline: {entry!r} is not inside the repository {repo}")
    return f":(glob){rel}" if is_glob else rel


def load_lab(path: str | Path = ".") -> Lab:
    """Load the lab in folder ``path`` (or the lab.toml file ``path``)."""
    from looplab.lab.gitops import repo_root

    p = Path(path).resolve()
    toml = p if p.name == LAB_FILE and p.is_file() else p / LAB_FILE
    cfg = parse_config(toml)
    lab_dir = toml.parent
    repo = repo_root(lab_dir)
    if repo is None:
        raise LooplabError(f"{lab_dir}: not inside a git repository (run `git init` or `looplab lab init`)")
    specs = [_pathspec(lab_dir, repo, e, toml) for e in cfg.lab.pipeline]
    lab = Lab(dir=lab_dir, repo=repo, config=cfg, pipeline=specs)
    _check_overlaps(lab, toml)
    return lab


def _check_overlaps(lab: Lab, toml: Path) -> None:
    """The agent may not change the lab's own files: lab.toml, the backend, the instructions, the state."""
    from looplab.verify.editable import matches

    protected = [
        LAB_FILE,
        lab.config.lab.instructions,
        lab.config.lab.state_dir + "/x",
        *lab.config.backend.files,
    ]
    entry = lab.config.backend.entry
    if entry and entry.rpartition(":")[0].endswith(".py"):
        protected.append(entry.rpartition(":")[0])
    globs = lab.pipeline_globs()
    for f in protected:
        rel = Path(lab.rel, f).as_posix() if lab.rel else Path(f).as_posix()
        if matches(rel, globs):
            raise LooplabError(
                f"{toml}: field lab.pipeline: covers {f!r}, which the agent must not change "
                "(keep lab.toml, the backend, the instructions and the state folder out of the pipeline)"
            )
