"""The candidate runner: the one place where verification runs candidate (and baseline) code.

A task declares what to run in ``tests/run.toml`` (``RunDeclaration``); it writes
no jail code. The sealed verifier then, from the host:

1. builds every program (``[programs]``: name -> its source folder, e.g.
   ``baseline = "/orig"``, ``candidate = "/app"``) before any input exists, each in
   a fresh jail where only its build folder is writable;
2. checks the candidate on ``correctness_runs`` inputs drawn from fresh seeds;
3. times the programs interleaved on the same cores (``measure_interleaved``),
   with a fresh input per round and every timed run's output checked.

Every step runs in a fresh one-shot jail (``looplab.sandbox.jail``): read-only
root, empty private ``/tmp``, ``/dev/shm`` and ``HOME``, no network, own PID
namespace, a cgroup emptied before the next step. Program jails never see
``/tests``, ``/logs``, ``/solution``, the seed or the expected output: the
trusted ``generate`` step (which sees ``/tests``) writes the program's input to
``/input`` and what only the check may read to ``/expected``; the trusted
``check`` step reads ``/input``, ``/expected`` and the program's ``/output``
(its files, and ``stdout`` the harness saved), never loading the program. A
program's time is its jail's cgroup CPU time (``time = "cpu"``) or the
harness's clock around it (``"wall"``), never a number the program printed.
Placeholders in commands: ``{src}`` ``{build}`` ``{input}`` ``{expected}``
``{output}`` ``{reference}`` ``{seed}`` ``{purpose}`` (``check-0``, ``check-1``, ... for
the correctness inputs, ``time`` for the timed ones). With
``reference = "baseline"`` the check also gets the pristine program's output on the
same input (``/reference``): the yardstick where trusted code cannot compute the
answer cheaply; it runs in every round anyway, so checking costs no extra run.
In exact mode a run may have a budget instead of a limit: ``[run] cpu_sec`` stops it
once its jail's processes together (the cgroup's count) have used that many CPU
seconds, and what it wrote by then is its output (a trainer saves its model as it
goes); ``timeout_sec`` stays a wall-clock limit past which the run failed.
``hidden`` names more root entries that program jails do not see (local-only data).
The harness may add programs of its own (``add_program``): the reference solution
(``verify.reference``), whose folder is bound only into its own jails, timed in the
same rounds for a same-run ``s_ref`` (``s_ref = "same-run"``, the default), or, in
exact mode with ``reference = "solution"``, run at the same time as the candidate
(``verify.runner_exact``, which also holds the rest of exact mode).
"""

from __future__ import annotations

import contextlib
import itertools
import os
from pathlib import Path
from typing import Any

from looplab.errors import LooplabError
from looplab.fsutil import remove_tree
from looplab.measure.lock import MeasurementLock
from looplab.measure.stats import RatioCI
from looplab.measure.timing import PairedResult, PairedSettings, measure_interleaved
from looplab.sandbox.bwrap import looplab_site_paths, runtime_env_path
from looplab.sandbox.jail import JailCgroup, JailResult, JailSpec, run_jail
from looplab.verify.run_declaration import (
    RunDeclaration,
    Step,
    StepFailed,
    fill,
    fresh_seed,
    load_declaration,
)
from looplab.verify.runner_instructions import InstructionCounting

BUILD, INPUT, EXPECTED, OUTPUT, REFERENCE = "/build", "/input", "/expected", "/output", "/reference"
PROGRAM_HIDDEN = ("tests", "logs", "solution")
TRUSTED_HIDDEN = ("logs", "solution")
__all__ = ["CandidateRunner", "RunDeclaration", "Step", "StepFailed", "load_declaration"]


def _tail(text: str, n: int = 400) -> str:
    text = text.strip().replace("\n", " | ")
    return text if len(text) <= n else "…" + text[-n:]


