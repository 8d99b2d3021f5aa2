"""What a lab backend returns, the base class to implement, and the runner that calls it.

A backend turns a pipeline folder and a data folder into an ``EvalResult``: one
score (the number the lab optimizes), free-form numeric metrics, and per-sample
results for ``lab diagnose``. It is either a Python class (``entry =
"backend.py:MyBackend"``: ``evaluate(pipeline_dir, data_dir, sample_ids=None)``)
or a command that prints the same JSON on stdout. Both run inside the evaluation
sandbox; ``python3 -m looplab.lab.backend`` is the runner that loads the class
there and calls it. Autoresearch Lab's ``sample_results`` field name is accepted
as an alias of ``samples``.

The result's channel is one the pipeline's code cannot write: the runner marks
itself non-dumpable (no ``/proc/<pid>/fd`` of it for same-user processes), forks a
child that loads the backend (and through it the pipeline), points that child's
stdout at stderr, and takes the child's result over a private pipe. Only the
runner writes its own stdout, one JSON object, which the lab reads. A pipeline
that writes result files, prints result JSON or exits early therefore scores
nothing: no result reached the runner, the evaluation crashed.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import json
import math
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator

from looplab.errors import LooplabError


class SampleResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sample_id: str
    score: float
    metrics: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None

    @field_validator("sample_id", mode="before")
    @classmethod
    def _str(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) else v


class EvalResult(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    score: float
    metrics: dict[str, Any] = Field(default_factory=dict)
    samples: list[SampleResult] = Field(
        default_factory=list, validation_alias=AliasChoices("samples", "sample_results")
    )

    @field_validator("score")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError(f"score must be a finite number, got {v!r}")
        return v


class EvalBackend:
    """Subclass this (or write any class with the same ``evaluate``) and name it in lab.toml."""

    def evaluate(self, pipeline_dir: Path, data_dir: Path, sample_ids: list[str] | None = None) -> EvalResult:
        raise NotImplementedError("a lab backend implements evaluate()")


def parse_result(data: Any, where: str) -> EvalResult:
    """Validate a backend's answer (an EvalResult, a dict, or JSON text) into an ``EvalResult``."""
    if isinstance(data, EvalResult):
        return data
    if isinstance(data, str):
        data = _json_from_text(data, where)
    if hasattr(data, "model_dump"):
        data = data.model_dump()
    elif not isinstance(data, dict) and hasattr(data, "__dict__"):
        data = dict(vars(data))
        if "sample_results" in data:
            data["sample_results"] = [
                s if isinstance(s, dict) else dict(vars(s)) for s in data["sample_results"]
            ]
    try:
        return EvalResult.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err.get("loc", ())) or "(top level)"
        raise LooplabError(f"{where}: field {loc}: {err.get('msg', 'invalid')}") from None


def _json_from_text(text: str, where: str) -> Any:
    text = text.strip()
    try:
        return json.loads(text)
    except ValueError:
        pass
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    tail = text[-200:] if text else "(no output)"
    raise LooplabError(f"{where}: printed no result JSON object; output ends with: {tail}")


def load_backend_class(entry: str, lab_dir: Path) -> type:
    """Import the class named by ``entry`` ('file.py:Class' relative to ``lab_dir``, or 'pkg.mod:Class')."""
    target, _, cls_name = entry.rpartition(":")
    if str(lab_dir) not in sys.path:
        sys.path.insert(0, str(lab_dir))
    if target.endswith(".py"):
        file = (lab_dir / target).resolve()
        if not file.is_file():
            raise LooplabError(f"backend entry {entry!r}: {file} not found")
        spec = importlib.util.spec_from_file_location(f"looplab_lab_backend_{file.stem}", file)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    cls = getattr(module, cls_name, None)
    if cls is None:
        raise LooplabError(f"backend entry {entry!r}: no {cls_name} in {target}")
    if not callable(getattr(cls, "evaluate", None)):
        raise LooplabError(f"backend entry {entry!r}: {cls_name} has no evaluate() method")
    return cls


def run_entry(
    entry: str, lab_dir: Path, pipeline_dir: Path, data_dir: Path, sample_ids: list[str] | None
) -> EvalResult:
    cls = load_backend_class(entry, lab_dir)
    result = cls().evaluate(pipeline_dir, data_dir, sample_ids=sample_ids)
    return parse_result(result, f"backend {entry}")


def worst_samples(result: EvalResult, direction: str, top: int | None = None) -> list[SampleResult]:
    """Per-sample results, worst first (highest scores first when lower is better), failures first of all."""
    ordered = sorted(
        result.samples,
        key=lambda s: (s.error is None, -s.score if direction == "lower" else s.score, s.sample_id),
    )
    return ordered[:top] if top else ordered


def _no_dumping() -> None:
    """Make this process non-dumpable: same-user processes cannot open its /proc fds or ptrace it."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 0


def _evaluate_in_child(args: argparse.Namespace, write_fd: int) -> None:
    """The forked child: stdout goes to stderr, the result (or the error) goes to ``write_fd``."""
    os.dup2(2, 1)
    try:
        res = run_entry(args.entry, args.lab, args.pipeline, args.data, args.sample)
        answer: dict[str, Any] = {"ok": True, "result": res.model_dump()}
    except BaseException as exc:  # the lab records any failure as a crashed evaluation
        tb = traceback.format_exc()[-6000:]
        msg = str(exc) if isinstance(exc, LooplabError) else f"{type(exc).__name__}: {exc}"
        answer = {"ok": False, "error": msg, "traceback": tb}
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        data = json.dumps(answer).encode()
        with os.fdopen(write_fd, "wb") as fh:
            fh.write(data)
        os._exit(0)


def main(argv: list[str] | None = None) -> int:
    """The in-sandbox runner: evaluate once in a child and print the result (or the error) as JSON."""
    ap = argparse.ArgumentParser(prog="python3 -m looplab.lab.backend")
    ap.add_argument("--entry", required=True)
    ap.add_argument("--lab", required=True, type=Path)
    ap.add_argument("--pipeline", required=True, type=Path)
    ap.add_argument("--data", required=True, type=Path)
    ap.add_argument("--sample", action="append", default=None)
    args = ap.parse_args(argv)
    _no_dumping()
    sys.stdout.flush()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _evaluate_in_child(args, write_fd)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as fh:
        data = fh.read()
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    try:
        answer = json.loads(data) if data else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or code != 0:
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        answer = {"ok": False, "error": f"the backend process {how} before returning a result"}
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
    return 0 if answer.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
