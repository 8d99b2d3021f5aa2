"""Every reward formula looplab knows, named, in one module.

- ``log_speedup`` (AutoLab): ``min(1, 0.5·ln(s)/ln(s_ref))`` for a speedup ``s``
  over the baseline, 0 when s <= 1; the reference solution (s = s_ref) scores 0.5
  and s >= s_ref² scores 1.
- ``ratio``: the plain improvement ratio over the baseline, uncapped (value/baseline
  for higher-is-better metrics, baseline/value for lower-is-better), as AutoLab's ML
  tasks score.
- ``linear``: 0 at the baseline score, 1 at the best-known score, linear in between
  and clipped to [0, 1] (puzzles; works for either direction).
- ``reported``: the reward test.sh wrote, unchanged.

Gates come first: a verifier that says ``correct: false`` scores 0, then each
``[looplab.gates]`` threshold on a reward.json metric (e.g. a minimum accuracy).
Inputs that are NaN, infinite, zero or negative where a positive number is needed
raise ``InvalidMeasurement`` (a ``LooplabError`` and a ``ValueError``);
``reward_from_config`` turns bad *data* from a verifier into reward 0 with the
reason, and raises ``LooplabError`` for a task whose configuration cannot be scored.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

from looplab.errors import LooplabError
from looplab.measure.stats import InvalidMeasurement
from looplab.tasks.model import Gate, TaskConfig

if TYPE_CHECKING:
    from looplab.verify.runner import RunDeclaration

Direction = Literal["lower", "higher"]
FORMULAS = ("log_speedup", "ratio", "linear", "reported")
ALIASES = {"autolab": "log_speedup", "log": "log_speedup", "speedup": "log_speedup"}


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidMeasurement(f"{name} = {value!r}: not a number")
    if not math.isfinite(value):
        raise InvalidMeasurement(f"{name} = {value!r}: not a finite number")
    return float(value)


def _positive(value: Any, name: str) -> float:
    v = _number(value, name)
    if v <= 0:
        raise InvalidMeasurement(f"{name} = {v!r}: must be > 0")
    return v


# ---- the formulas ------------------------------------------------------------------------------
def improvement_ratio(value: float, baseline: float, direction: Direction) -> float:
    """How many times better ``value`` is than ``baseline``: a speedup for times (lower is better)."""
    v = _positive(value, "value")
    b = _positive(baseline, "baseline")
    return b / v if direction == "lower" else v / b


def log_speedup_reward(speedup: float, s_ref: float) -> float:
    """AutoLab's log-scaled speedup: ``min(1, 0.5·ln(s)/ln(s_ref))``, 0 when s <= 1."""
    s = _positive(speedup, "speedup")
    ref = _positive(s_ref, "s_ref")
    if ref <= 1.0:
        raise InvalidMeasurement(f"s_ref = {ref!r}: the reference speedup must be > 1")
    if s <= 1.0:
        return 0.0
    return min(1.0, 0.5 * math.log(s) / math.log(ref))


def ratio_reward(value: float, baseline: float, direction: Direction) -> float:
    """The plain ratio over the baseline (uncapped; 1.0 means no change)."""
    return improvement_ratio(value, baseline, direction)


def linear_reward(value: float, baseline: float, best: float) -> float:
    """0 at ``baseline``, 1 at ``best``, linear between, clipped to [0, 1]."""
    v = _number(value, "value")
    b = _number(baseline, "baseline")
    top = _number(best, "best")
    if top == b:
        raise InvalidMeasurement(f"best = baseline = {b!r}: a linear reward needs two different scores")
    return min(1.0, max(0.0, (v - b) / (top - b)))


def reward_from_speedup(formula: str | None, speedup: float, s_ref: float | None) -> float:
    """The reward of a measured speedup (paired timing or instruction ratio)."""
    name = normalize_formula(formula or "log_speedup")
    if name == "ratio":
        return _positive(speedup, "speedup")
    if s_ref is None:
        raise LooplabError(f"reward {name!r} needs a reference speedup (s_ref); none is known")
    if name == "log_speedup":
        return log_speedup_reward(speedup, s_ref)
    if name == "linear":
        return linear_reward(_positive(speedup, "speedup"), 1.0, _positive(s_ref, "s_ref"))
    raise LooplabError(f"reward {name!r} cannot score a measured speedup (use log_speedup, ratio or linear)")


