"""The candidate runner's ``time = "instructions"`` mode: every run under callgrind, every process counted.

``InstructionCounting`` is the part of ``looplab.verify.runner.CandidateRunner`` that
wraps each run in callgrind (``_counted``, called by ``CandidateRunner.run`` in this
mode), reads a run's count from its watched count folder (``instructions``) and counts
every program over rounds of fresh input (``count``). See the runner's docstring.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from looplab.errors import LooplabError
from looplab.fsutil import remove_tree
from looplab.verify.run_declaration import StepFailed, fresh_seed

COUNT = "/count"  # where callgrind writes one file per process


class InstructionCounting:
    """Mixed into ``CandidateRunner`` (its base): ``_fresh``, ``generate``, ``run``, ``_ran``,
    ``_check_round``, ``env`` and ``programs`` used here are the runner's."""

    counts: dict[str, Path]  # each program's last run's count folder
    watches: dict[str, Any]  # and its watch

    def _counted(self, name: str, cmd: str, rw: list[tuple[Path, str]]) -> tuple[str, list[tuple[Path, str]]]:
        """``cmd`` wrapped in callgrind (every process it starts traced) and the writable binds for it.

        Every run of every program goes through here in this mode, correctness runs
        included: a program has no run outside valgrind to behave differently in.
        """
        from looplab.measure.instructions import FIXED_ENV, CountFolderWatch, callgrind_argv, valgrind_version

        valgrind_version()  # a clear error when valgrind is missing
        cnt = self._fresh(f"count-{name}")
        self.counts[name] = cnt
        self.watches[name] = CountFolderWatch(cnt)
        env = {**FIXED_ENV, "PATH": self.env.get("PATH", "/usr/bin:/bin")}
        argv, _shell = callgrind_argv(cmd, f"{COUNT}/cg.%p", None, env)
        argv.insert(argv.index("-q") + 1, "--vgdb=no")  # no vgdb FIFO in /tmp
        return "exec " + shlex.join(argv), [*rw, (cnt, COUNT)]

    def instructions(self, name: str) -> int:
        """The instructions every process of ``name``'s last run executed (callgrind's totals).

        The count folder was watched from the host during the run: a file opened twice,
        renamed, removed or linked (a process rewriting a sibling's count), or any entry
        that is not one process's regular file, fails the run of that program.
        """
        from looplab.measure.instructions import counted_files, parse_totals

        cnt = self.counts.pop(name)
        watch = self.watches.pop(name)
        try:
            why = watch.tampering()
            if why is not None:
                raise StepFailed(name, f"{name}: the instruction count was tampered with: {why}")
            try:
                procs = parse_totals(counted_files(cnt))
            except LooplabError as exc:
                raise StepFailed(name, f"{name}: the instruction count was tampered with: {exc}") from None
        finally:
            remove_tree(cnt)
        if not procs:
            raise StepFailed(name, f"{name}: callgrind wrote no instruction count")
        return sum(p.instructions for p in procs)

    def count(self, rounds: int) -> dict[str, list[int]]:
        """Instruction counts of every program, ``rounds`` rounds, a fresh input per round.

        In each round every program runs under callgrind in a fresh jail on the same
        input; every output is checked (a wrong one ends it with ``StepFailed``).
        """
        counts: dict[str, list[int]] = {p: [] for p in self.programs}
        for _ in range(rounds):
            inp, exp = self.generate(fresh_seed(), "time")
            outs: dict[str, Path] = {}
            try:
                for prog in self.programs:
                    r, outs[prog] = self.run(prog, inp)
                    self._ran(prog, r)
                    counts[prog].append(self.instructions(prog))
                self._check_round(inp, exp, outs)
            finally:
                for d in (inp, exp, *outs.values()):
                    remove_tree(d)
                self._drop_counts()
        return counts

    def _drop_counts(self) -> None:
        for d in self.counts.values():
            remove_tree(d)
        self.counts.clear()
        for w in self.watches.values():
            w.tampering()  # closes it
        self.watches.clear()
