"""pydantic models of ``task.toml`` as Harbor and AutoLab write it, plus our ``[looplab]`` section.

Every foreign section tolerates keys it does not know: they are kept (``extra="allow"``)
and reported as warnings by the loader, never rejected, so tasks written for other
harnesses load unmodified. Our own ``[looplab]`` section (and its tables) rejects an
unknown key: a typo there (``editabel``) would otherwise silently run the task unsealed.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DIRECTION_ALIASES = {
    "lower": "lower",
    "min": "lower",
    "minimize": "lower",
    "lower_is_better": "lower",
    "higher": "higher",
    "max": "higher",
    "maximize": "higher",
    "higher_is_better": "higher",
}


def normalize_direction(v: Any) -> Any:
    """``lower``/``higher`` from any of their spellings (``min``, ``maximize``...); else ValueError."""
    if not isinstance(v, str):
        return v
    s = v.strip().lower()
    if s not in DIRECTION_ALIASES:
        raise ValueError(f"must be 'lower' or 'higher', got {v!r}")
    return DIRECTION_ALIASES[s]


class _Section(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


NETWORK_MODES = ("public", "no-network", "allowlist")
_NETWORK_ALIASES = {
    **{m: m for m in NETWORK_MODES},
    **dict.fromkeys(("none", "no", "no_network", "disabled", "off", "isolated", "deny"), "no-network"),
    **dict.fromkeys(("host", "bridge", "full", "internet"), "public"),
}


class _OwnSection(BaseModel):
    """A section looplab defines: an unknown key is an error naming the known ones."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _Networked(_Section):
    """Harbor's network policy fields: ``[environment]`` sets the baseline, ``[agent]`` and
    ``[verifier]`` override it for their phase (``looplab.netpolicy`` resolves them)."""

    network_mode: Literal["public", "no-network", "allowlist"] | None = None
    allowed_hosts: list[str] | None = None

    @field_validator("network_mode", mode="before")
    @classmethod
    def _mode(cls, v: Any) -> Any:
        if isinstance(v, str):
            m = _NETWORK_ALIASES.get(v.strip().lower())
            if m is None:
                raise ValueError(f"must be one of {', '.join(NETWORK_MODES)}, got {v!r}")
            return m
        return v


class AgentSection(_Networked):
    timeout_sec: float = Field(default=3600.0, gt=0)
    user: str | int | None = None  # kept, not applied: agents run as the sandbox's user
    setup_timeout_sec: float | None = Field(default=None, gt=0)  # kept: looplab installs no agent


class Healthcheck(_Section):
    """Harbor's ``healthcheck`` (Docker HEALTHCHECK semantics): ``command`` is retried until it
    exits 0; during ``start_period_sec`` failures do not count (checks every
    ``start_interval_sec``), after it ``retries`` consecutive failures (every ``interval_sec``)
    fail the environment; each check is stopped after ``timeout_sec``."""

    command: str = Field(min_length=1)
    interval_sec: float = Field(default=5.0, ge=0)
    timeout_sec: float = Field(default=30.0, gt=0)
    start_period_sec: float = Field(default=0.0, ge=0)
    start_interval_sec: float = Field(default=5.0, ge=0)
    retries: int = Field(default=3, ge=1)


class Artifact(_Section):
    """One ``artifacts`` entry: a path copied out of the agent's environment into the trial's
    ``artifacts/`` (``destination`` relative to it, default the source's basename)."""

    source: str = Field(min_length=1)
    destination: str | None = None
    exclude: list[str] = Field(default_factory=list)
    service: str = "main"

    @field_validator("source")
    @classmethod
    def _source(cls, v: str) -> str:
        if ".." in v.split("/"):
            raise ValueError(f"must not contain '..', got {v!r}")
        return v

    @field_validator("destination")
    @classmethod
    def _destination(cls, v: str | None) -> str | None:
        if v is None:
            return v
        parts = [x for x in v.split("/") if x not in ("", ".")]
        if v.startswith("/") or ".." in parts or not parts or parts == ["manifest.json"]:
            raise ValueError(f"must be a relative path under artifacts/, not '..' nor manifest.json: {v!r}")
        return "/".join(parts)

    @classmethod
    def parse(cls, v: Any) -> Any:
        return {"source": v} if isinstance(v, str) else v


