"""ATIF export: a trial's trajectory as Harbor's Agent Trajectory Interchange Format (ATIF-v1.4).

The pydantic models below follow the ATIF RFC (0001) field for field: a root with
``schema_version``, ``session_id``, ``agent`` (name, version, model_name),
``steps``, ``notes``, ``final_metrics`` and ``extra``; steps from ``system``,
``user`` or ``agent`` with ``tool_calls`` (tool_call_id, function_name, arguments),
an ``observation`` (results tied to calls by ``source_call_id``) and ``metrics``
(prompt_tokens counts all input, cached ones included; cached_tokens is that
subset). ``validate_atif`` checks a document the way Harbor's validator does:
unknown fields are errors, step ids run 1, 2, 3..., agent-only fields appear only
on agent steps, and every observation result names a tool call of its own step.

``trajectory_to_atif`` converts looplab's event stream (``agent/trajectory.jsonl``):
``system_prompt``/``user`` events become system/user steps, an ``assistant`` event
an agent step with its tool calls, usage and the matching ``observation`` events;
a ``command`` without a call id (replay, oracle, CLI agents) becomes an agent step
of its own; a CLI agent's ``model_call`` events (the model gateway's record of each
call) become its agent steps when its tool wrote no native log to convert; context compactions become
system steps; other events ride along in
the ``extra`` of the step they happened in.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from looplab.agents.trajectory import read_trajectory
from looplab.errors import LooplabError
from looplab.fsutil import atomic_write_json
from looplab.records.layout import TrialPaths
from looplab.records.results import TrialResult

SCHEMA_VERSION = "ATIF-v1.4"
_STRICT = ConfigDict(extra="forbid")


class ATIFToolCall(BaseModel):
    model_config = _STRICT
    tool_call_id: str
    function_name: str
    arguments: dict[str, Any]


class ATIFSubagentTrajectoryRef(BaseModel):
    model_config = _STRICT
    session_id: str
    trajectory_path: str | None = None
    extra: dict[str, Any] | None = None


class ATIFObservationResult(BaseModel):
    model_config = _STRICT
    source_call_id: str | None = None
    content: str | None = None
    subagent_trajectory_ref: list[ATIFSubagentTrajectoryRef] | None = None


class ATIFObservation(BaseModel):
    model_config = _STRICT
    results: list[ATIFObservationResult]


class ATIFMetrics(BaseModel):
    model_config = _STRICT
    prompt_tokens: int | None = Field(default=None, ge=0)
    completion_tokens: int | None = Field(default=None, ge=0)
    cached_tokens: int | None = Field(default=None, ge=0)
    cost_usd: float | None = Field(default=None, ge=0)
    prompt_token_ids: list[int] | None = None
    completion_token_ids: list[int] | None = None
    logprobs: list[float] | None = None
    extra: dict[str, Any] | None = None


class ATIFStep(BaseModel):
    model_config = _STRICT
    step_id: int = Field(ge=1)
    timestamp: str | None = None
    source: Literal["system", "user", "agent"]
    model_name: str | None = None
    reasoning_effort: str | float | None = None
    message: str
    reasoning_content: str | None = None
    tool_calls: list[ATIFToolCall] | None = None
    observation: ATIFObservation | None = None
    metrics: ATIFMetrics | None = None
    extra: dict[str, Any] | None = None

    @field_validator("timestamp")
    @classmethod
    def _iso(cls, v: str | None) -> str | None:
        if v is not None:
            dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
        return v

    @model_validator(mode="after")
    def _agent_only(self) -> ATIFStep:
        if self.source != "agent":
            for name in ("model_name", "reasoning_effort", "reasoning_content", "tool_calls", "metrics"):
                if getattr(self, name) is not None:
                    raise ValueError(f"step {self.step_id}: {name} is only allowed on agent steps")
        ids = [c.tool_call_id for c in self.tool_calls or []]
        if len(ids) != len(set(ids)):
            raise ValueError(f"step {self.step_id}: duplicate tool_call_id")
        for r in self.observation.results if self.observation else []:
            if r.source_call_id is not None and r.source_call_id not in ids:
                raise ValueError(
                    f"step {self.step_id}: "
                    f"observation source_call_id {r.source_call_id!r} matches no tool call of this step"
                )
        return self


class ATIFAgent(BaseModel):
    model_config = _STRICT
    name: str
    version: str
    model_name: str | None = None
    extra: dict[str, Any] | None = None


class ATIFFinalMetrics(BaseModel):
    model_config = _STRICT
    total_prompt_tokens: int | None = Field(default=None, ge=0)
    total_completion_tokens: int | None = Field(default=None, ge=0)
    total_cached_tokens: int | None = Field(default=None, ge=0)
    total_cost_usd: float | None = Field(default=None, ge=0)
    total_steps: int | None = Field(default=None, ge=0)
    extra: dict[str, Any] | None = None


class ATIFTrajectory(BaseModel):
    model_config = _STRICT
    schema_version: Literal["ATIF-v1.0", "ATIF-v1.1", "ATIF-v1.2", "ATIF-v1.3", "ATIF-v1.4"]
    session_id: str
    agent: ATIFAgent
    steps: list[ATIFStep] = Field(min_length=1)
    notes: str | None = None
    final_metrics: ATIFFinalMetrics | None = None
    extra: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _sequential(self) -> ATIFTrajectory:
        for i, s in enumerate(self.steps, start=1):
            if s.step_id != i:
                raise ValueError(f"steps[{i - 1}].step_id is {s.step_id}; step ids must be 1, 2, 3, ...")
        return self


def validate_atif(doc: dict[str, Any]) -> ATIFTrajectory:
    """Validate an ATIF document; raise ``LooplabError`` naming the first problem."""
    try:
        return ATIFTrajectory.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "(root)"
        raise LooplabError(f"ATIF: {where}: {err['msg']}") from None


# ---- conversion -------------------------------------------------------------------------------
_QUIET = {"step", "time", "elapsed_s", "type"}


def _brief(ev: dict[str, Any]) -> dict[str, Any]:
    out = {"type": ev["type"], "elapsed_s": ev.get("elapsed_s")}
    for k, v in ev.items():
        if k not in _QUIET:
            out[k] = v if not isinstance(v, str) or len(v) <= 4000 else v[:4000] + "…"
    return out


def _obs_text(ev: dict[str, Any]) -> str:
    if isinstance(ev.get("content"), str):
        return ev["content"]
    parts = []
    if ev.get("exit_code") is not None:
        parts.append(f"exit code: {ev['exit_code']}" + (" (timed out)" if ev.get("timed_out") else ""))
    for key in ("stdout", "stderr", "error"):
        if ev.get(key):
            parts.append(f"--- {key} ---\n{ev[key]}" if key != "error" else f"error: {ev[key]}")
    if ev.get("checkpoint") is not None:
        parts.append(f"checkpoint {ev['checkpoint']} recorded")
    return "\n".join(parts)


class _Builder:
    def __init__(self) -> None:
        self.steps: list[dict[str, Any]] = []
        self.open: dict[str, Any] | None = None  # the agent step that later events attach to
        self.pending: set[str] = set()  # its tool calls still waiting for an observation
        self.open_kind = ""  # "llm" (a model turn) or "command" (a step without a model)
        self.pre: list[dict[str, Any]] = []  # retries etc. before the next model answer

    def add(self, step: dict[str, Any]) -> dict[str, Any]:
        step["step_id"] = len(self.steps) + 1
        self.steps.append(step)
        return step

    def attach(self, step: dict[str, Any], ev: dict[str, Any]) -> None:
        step.setdefault("extra", {}).setdefault("events", []).append(_brief(ev))

    def observe(self, step: dict[str, Any], call_id: str | None, text: str) -> None:
        step.setdefault("observation", {"results": []})["results"].append(
            {"source_call_id": call_id, "content": text}
        )


def trajectory_to_atif(events: list[dict[str, Any]], result: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build an ATIF document from looplab trajectory events (and the trial's result.json, if any)."""
    from looplab import __version__

    b = _Builder()
    start = next((e for e in events if e.get("type") == "start"), {})
    stop = next((e for e in reversed(events) if e.get("type") == "stop"), None)
    default_model = start.get("model")
    calls_are_steps = not any(e.get("type") == "assistant" for e in events)
    for ev in events:
        kind = ev.get("type")
        ts = ev.get("time")
        if kind == "model_call" and calls_are_steps and not ev.get("refused"):
            calls = [
                {
                    "id": c.get("id") or f"call{ev.get('step')}-{i}",
                    "name": c.get("name") or "tool",
                    "arguments": c["arguments"]
                    if isinstance(c.get("arguments"), dict)
                    else {"input": c.get("arguments")},
                }
                for i, c in enumerate(ev.get("tool_calls") or [])
            ]
            ev = {
                **ev,
                "type": "assistant",
                "tool_calls": calls,
                "cost_usd": (ev.get("usage") or {}).get("cost_usd"),
            }
            kind = "assistant"
        if kind in ("start", "stop"):
            continue
        if kind in ("system_prompt", "user"):
            b.open, b.pending = None, set()
            b.add(
                {
                    "timestamp": ts,
                    "source": "system" if kind == "system_prompt" else "user",
                    "message": str(ev.get("text", "")),
                }
            )
            continue
        if kind == "assistant":
            u = ev.get("usage") or {}
            calls = [
                {
                    "tool_call_id": str(c["id"]),
                    "function_name": str(c["name"]),
                    "arguments": c.get("arguments") or {},
                }
                for c in ev.get("tool_calls") or []
            ]
            step: dict[str, Any] = {"timestamp": ts, "source": "agent", "message": str(ev.get("text") or "")}
            if ev.get("model"):
                step["model_name"] = str(ev["model"])
            if ev.get("reasoning"):
                step["reasoning_content"] = str(ev["reasoning"])
            if calls:
                step["tool_calls"] = calls
            if u:
                step["metrics"] = {
                    "prompt_tokens": int(
                        u.get("input_tokens", 0)
                        + u.get("cache_read_tokens", 0)
                        + u.get("cache_write_tokens", 0)
                    ),
                    "completion_tokens": int(u.get("output_tokens", 0)),
                    "cached_tokens": int(u.get("cache_read_tokens", 0)),
                    "cost_usd": float(ev.get("cost_usd") or u.get("cost_usd") or 0.0),
                    "extra": {"cache_creation_input_tokens": int(u.get("cache_write_tokens", 0))},
                }
            extra = {
                k: ev[k]
                for k in ("turn", "told", "elapsed_s", "stop_reason", "retries", "duration_s")
                if ev.get(k) is not None
            }
            if b.pre:
                extra["before"] = [_brief(p) for p in b.pre]
                b.pre = []
            step["extra"] = extra
            b.open, b.pending, b.open_kind = b.add(step), {c["tool_call_id"] for c in calls}, "llm"
            continue
        call_id = ev.get("call_id")
        if (
            kind == "observation"
            and call_id
            and b.open is not None
            and str(call_id) in {c["tool_call_id"] for c in b.open.get("tool_calls", [])}
        ):
            b.observe(b.open, str(call_id), _obs_text(ev))
            b.pending.discard(str(call_id))
            continue
        if kind == "command" and call_id and b.open is not None and str(call_id) in b.pending:
            continue  # the call is already in the step's tool_calls
        if kind == "observation" and b.open is not None and b.open_kind == "command" and b.pending:
            cid = b.pending.pop()
            b.observe(b.open, cid, _obs_text(ev))
            continue
        if b.open is not None and b.pending:  # events inside an agent turn (e.g. the trial's dev check)
            b.attach(b.open, ev)
            continue
        if kind == "command":
            cid = str(call_id or f"ev{ev.get('step')}")
            args = {k: v for k, v in ev.items() if k not in _QUIET | {"tool", "call_id"}}
            step = {
                "timestamp": ts,
                "source": "agent",
                "message": "",
                "tool_calls": [
                    {"tool_call_id": cid, "function_name": str(ev.get("tool") or "shell"), "arguments": args}
                ],
                "extra": {"elapsed_s": ev.get("elapsed_s")},
            }
            if default_model:
                step["model_name"] = str(default_model)
            b.open, b.pending, b.open_kind = b.add(step), {cid}, "command"
            continue
        if kind == "retry":
            b.pre.append(ev)
            continue
        if kind == "compaction":
            msg = (
                f"context compaction: {ev.get('elided_observations', 0)} old observations elided, "
                f"{ev.get('dropped_messages', 0)} messages dropped "
                f"(≈{ev.get('tokens_before')} → {ev.get('tokens_after')} tokens)"
            )
            step = {"timestamp": ts, "source": "system", "message": msg, "extra": _brief(ev)}
            if ev.get("summary"):
                step["observation"] = {"results": [{"content": str(ev["summary"])}]}
            b.add(step)
            b.open, b.pending = None, set()
            continue
        if b.open is not None:
            b.attach(b.open, ev)
            continue
        b.add({"timestamp": ts, "source": "system", "message": f"[{kind}]", "extra": _brief(ev)})
    if not b.steps:
        b.add({"timestamp": start.get("time"), "source": "system", "message": "[no steps recorded]"})
    for s in b.steps:  # drop empty extras, keep the document tidy
        if s.get("extra") == {}:
            del s["extra"]
    metrics = [s["metrics"] for s in b.steps if s.get("metrics")]
    final = {
        "total_prompt_tokens": sum(m["prompt_tokens"] for m in metrics),
        "total_completion_tokens": sum(m["completion_tokens"] for m in metrics),
        "total_cached_tokens": sum(m["cached_tokens"] for m in metrics),
        "total_cost_usd": round(sum(m["cost_usd"] for m in metrics), 8),
        "total_steps": len(b.steps),
        "extra": {
            "cache_creation_input_tokens": sum(m["extra"]["cache_creation_input_tokens"] for m in metrics)
        },
    }
    result = result or {}
    agent_result = result.get("agent_result") or {}
    usage = agent_result.get("usage")
    if usage and usage.get("n_calls", 0) > len(metrics):  # calls not tied to a step (e.g. summaries)
        final["total_prompt_tokens"] = (
            usage["input_tokens"] + usage["cache_read_tokens"] + usage["cache_write_tokens"]
        )
        final["total_completion_tokens"] = usage["output_tokens"]
        final["total_cached_tokens"] = usage["cache_read_tokens"]
        final["total_cost_usd"] = round(usage["cost_usd"], 8)
        final["extra"]["cache_creation_input_tokens"] = usage["cache_write_tokens"]
    extra = {
        "producer": "looplab",
        "trial_name": result.get("trial_name"),
        "task_name": result.get("task_name"),
        "reward": result.get("reward"),
        "stop_reason": agent_result.get("stop_reason") or (stop or {}).get("stop_reason"),
        "timeout_sec": start.get("timeout_sec"),
        "complete": stop is not None,
    }
    if not metrics and not usage:
        final = {"total_steps": len(b.steps)}
    doc = {
        "schema_version": SCHEMA_VERSION,
        "session_id": str(result.get("id") or result.get("trial_name") or start.get("time") or "unknown"),
        "agent": {
            "name": str(result.get("agent") or start.get("agent") or "unknown"),
            "version": __version__,
        },
        "steps": b.steps,
        "final_metrics": final,
        "extra": {k: v for k, v in extra.items() if v is not None},
    }
    if default_model:
        doc["agent"]["model_name"] = str(default_model)
    if stop is None:
        doc["notes"] = "the trajectory ends without a stop event: the trial was killed while the agent worked"
    return doc


