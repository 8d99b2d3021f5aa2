"""pydantic models of ``task.toml`` as Harbor and AutoLab write it, plus our ``[looplab]`` section.

Every foreign section tolerates keys it does not know: they are kept (``extra="allow"``)
and reported as warnings by the loader, never rejected, so tasks written for other
harnesses load unmodified. Our own ``[looplab]`` section (and its tables) rejects an
unknown key: a typo there (``editabel``) would otherwise silently run the task unsealed.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

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


class _OwnSection(BaseModel):
    """A section looplab defines: an unknown key is an error naming the known ones."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class AgentSection(_Section):
    timeout_sec: float = Field(default=3600.0, gt=0)


class VerifierSection(_Section):
    timeout_sec: float = Field(default=600.0, gt=0)
    env: dict[str, str] = Field(default_factory=dict)

    @field_validator("env", mode="before")
    @classmethod
    def _stringify(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {str(k): str(x) for k, x in v.items()}
        return v


class EnvironmentSection(_Section):
    cpus: float = Field(default=1, gt=0)
    memory_mb: int | None = Field(default=None, gt=0)
    storage_mb: int | None = Field(default=None, gt=0)
    gpus: int = Field(default=0, ge=0)
    allow_internet: bool = False
    network_mode: str | None = None
    build_timeout_sec: float = Field(default=1800.0, gt=0)

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

    @property
    def network_allowed(self) -> bool:
        if self.network_mode is not None:
            return self.network_mode.lower() not in ("none", "no", "disabled", "off", "isolated")
        return self.allow_internet


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
    baseline: str  # command timing the pristine program
    candidate: str  # command timing the agent's program
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

    @field_validator("gates", mode="before")
    @classmethod
    def _gates(cls, v: Any) -> Any:
        return {k: Gate.parse(x) for k, x in v.items()} if isinstance(v, dict) else v


class TaskConfig(_Section):
    version: str | None = None
    schema_version: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    agent: AgentSection = Field(default_factory=AgentSection)
    verifier: VerifierSection = Field(default_factory=VerifierSection)
    environment: EnvironmentSection = Field(default_factory=EnvironmentSection)
    optimization: OptimizationSection | None = None
    looplab: LooplabSection = Field(default_factory=LooplabSection)

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
    return found
