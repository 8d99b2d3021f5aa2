"""Where measured commands run: as host subprocesses, or inside a ``Sandbox``.

Both runners take a shell command line and return a ``TimedResult`` (an
``ExecResult`` plus ``cpu_s``): ``duration_s`` is the command's wall time, measured
as tightly around the process as the runner allows (the subprocess runner sends
output to temporary files instead of pipes, so no reader competes with the timed
process), and ``cpu_s`` is the user+system CPU time of the command and every
descendant it waited for (``wait4`` rusage, microsecond resolution). In a sandbox
with a cgroup the CPU time is the cgroup's usage before and after the command, so
work handed to a process the command does not wait for (a double fork) still
counts; without a cgroup it comes from a tiny stdlib-only wrapper (``CPU_WRAPPER``)
run with the host's /usr/bin/python3, which reports ``wait4`` rusage on its last
stderr line. Paired timing
and instruction counting are written against the ``CommandRunner`` protocol, so the
same code measures on the host, in a test script inside a sandbox, or from the
verifier through ``sandbox.exec``.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Protocol

from looplab.procutil import exec_fields, kill_group, run_until
from looplab.sandbox.base import DEFAULT_OUTPUT_LIMIT, ExecResult, Sandbox

CPU_MARK = "LOOPLAB_CPU_S="
CPU_LINE_RE = re.compile(r"\n?" + CPU_MARK + r"([0-9.]+)\n?\Z")
CPU_WRAPPER = r"""
import os, sys
pid = os.fork()
if pid == 0:
    try:
        os.execv("/bin/bash", ["/bin/bash", "-c", sys.argv[1]])
    finally:
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
sys.stderr.write("\nLOOPLAB_CPU_S=%.9f\n" % (ru.ru_utime + ru.ru_stime))
sys.stderr.flush()
code = os.waitstatus_to_exitcode(status)
os._exit(code if code >= 0 else 128 - code)
"""


@dataclass
class TimedResult(ExecResult):
    """An ``ExecResult`` with the command's CPU time (user + system), when it was measured."""

    cpu_s: float | None = None


class CommandRunner(Protocol):
    """Runs one shell command line and reports what it did and how long it took."""

    def run(self, command: str, timeout: float | None = None, measure_cpu: bool = False) -> TimedResult: ...


class SubprocessRunner:
    """Runs commands with ``/bin/bash -c`` as children of this process (CPU time always measured)."""

    def __init__(
        self,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        inherit_env: bool = True,
        output_limit: int = DEFAULT_OUTPUT_LIMIT,
    ):
        self.cwd = cwd
        self.env = dict(os.environ) if inherit_env else {}
        self.env.update(env or {})
        self.output_limit = output_limit

    def run(self, command: str, timeout: float | None = None, measure_cpu: bool = False) -> TimedResult:
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            done = run_until(
                lambda: subprocess.Popen(
                    ["/bin/bash", "-c", command],
                    cwd=self.cwd,
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                ),
                timeout,
                kill_group,
            )
            if done.timed_out:
                kill_group(done.pid)  # descendants that outlived the shell
            return TimedResult(**exec_fields(done, out, err, self.output_limit), cpu_s=done.cpu_s)


class SandboxRunner:
    """Runs commands through ``sandbox.exec``; the wall time is the sandbox's own measure.

    Before each command every process left in the sandbox is killed (where the sandbox
    can, ``kill_processes``), so nothing one run left running can slow the next.
    """

    def __init__(
        self,
        sandbox: Sandbox,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        python: str = "/usr/bin/python3",
    ):
        self.sandbox = sandbox
        self.cwd = cwd
        self.env = dict(env or {})
        self.python = python

    def _cgroup_cpu(self) -> float | None:
        try:
            value = self.sandbox.usage().get("cpu_s")
        except (AttributeError, OSError):
            return None
        return float(value) if isinstance(value, int | float) else None

    def run(self, command: str, timeout: float | None = None, measure_cpu: bool = False) -> TimedResult:
        # every run starts alone: a process an earlier run left behind (the candidate's daemon
        # stealing the core or stopping the baseline) would bias the other side's time
        kill = getattr(self.sandbox, "kill_processes", None)
        if callable(kill):
            kill()
        before = self._cgroup_cpu() if measure_cpu else None
        if not measure_cpu or before is not None:
            r = self.sandbox.exec(command, timeout=timeout, env=self.env, cwd=self.cwd)
            after = self._cgroup_cpu() if measure_cpu else None
            cpu = after - before if after is not None and before is not None else None
            return TimedResult(**vars(r), cpu_s=cpu)
        wrapped = (
            f"exec {shlex.quote(self.python)} -I -S -c {shlex.quote(CPU_WRAPPER)} {shlex.quote(command)}"
        )
        r = self.sandbox.exec(wrapped, timeout=timeout, env=self.env, cwd=self.cwd)
        m = CPU_LINE_RE.search(r.stderr)
        fields = vars(r)
        if m:
            fields["stderr"] = r.stderr[: m.start()]
        return TimedResult(**fields, cpu_s=float(m.group(1)) if m else None)