class CandidateRunner(InstructionCounting):
    """Builds, runs, checks and times the declared programs of one verification.

    ``root`` is the verifier's private root (pristine environment, the candidate's
    editable files, ``/tests``); ``scratch`` a host folder no jail sees as a whole.
    """

    def __init__(
        self, decl: RunDeclaration, root: Path, scratch: Path, cores: list[int] | None, env: dict[str, str]
    ):
        self.decl = decl
        self.root = Path(root)
        self.scratch = Path(scratch)
        self.cores = cores
        # looplab's interpreter (with numpy) first, as in the verifier sandbox, then the task's PATH
        path = runtime_env_path() + (":" + env["PATH"] if env.get("PATH") else "")
        self.env = {**env, "PATH": path}
        self.runtime_ro = [(p, str(p)) for p in looplab_site_paths()]
        self.builds: dict[str, Path] = {}
        # the programs and their source folders: the declared ones, plus any the harness adds
        # (``add_program``: the reference solution), each with read-only binds of its own
        self.programs: dict[str, str] = dict(decl.programs)
        self.mounts: dict[str, list[tuple[Path, str]]] = {}
        self.log: list[dict[str, Any]] = []
        # time = "instructions": the count folder of each program's last run, and its watch
        self.counts: dict[str, Path] = {}
        self.watches: dict[str, Any] = {}
        self._n = itertools.count(1)  # folder numbers (next() is atomic: programs may run in threads)
        # one cgroup for all of this verification's jails, emptied between them; a program run at the
        # same time as another (exact mode's reference, ``verify.runner_exact``) gets one of its own
        self.cgroup = JailCgroup("runner", cores, decl.memory_mb, decl.pids_max)
        self.own_cgroups: dict[str, JailCgroup] = {}
        self.scratch.mkdir(parents=True, exist_ok=True)
        os.chmod(self.scratch, 0o711)  # bwrap (as the sandbox uid) must reach the bind sources

    def add_program(self, name: str, src: str, mounts: list[tuple[Path, str]]) -> None:
        """A program the task does not declare (the reference solution): ``src`` is its source folder
        as its jails see it, ``mounts`` (host, jail path) read-only binds only its own jails get
        (its build, runs and the checks of its outputs): no other program's jail sees them."""
        if name in self.programs:
            raise LooplabError(f"program {name!r} is already declared in tests/run.toml")
        self.programs[name] = src
        self.mounts[name] = list(mounts)

    # ---- folders and jails ---------------------------------------------------------------
    def _fresh(self, kind: str) -> Path:
        d = self.scratch / f"{kind}-{next(self._n)}"
        d.mkdir()
        os.chmod(d, 0o755)
        return d

    def _fill(self, command: str, **values: str) -> str:
        return fill(
            command, {"build": BUILD, "input": INPUT, "expected": EXPECTED, "output": OUTPUT, **values}
        )

    def _jail(
        self,
        step: Step,
        command: str,
        hide: tuple[str, ...],
        ro: list[tuple[Path, str]],
        rw: list[tuple[Path, str]],
        cwd: str = "/",
        cgroup: JailCgroup | None = None,
    ) -> JailResult:
        if hide == PROGRAM_HIDDEN:
            hide = (*hide, *(h.strip("/") for h in self.decl.hidden))
        hidden = tuple(h for h in hide if f"/{h}" not in self.decl.inputs)
        spec = JailSpec(
            root=self.root,
            hide=hidden,
            ro=[*self.runtime_ro, *ro],
            rw=rw,
            env=self.env,
            cwd=cwd,
            cpus=self.cores,
            memory_mb=self.decl.memory_mb,
            pids_max=self.decl.pids_max,
            fsize_mb=self.decl.fsize_mb,
            timeout_s=step.timeout_sec,
            cpu_budget_s=step.cpu_sec,
            cgroup=cgroup or self.cgroup,
        )
        return run_jail(["/bin/sh", "-c", command], spec)

    # ---- the steps -------------------------------------------------------------------------
    def screen(self, name: str) -> None:
        """The trusted static check of a program's sources (an import rule, say), before anything runs."""
        if self.decl.screen is None or name == self.decl.reference:
            return
        cmd = self._fill(self.decl.screen.command, src=self.programs[name])
        r = self._jail(self.decl.screen, cmd, TRUSTED_HIDDEN, self.mounts.get(name, []), [])
        if not r.ok:
            raise StepFailed(name, f"{name}: {_tail(r.stdout + r.stderr) or f'screen exited {r.exit_code}'}")

    def build(self, name: str) -> None:
        """Build program ``name`` into a fresh folder (raises ``StepFailed``)."""
        src = self.programs[name]
        out = self._fresh(f"build-{name}")
        self.builds[name] = out
        if self.decl.build is None:
            return
        cmd = self._fill(self.decl.build.command, src=src)
        mounts = self.mounts.get(name, [])
        r = self._jail(self.decl.build, cmd, PROGRAM_HIDDEN, mounts, [(out, BUILD)], cwd=BUILD)
        self.log.append(
            {"step": "build", "program": name, "exit_code": r.exit_code, "s": round(r.duration_s, 3)}
        )
        if not r.ok:
            why = "timed out" if r.timed_out else f"exited {r.exit_code}"
            raise StepFailed(
                name, f"{name} ({src}) does not build: {why}: {_tail(r.stderr or r.stdout, 800)}"
            )

    def generate(self, seed: int, purpose: str) -> tuple[Path, Path]:
        """A fresh input (programs see it) and expected folder (only the check sees it)."""
        inp, exp = self._fresh("input"), self._fresh("expected")
        assert self.decl.generate is not None, "generate() of a declaration without [generate]"
        cmd = self._fill(self.decl.generate.command, seed=str(seed), purpose=purpose)
        r = self._jail(self.decl.generate, cmd, TRUSTED_HIDDEN, [], [(inp, INPUT), (exp, EXPECTED)])
        if not r.ok:
            raise LooplabError(
                f"the task's input generator failed (seed {seed}): {_tail(r.stderr or r.stdout)}"
            )
        return inp, exp

    def own_cgroup(self, name: str) -> JailCgroup:
        """A cgroup for ``name``'s runs alone (same cores and limits): for a run alongside another one."""
        if name not in self.own_cgroups:
            self.own_cgroups[name] = JailCgroup(
                f"runner-{name}", self.cores, self.decl.memory_mb, self.decl.pids_max
            )
        return self.own_cgroups[name]

    def run(self, name: str, inp: Path, cgroup: JailCgroup | None = None) -> tuple[JailResult, Path]:
        """One run of program ``name`` on ``inp``: its result and its output folder.

        ``cgroup``: where another program runs at the same time, one of its own (``own_cgroup``).
        """
        out = self._fresh(f"output-{name}")
        assert self.decl.run is not None, "run() of a declaration without [run]"
        cmd = self._fill(self.decl.run.command, src=self.programs[name])
        rw = [(out, OUTPUT)]
        if self.decl.time == "instructions":
            cmd, rw = self._counted(name, cmd, rw)
        ro = [*self.mounts.get(name, []), (self.builds[name], BUILD), (inp, INPUT)]
        r = self._jail(self.decl.run, cmd, PROGRAM_HIDDEN, ro, rw, cgroup=cgroup)
        # the output folder is the check's input from here on; the check jail sees /expected,
        # so no symlink (or FIFO, device) the program left may stay in it
        try:
            keep_regular_files(out)
        except OSError as exc:
            raise StepFailed(name, f"{name}: its output folder cannot be checked: {exc}") from None
        stdout = out / "stdout"
        if stdout.exists() or stdout.is_symlink():
            remove_tree(stdout)
        fd = os.open(stdout, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "w") as fh:
            fh.write(r.stdout)
        return r, out

    def check(self, name: str, inp: Path, exp: Path, out: Path, ref: Path | None = None) -> None:
        """Raise ``StepFailed`` unless the trusted check accepts ``out`` (``ref``: the reference's output)."""
        cmd = self._fill(self.decl.check.command, reference=REFERENCE, src=self.programs[name])
        ro = [*self.mounts.get(name, []), (inp, INPUT), (exp, EXPECTED), (out, OUTPUT)]
        ro += [(ref, REFERENCE)] if ref is not None else []
        r = self._jail(self.decl.check, cmd, TRUSTED_HIDDEN, ro, [])
        if not r.ok:
            why = _tail(r.stdout + r.stderr) or f"check exited {r.exit_code}"
            raise StepFailed(name, f"{name}: wrong output: {why}")

    def _ran(self, name: str, r: JailResult) -> None:
        if r.timed_out:
            limit = self.decl.run.timeout_sec if self.decl.run else 0.0
            raise StepFailed(name, f"{name} timed out after {limit:g} s")
        if r.cpu_limited:  # stopped at its CPU budget (cpu_sec): what it wrote is its output
            return
        if r.exit_code != 0:
            raise StepFailed(name, f"{name} exited {r.exit_code}: {_tail(r.stderr) or '(no stderr)'}")

    def _check_round(self, inp: Path, exp: Path, outs: dict[str, Path]) -> None:
        """Check every program's output of one input; the reference program's is the yardstick."""
        ref_name = self.decl.reference
        try:
            for name, out in outs.items():
                if name != ref_name:
                    self.check(name, inp, exp, out, outs.get(ref_name) if ref_name else None)
        finally:
            for out in outs.values():
                remove_tree(out)
            outs.clear()

    def correctness(self, name: str = "candidate") -> int:
        """Check ``name`` on ``correctness_runs`` fresh inputs; returns how many passed (all, or raises)."""
        for i in range(self.decl.correctness_runs):
            inp, exp = self.generate(fresh_seed(), f"check-{i}")
            outs: dict[str, Path] = {}
            try:
                # the reference runs on a correctness input only where the check reads its output
                ref = (
                    [self.decl.reference]
                    if self.decl.reference and "{reference}" in self.decl.check.command
                    else []
                )
                for prog in dict.fromkeys([name, *ref]):
                    r, outs[prog] = self.run(prog, inp)
                    self._ran(prog, r)
                self._check_round(inp, exp, outs)
            finally:
                for d in (inp, exp, *outs.values()):
                    remove_tree(d)
                self._drop_counts()
        return self.decl.correctness_runs

    def time(
        self, settings: PairedSettings, lock: MeasurementLock | None, order: list[str] | None = None
    ) -> PairedResult:
        """Time the programs interleaved (first over second is the speedup), fresh input per round.

        Every run's output is checked after its round, untimed; a wrong output ends the
        measurement with ``StepFailed`` naming the program.
        """
        rest = [p for p in self.programs if p not in ("baseline", "candidate")]
        programs = order or ["baseline", "candidate", *rest]
        current: dict[str, Path] = {}
        outs: dict[str, Path] = {}

        def prepare(_round: int) -> None:
            for d in current.values():
                remove_tree(d)
            current["input"], current["expected"] = self.generate(fresh_seed(), "time")

        def run_once(name: str, _round: int) -> float:
            r, outs[name] = self.run(name, current["input"])
            self._ran(name, r)
            value = r.cpu_s if self.decl.time == "cpu" else r.duration_s
            if value is None or value <= 0:
                raise StepFailed(name, f"{name} took no measurable {self.decl.time} time")
            return float(value)

        def after_round(_round: int) -> None:
            self._check_round(current["input"], current["expected"], outs)

        st = settings.model_copy(update={"time_source": self.decl.time})

        def precise(cis: dict[str, RatioCI]) -> bool:
            # the candidate's ratio precise, and either every other one too or the candidate's
            # interval reaching 1: then it scores 0 whatever the other ratios are (a nop stops early)
            first = cis[programs[1]]
            if first.rel_half_width > st.target:
                return False
            return first.low <= 1.0 or all(c.rel_half_width <= st.target for c in cis.values())

        try:
            return measure_interleaved(
                programs,
                run_once,
                st,
                lock,
                prepare=prepare,
                after_round=after_round,
                commands={p: self.programs[p] for p in programs},
                precise=precise if programs[1] == "candidate" else None,
            )
        finally:
            for d in [*current.values(), *outs.values()]:
                remove_tree(d)

    def close(self) -> None:
        self.cgroup.close()
        for cg in self.own_cgroups.values():
            cg.close()
        with contextlib.suppress(OSError):  # iterative: a candidate's deep tree cannot overflow the stack
            remove_tree(self.scratch)


def keep_regular_files(top: Path) -> int:
    """Remove everything under ``top`` that is neither a folder nor a regular file; returns how many.

    Iterative (a deep tree cannot exhaust the stack), never follows a symlink, and fails closed:
    a folder it cannot list (a tree deeper than PATH_MAX, a folder the program locked) raises
    ``OSError`` rather than being skipped, since whatever lies below it would reach the check.
    """
    removed = 0
    stack = [Path(top)]
    while stack:
        d = stack.pop()
        with os.scandir(d) as it:
            entries = list(it)
        for e in entries:
            if e.is_dir(follow_symlinks=False):
                stack.append(Path(e.path))
            elif not e.is_file(follow_symlinks=False):
                os.unlink(e.path)
                removed += 1
    return removed