# ---- gates -------------------------------------------------------------------------------------
CORRECTNESS_KEYS = ("correct", "correctness")  # looplab's, AutoLab's


def correctness_gate(reward_data: dict[str, Any]) -> str | None:
    """Why the verifier's output fails correctness, or None when it passes.

    The flag is ``correct`` (or AutoLab's ``correctness``). A missing flag passes (the
    task checks nothing); ``null`` fails (a crashed AutoLab verifier writes nulls);
    booleans, 0/1 and "true"/"false" count.
    """
    key = next((k for k in CORRECTNESS_KEYS if k in reward_data), None)
    if key is None:
        return None
    c = reward_data[key]
    if isinstance(c, str):
        word = c.strip().lower()
        if word in ("true", "1", "yes", "pass", "passed"):
            return None
        if word in ("false", "0", "no", "fail", "failed"):
            return f"incorrect: the verifier reported {key} = {c!r}"
    elif isinstance(c, bool) or (isinstance(c, int | float) and c in (0, 1)):
        return None if c else f"incorrect: the verifier reported {key} = false"
    elif c is None:
        return f"incorrect: the verifier reported {key} = null"
    return f"incorrect: the verifier's {key!r} field is not a boolean ({c!r})"


def threshold_gates(reward_data: dict[str, Any], gates: dict[str, Gate]) -> str | None:
    """The reason the first failing ``[looplab.gates]`` threshold fails, or None."""
    for metric, gate in gates.items():
        raw = reward_data.get(metric)
        try:
            v = _number(raw, metric)
        except InvalidMeasurement:
            return f"gate: metric {metric!r} is missing or not a number in reward.json ({raw!r})"
        if gate.min is not None and v < gate.min:
            return f"gate: {metric} = {v:g} is below the minimum {gate.min:g}"
        if gate.max is not None and v > gate.max:
            return f"gate: {metric} = {v:g} is above the maximum {gate.max:g}"
    return None


def gate_reason(config: TaskConfig, reward_data: dict[str, Any]) -> str | None:
    """Correctness first, then the task's threshold gates."""
    return correctness_gate(reward_data) or threshold_gates(reward_data, config.looplab.gates)


# ---- configuration -----------------------------------------------------------------------------
def normalize_formula(name: str) -> str:
    n = name.strip().lower().replace("-", "_")
    n = ALIASES.get(n, n)
    if n not in FORMULAS:
        raise LooplabError(
            f"task.toml: field looplab.reward: unknown formula {name!r} (known: {', '.join(FORMULAS)})"
        )
    return n


def direction_of(config: TaskConfig, default: Direction | None = "lower") -> Direction:
    opt = config.optimization
    d = opt.direction if opt is not None and opt.direction else default
    if d is None:
        raise LooplabError("task.toml: field optimization.direction: needed by this reward formula")
    return d


def _score(config: TaskConfig, which: Literal["baseline", "reference"]) -> float:
    opt = config.optimization
    ref = getattr(opt, which, None) if opt is not None else None
    if ref is None or ref.score is None:
        raise LooplabError(
            f"task.toml: field optimization.{which}.score: needed by reward {config.looplab.reward!r}"
        )
    try:
        return _number(ref.score, f"optimization.{which}.score")
    except InvalidMeasurement as exc:
        raise LooplabError(f"task.toml: field {exc}") from None


def s_ref_from_constants(config: TaskConfig) -> float | None:
    """The reference speedup the task's ``[optimization]`` constants imply, or None without them."""
    opt = config.optimization
    if opt is None or opt.baseline is None or opt.reference is None:
        return None
    if opt.baseline.score is None or opt.reference.score is None:
        return None
    try:
        return improvement_ratio(opt.reference.score, opt.baseline.score, direction_of(config))
    except InvalidMeasurement as exc:
        raise LooplabError(
            f"task.toml: [optimization] scores cannot give a reference speedup: {exc}"
        ) from None