def _artifacts(v: Any) -> Any:
    return [Artifact.parse(x) for x in v] if isinstance(v, list) else v


class CollectHook(_Section):
    """``[[verifier.collect]]``: a command run in a service's environment after the agent,
    before the artifacts are collected (``service = "main"`` is the agent's environment)."""

    command: str = Field(min_length=1)
    service: str = "main"
    timeout_sec: float = Field(default=600.0, gt=0)


class McpServer(_Section):
    """``[[environment.mcp_servers]]``: an MCP server the agent is told about."""

    name: str = Field(min_length=1)
    transport: Literal["sse", "streamable-http", "stdio"] = "sse"
    url: str | None = None
    command: str | None = None
    args: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _fields(self) -> McpServer:
        if self.transport in ("sse", "streamable-http") and not self.url:
            raise ValueError(f"transport {self.transport!r} needs a url")
        if self.transport == "stdio" and not self.command:
            raise ValueError("transport 'stdio' needs a command")
        return self


class SolutionSection(_Section):
    env: dict[str, str] = Field(default_factory=dict)  # for solve.sh (the oracle) only

    _env = field_validator("env", mode="before")(classmethod(lambda cls, v: _stringify(v)))


def _stringify(v: Any) -> Any:
    """TOML values of an env table as strings (``N = 3`` is ``"3"``)."""
    if isinstance(v, dict):
        return {str(k): str(x) for k, x in v.items()}
    return v


class VerifierSection(_Networked):
    timeout_sec: float = Field(default=600.0, gt=0)
    env: dict[str, str] = Field(default_factory=dict)
    user: str | int | None = None  # kept, not applied
    # Harbor's shared (test.sh in the agent's container) or separate verifier: looplab's verifier
    # is always a fresh sandbox of its own; separate with its own environment: harbor.verifier_env
    environment_mode: Literal["shared", "separate"] | None = None
    environment: EnvironmentSection | None = None  # a separate verifier's own environment
    collect: list[CollectHook] = Field(default_factory=list)

    _env = field_validator("env", mode="before")(classmethod(lambda cls, v: _stringify(v)))

    @model_validator(mode="after")
    def _mode_fits(self) -> VerifierSection:
        if self.environment_mode == "shared" and self.environment is not None:
            raise ValueError("environment_mode 'shared' cannot have an environment (Harbor refuses it)")
        return self


class EnvironmentSection(_Networked):
    cpus: float = Field(default=1, gt=0)
    memory_mb: int | None = Field(default=None, gt=0)
    storage_mb: int | None = Field(default=None, gt=0)
    gpus: int = Field(default=0, ge=0)
    gpu_types: list[str] | None = None  # e.g. ["H100", "H200"]: any GPU whose name contains one
    allow_internet: bool | None = None  # Harbor's older spelling: true = public, false = no-network
    env: dict[str, str] = Field(default_factory=dict)  # ${VAR:-default} read from the host at run time

    _env = field_validator("env", mode="before")(classmethod(lambda cls, v: _stringify(v)))
    build_timeout_sec: float = Field(default=1800.0, gt=0)
    docker_image: str | None = Field(default=None, min_length=1)  # a prebuilt image instead of the Dockerfile
    workdir: str | None = None  # the working folder (default: the Dockerfile's last WORKDIR)
    healthcheck: Healthcheck | None = None
    mcp_servers: list[McpServer] = Field(default_factory=list)
    skills_dir: str | None = None  # a folder in the environment holding agent skills
    os: Literal["linux", "windows"] | None = None  # windows environments are refused
    tpu: Any = None  # Harbor's TPU request: refused when set (looplab has no TPU passthrough)

    @field_validator("workdir", "skills_dir")
    @classmethod
    def _absolute(cls, v: str | None) -> str | None:
        if v is not None and (not v.startswith("/") or ".." in v.split("/")):
            raise ValueError(f"must be an absolute path without '..', got {v!r}")
        return None if v is None else (v.rstrip("/") or "/")

    @field_validator("memory_mb", "storage_mb", mode="before")
    @classmethod
    def _parse_size(cls, v: Any) -> Any:
        """Harbor also writes sizes as strings like "4G" or "512M"."""
        if isinstance(v, str):
            s = v.strip().upper().removesuffix("B")
            mult = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}
            if s and s[-1] in mult:
                return int(float(s[:-1]) * mult[s[-1]])
            return int(float(s))
        return v


