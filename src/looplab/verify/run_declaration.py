"""``tests/run.toml``: the declaration the candidate runner (``looplab.verify.runner``) follows.

The models (``RunDeclaration``, its ``Step`` s), ``load_declaration`` (a bad file is one
line naming the field), the placeholder filling of commands, and the two things every
part of the runner shares: ``StepFailed`` (a step of a program did not succeed) and
``fresh_seed`` (each input's seed, drawn when it is generated). What the fields mean
is documented in the runner's docstring and in docs/writing-a-task.md.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from looplab.errors import LooplabError
from looplab.measure.timing import MeasurementFailed

DECLARATION = "run.toml"
SOLUTION = "solution"  # the program the harness adds: the task's own solution (``verify.reference``)
PLACEHOLDER = re.compile(r"\{(src|build|input|expected|output|reference|seed|purpose)\}")


class _Decl(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Step(_Decl):
    command: str
    timeout_sec: float = Field(default=60.0, gt=0)  # wall clock: past it the step failed
    # [run] of mode = "exact" only: a CPU-second budget of the run's jail (every process it started,
    # counted by its cgroup); at the budget the run is stopped and what it wrote is its output
    cpu_sec: float | None = Field(default=None, gt=0)


class RunDeclaration(_Decl):
    """``tests/run.toml``: what the runner runs, and how a program's time is taken."""

    mode: Literal["timed", "exact"] = "timed"  # exact: one run, the check's JSON is the reward
    programs: dict[str, str] = Field(default_factory=lambda: {"baseline": "/orig", "candidate": "/app"})
    screen: Step | None = None  # trusted, per non-reference program, first: static checks of {src}
    build: Step | None = None  # per program: {src} read-only, {build} writable
    # trusted (required when timed): {seed} {purpose} -> {input} (programs read it), {expected} (check only)
    generate: Step | None = None
    # per program (required when timed; exact: none = the check reads {src} as data): {build} {input}
    # read-only, {output} writable
    run: Step | None = None
    check: (
        Step  # trusted: exit 0 when {output} is right for {input} / {expected} ({src}: the program's sources)
    )
    # a program whose output on the same input the check gets as {reference}; in exact mode only
    # "solution": the task's solution, run alongside the candidate (``verify.runner_exact``)
    reference: str | None = None
    correctness_runs: int = Field(default=2, ge=1)
    time: Literal["cpu", "wall", "instructions"] = "cpu"
    count_rounds: int = Field(default=3, ge=1)  # time = "instructions": rounds of fresh input, each counted
    memory_mb: int = Field(default=2048, gt=0)
    pids_max: int = Field(default=64, gt=0)
    fsize_mb: int = Field(default=1024, gt=0)
    inputs: list[str] = Field(default_factory=list)  # extra root paths programs may read (hidden otherwise)
    # root entries program jails do not see either (as tests, logs, solution): local-only data, say
    hidden: list[str] = Field(default_factory=list)
    # where a log-speedup reward's s_ref comes from: "same-run" times the task's own solution
    # (solution/solve.sh applied to the pristine program, ``verify.reference``) as a third program
    # in the candidate's rounds; "calibration" (the opt-out) uses this machine's calibration
    s_ref: Literal["same-run", "calibration"] = "same-run"


def load_declaration(tests_dir: Path) -> RunDeclaration | None:
    """The task's declaration, None when it has none; a bad file is a one-line ``LooplabError``."""
    path = Path(tests_dir) / DECLARATION
    if not path.is_file():
        return None
    try:
        data = tomllib.loads(path.read_text())
        decl = RunDeclaration.model_validate(data)
    except tomllib.TOMLDecodeError as exc:
        raise LooplabError(f"{path}: not valid TOML: {exc}") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err["loc"])
        raise LooplabError(f"{path}: field {field}: {err['msg']}") from None
    for step in ("screen", "build", "generate", "check", "run"):
        s = getattr(decl, step)
        if s is not None and s.cpu_sec is not None and (step != "run" or decl.mode != "exact"):
            raise LooplabError(f"{path}: field {step}.cpu_sec: only [run] of mode = 'exact' has a CPU budget")
    if decl.mode == "exact":
        return _exact_problems(path, decl)
    for step in ("generate", "run"):
        if getattr(decl, step) is None:
            raise LooplabError(f"{path}: field {step}: Field required when mode = 'timed'")
    if len(decl.programs) < 2 or "candidate" not in decl.programs or "baseline" not in decl.programs:
        raise LooplabError(f"{path}: field programs: needs at least baseline and candidate")
    if decl.reference is not None and decl.reference not in decl.programs or decl.reference == "candidate":
        raise LooplabError(f"{path}: field reference: must name a program other than the candidate")
    return decl


def _exact_problems(path: Path, decl: RunDeclaration) -> RunDeclaration:
    """An exact declaration, or a one-line ``LooplabError``: only ``candidate`` runs, no timing fields."""
    if "programs" not in decl.model_fields_set:
        decl = decl.model_copy(update={"programs": {"candidate": "/app"}})
    if set(decl.programs) != {"candidate"}:
        raise LooplabError(f"{path}: field programs: mode = 'exact' runs one program, named candidate")
    if decl.reference not in (None, SOLUTION):
        raise LooplabError(f"{path}: field reference: mode = 'exact' takes only {SOLUTION!r} (or none)")
    if decl.reference == SOLUTION and decl.run is None:
        raise LooplabError(f"{path}: field reference: {SOLUTION!r} runs alongside [run], which is missing")
    return decl


def fill(command: str, values: dict[str, str]) -> str:
    """``command`` with each ``{name}`` placeholder replaced (other braces, as in shell, kept)."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), command)


class StepFailed(MeasurementFailed):
    """A build, run or check did not succeed; ``side`` names the program."""


def fresh_seed() -> int:
    """A seed no one has seen: an input's, drawn when it is generated."""
    return int.from_bytes(os.urandom(8), "little") >> 1