def check_reward_config(config: TaskConfig, declared: RunDeclaration | None = None) -> list[str]:
    """Problems that make a task's reward impossible to compute (for ``looplab tasks check``).

    ``declared``: the task's ``tests/run.toml`` (``load_declaration``), if it has one: then the
    harness's runner runs the programs, so no ``[looplab.paired]`` commands are needed, and
    its mode must fit the measure (timed with ``paired``, exact with ``reported``).
    """
    problems: list[str] = []
    lcfg = config.looplab
    try:
        name = normalize_formula(lcfg.reward or ("log_speedup" if lcfg.measure != "reported" else "reported"))
    except LooplabError as exc:
        return [str(exc)]
    if declared is not None:
        fits = {"timed": "paired", "exact": "reported"}[declared.mode]
        if lcfg.measure != fits:
            problems.append(
                f"tests/run.toml: field mode: {declared.mode!r} needs [looplab] measure = {fits!r}, "
                f"not {lcfg.measure!r}"
            )
    if lcfg.measure != "reported":
        if lcfg.paired is None and declared is None:
            problems.append(
                f"task.toml: field looplab.paired: measure = {lcfg.measure!r} needs baseline/candidate commands"  # noqa: E501
            )
        if name == "reported":
            problems.append("task.toml: field looplab.reward: a measured task cannot use 'reported'")
        if name in ("log_speedup", "linear"):
            try:
                s_ref = s_ref_from_constants(config)
                if s_ref is not None and s_ref <= 1:
                    problems.append(
                        f"task.toml: [optimization] scores give a reference speedup {s_ref:g} <= 1"
                    )
            except LooplabError as exc:
                problems.append(str(exc))
        return problems
    if name == "reported":
        return problems
    if config.optimization is None or not config.optimization.metric:
        problems.append(f"task.toml: field optimization.metric: needed by reward {name!r}")
    try:
        b = _score(config, "baseline")
        if name == "ratio":
            direction_of(config, default=None)
            if b <= 0:
                problems.append(
                    f"task.toml: field optimization.baseline.score: must be > 0 for reward 'ratio', got {b:g}"
                )
        else:
            r = _score(config, "reference")
            if name == "log_speedup" and improvement_ratio(r, b, direction_of(config)) <= 1:
                problems.append(
                    "task.toml: [optimization] reference score is not better than the baseline score"
                )
            if name == "linear" and r == b:
                problems.append("task.toml: [optimization] baseline and reference scores are equal")
    except (LooplabError, InvalidMeasurement) as exc:
        problems.append(str(exc))
    return problems


def reward_from_config(config: TaskConfig, reward_data: dict[str, Any]) -> tuple[float, str | None]:
    """The reward of a verifier's reward.json under the task's ``[looplab] reward`` formula.

    Returns the reward and, when the reward is 0 because of a gate or bad data, the
    reason. The metric is ``[optimization] metric``, compared with
    ``[optimization.baseline/reference] score``. Raises ``LooplabError`` when the
    task's configuration cannot give a reward at all.
    """
    lcfg = config.looplab
    name = normalize_formula(lcfg.reward or "reported")
    problems = check_reward_config(config) if name != "reported" else []
    if problems:
        raise LooplabError(problems[0])
    reason = gate_reason(config, reward_data)
    if reason:
        return 0.0, reason
    if name == "reported":
        try:
            return _number(reward_data.get("reward"), "reward"), None
        except InvalidMeasurement as exc:
            return 0.0, f"reward.json: {exc}"
    assert config.optimization is not None and config.optimization.metric
    metric = config.optimization.metric
    raw = reward_data.get(metric)
    try:
        value = _number(raw, metric)
        baseline = _score(config, "baseline")
        if name == "ratio":
            return ratio_reward(value, baseline, direction_of(config, default=None)), None
        reference = _score(config, "reference")
        if name == "linear":
            return linear_reward(value, baseline, reference), None
        direction = direction_of(config)
        s = improvement_ratio(value, baseline, direction)
        s_ref = improvement_ratio(reference, baseline, direction)
        return log_speedup_reward(s, s_ref), None
    except InvalidMeasurement as exc:
        return 0.0, f"reward.json: metric {metric!r}: {exc}"