VerifierSection.model_rebuild()


class ScoreRef(_Section):
    score: float | None = None
    method: str | None = None


class OptimizationSection(_Section):
    metric: str | None = None
    direction: Literal["lower", "higher"] | None = None
    baseline: ScoreRef | None = None
    reference: ScoreRef | None = None

    @field_validator("direction", mode="before")
    @classmethod
    def _direction(cls, v: Any) -> Any:
        return normalize_direction(v)


class PairedMeasure(_OwnSection):
    # commands timing the pristine and the agent's program; a task that declares its runs in
    # tests/run.toml (looplab.verify.runner) leaves them out and keeps only the timing settings
    baseline: str | None = None
    candidate: str | None = None
    build: str | None = None  # optional build command run before timing
    build_timeout_sec: float = Field(default=600.0, gt=0)
    cwd: str | None = None  # folder the commands run in (default: the environment's workdir)
    time_source: Literal["wall", "cpu", "stdout"] = "wall"  # cpu: user+sys; stdout: printed seconds
    target: float = Field(default=0.02, gt=0)  # stop at this relative CI half-width
    confidence: float = Field(default=0.95, gt=0, lt=1)  # of the speedup's interval
    warmup: int = Field(default=1, ge=0)
    min_pairs: int = Field(default=10, ge=2)
    max_pairs: int = Field(default=60, ge=2)
    max_seconds: float = Field(default=300.0, gt=0)
    run_timeout_sec: float | None = Field(default=None, gt=0)
    function: str | None = None  # measure = "instructions": count only inside this function


class Gate(_OwnSection):
    """A threshold on a reward.json metric; failing it makes the reward 0."""

    min: float | None = None
    max: float | None = None

    @classmethod
    def parse(cls, v: Any) -> Any:
        return {"min": v} if isinstance(v, int | float) and not isinstance(v, bool) else v


class LooplabSection(_OwnSection):
    editable: list[str] = Field(default_factory=list)
    writable: list[str] = Field(default_factory=list)
    measure: Literal["reported", "paired", "instructions"] = "reported"
    reward: str | None = None
    dev_check: str | None = None
    paired: PairedMeasure | None = None
    gates: dict[str, Gate] = Field(default_factory=dict)  # metric = min, or {min = .., max = ..}
    # what the environment is built on: the host's system, or the image FROM names (None: host for
    # tasks with a [looplab] section, image for foreign Harbor/AutoLab tasks)
    base: Literal["host", "image"] | None = None
    # the reward.json key a leaderboard ranks by (default "reward", else the mean of the keys)
    primary_reward: str | None = None
    # AutoLab [optimization] tasks: also score against the pristine files measured here (verify.rebased)
    rebase: bool = False

    @field_validator("gates", mode="before")
    @classmethod
    def _gates(cls, v: Any) -> Any:
        return {k: Gate.parse(x) for k, x in v.items()} if isinstance(v, dict) else v


STEP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class StepAgent(_Section):
    timeout_sec: float | None = Field(default=None, gt=0)  # default: the task's [agent] timeout_sec
    user: str | int | None = None