def trial_atif(trial_dir: Path) -> ATIFTrajectory:
    """The validated ATIF document of ``TRIAL_DIR/agent/trajectory.jsonl`` (with result.json when present)."""
    trial_dir = Path(trial_dir)
    paths = TrialPaths(trial_dir)
    src = paths.trajectory
    if not src.is_file():
        raise LooplabError(f"{src}: no trajectory (is {trial_dir} a trial folder?)")
    result = None
    if paths.result.is_file():
        try:
            result = TrialResult.read(paths.result).record()
        except (ValueError, OSError):
            result = None
    return validate_atif(trajectory_to_atif(read_trajectory(src), result))


def export_trial(trial_dir: Path, out: Path | None = None) -> tuple[Path, ATIFTrajectory]:
    """Write the trial's ATIF document (default: ``TRIAL_DIR/agent/trajectory.json``, Harbor's place)."""
    model = trial_atif(trial_dir)
    out = Path(out) if out else TrialPaths(Path(trial_dir)).atif
    atomic_write_json(out, model.model_dump(mode="json", exclude_none=True))
    return out, model


def export_steps(trial_dir: Path, step_names: list[str]) -> Path | None:
    """A multi-step trial's ``agent/trajectory.json``: its steps' ATIF documents in one, in order.

    Each step keeps its own ``steps/<name>/agent/trajectory.json``; here every step is renumbered
    and carries ``extra.step_name`` / ``extra.original_step_id``, the final metrics are summed,
    and ``extra.step_trajectories`` points at each step's document. None when no step has one.
    """
    paths = TrialPaths(Path(trial_dir))
    parts: list[tuple[str, ATIFTrajectory]] = []
    for name in step_names:
        try:
            parts.append((name, trial_atif(paths.step(name).dir)))
        except (LooplabError, ValueError, OSError):
            continue
    if not parts:
        return None
    steps: list[ATIFStep] = []
    for name, doc in parts:
        for st in doc.steps:
            extra = {**(st.extra or {}), "step_name": name, "original_step_id": st.step_id}
            steps.append(st.model_copy(update={"step_id": len(steps) + 1, "extra": extra}))
    totals: dict[str, Any] = {}
    for _, doc in parts:
        fm = doc.final_metrics
        for k in ("total_prompt_tokens", "total_completion_tokens", "total_cached_tokens", "total_cost_usd"):
            v = getattr(fm, k, None) if fm else None
            if v is not None:
                totals[k] = (totals.get(k) or 0) + v
    merged = ATIFTrajectory(
        schema_version=parts[0][1].schema_version,
        session_id=paths.dir.name,
        agent=parts[0][1].agent,
        steps=steps,
        notes="Aggregated from the steps' trajectories (multi-step task).",
        final_metrics=ATIFFinalMetrics(**totals, total_steps=len(steps)),
        extra={
            "multi_step": True,
            "step_trajectories": [
                {"step_name": n, "path": f"steps/{n}/agent/trajectory.json", "steps": len(d.steps)}
                for n, d in parts
            ],
        },
    )
    out = paths.atif
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, merged.model_dump(mode="json", exclude_none=True))
    return out