class StepVerifier(_Section):
    timeout_sec: float | None = Field(default=None, gt=0)  # default: the task's [verifier] timeout_sec
    env: dict[str, str] | None = None  # default: the task's [verifier.env]
    user: str | int | None = None
    environment_mode: Literal["shared", "separate"] | None = None  # as [verifier]'s
    environment: EnvironmentSection | None = None  # this step's separate verifier environment

    _env = field_validator("env", mode="before")(classmethod(lambda cls, v: _stringify(v)))

    @model_validator(mode="after")
    def _mode_fits(self) -> StepVerifier:
        if self.environment_mode == "shared" and self.environment is not None:
            raise ValueError("environment_mode 'shared' cannot have an environment (Harbor refuses it)")
        return self


class StepLooplab(_OwnSection):
    """``[steps.looplab]``: looplab's own per-step keys."""

    # what this step's verifier is given (over [looplab] editable; `run --editable` wins)
    editable: list[str] | None = None


class Step(_Section):
    """One ``[[steps]]`` entry; its files live in ``steps/<name>/``."""

    name: str
    # below it the remaining steps are skipped: a number (the "reward" key) or one per key
    min_reward: float | dict[str, float] | None = None
    agent: StepAgent = Field(default_factory=StepAgent)
    verifier: StepVerifier = Field(default_factory=StepVerifier)
    healthcheck: Healthcheck | None = None
    artifacts: list[Artifact] = Field(default_factory=list)
    looplab: StepLooplab = Field(default_factory=StepLooplab)

    _artifacts = field_validator("artifacts", mode="before")(classmethod(lambda cls, v: _artifacts(v)))

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not STEP_NAME.match(v):
            raise ValueError(f"letters, digits, '.', '_', '-' only, starting with a letter or digit: {v!r}")
        return v

    def thresholds(self) -> dict[str, float]:
        """``min_reward`` as one threshold per reward key."""
        if self.min_reward is None:
            return {}
        if isinstance(self.min_reward, dict):
            return dict(self.min_reward)
        return {"reward": float(self.min_reward)}


class TaskInfo(_Section):
    """Harbor's ``[task]``: the package's registry name and description (kept, not used)."""

    name: str | None = None
    description: str | None = None
    authors: list[dict[str, Any]] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)


class TaskConfig(_Section):
    version: str | None = None
    schema_version: str | None = None
    source: str | None = None
    task: TaskInfo | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    agent: AgentSection = Field(default_factory=AgentSection)
    verifier: VerifierSection = Field(default_factory=VerifierSection)
    environment: EnvironmentSection = Field(default_factory=EnvironmentSection)
    solution: SolutionSection = Field(default_factory=SolutionSection)
    optimization: OptimizationSection | None = None
    looplab: LooplabSection = Field(default_factory=LooplabSection)
    artifacts: list[Artifact] = Field(default_factory=list)
    steps: list[Step] | None = None
    multi_step_reward_strategy: Literal["mean", "final"] = "mean"
    multi_step_reward_mode: str | None = None  # the pre-1.3 spelling, dropped as Harbor drops it

    _artifacts = field_validator("artifacts", mode="before")(classmethod(lambda cls, v: _artifacts(v)))

    @field_validator("steps")
    @classmethod
    def _unique_steps(cls, v: list[Step] | None) -> list[Step] | None:
        names = [s.name for s in v or []]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"step names must be unique, repeated: {', '.join(dup)}")
        if v is not None and not v:
            raise ValueError("an empty list: leave steps out for a single-step task")
        return v

    @field_validator("version", "schema_version", mode="before")
    @classmethod
    def _version_str(cls, v: Any) -> Any:
        return None if v is None else str(v)


def unknown_keys(model: BaseModel, prefix: str = "") -> list[str]:
    """Dotted names of keys the models did not declare (kept, but worth a warning)."""
    found: list[str] = []
    for k in model.model_extra or {}:
        found.append(f"{prefix}{k}")
    for name in type(model).model_fields:
        val = getattr(model, name)
        if isinstance(val, BaseModel):
            found += unknown_keys(val, f"{prefix}{name}.")
        elif isinstance(val, list):
            for i, item in enumerate(val):
                if isinstance(item, BaseModel):
                    found += unknown_keys(item, f"{prefix}{name}[{i}].")
    return found
