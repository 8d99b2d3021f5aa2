"""A child process under a deadline: start it, wait for it with ``wait4``, kill it on time, read its output.

The one place that times and waits for a child with a timer: the candidate jails
(``looplab.sandbox.jail``) and the host runner of measured commands
(``looplab.measure.runners``) both start their process through ``run_until``.
``wait4`` reaps the child and returns its rusage (the CPU time of the child and
every descendant it waited for); the deadline is a ``poll`` on the child's pidfd,
after which the caller's ``kill`` runs, so nothing polls in a loop and no thread
starts. Output goes to files (no reader thread competes with a timed process);
``exec_fields`` reads the kept end back.
"""

from __future__ import annotations

import contextlib
import math
import os
import resource
import select
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any


@dataclass
class Waited:
    """How a child ended: exit code (-signal when killed), rusage, whether the deadline killed it."""

    pid: int
    exit_code: int
    usage: resource.struct_rusage
    timed_out: bool
    wall_s: float  # from just before the start to the reaping

    @property
    def cpu_s(self) -> float:
        """User + system CPU time of the child and every descendant it waited for."""
        return self.usage.ru_utime + self.usage.ru_stime


def run_until(
    start: Callable[[], subprocess.Popen[bytes]], timeout: float | None, kill: Callable[[int], None]
) -> Waited:
    """Start a child with ``start()`` and reap it; after ``timeout`` seconds ``kill(pid)`` is called once.

    The deadline is a ``poll`` on the child's pidfd (it turns readable when the child exits):
    no timer thread to start, schedule and join per child, and ``kill`` runs in the caller's
    thread, so it has ended before the caller goes on.
    """
    t0 = time.perf_counter()
    proc = start()
    timed_out = False
    if timeout is not None:
        fd = os.pidfd_open(proc.pid)
        try:
            waiter = select.poll()
            waiter.register(fd, select.POLLIN)
            if not waiter.poll(max(0, math.ceil(timeout * 1000))):
                timed_out = True
                kill(proc.pid)
        finally:
            os.close(fd)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
    return Waited(proc.pid, proc.returncode, usage, timed_out, wall)


def exec_fields(done: Waited, out: IO[bytes], err: IO[bytes], limit: int) -> dict[str, Any]:
    """The ``ExecResult`` fields of a reaped child whose stdout and stderr went to ``out`` and ``err``."""
    stdout, cut_out = read_tail(out, limit)
    stderr, cut_err = read_tail(err, limit)
    return {
        "exit_code": done.exit_code,
        "stdout": stdout,
        "stderr": stderr,
        "timed_out": done.timed_out,
        "duration_s": done.wall_s,
        "truncated": cut_out or cut_err,
    }


def kill_group(pid: int) -> None:
    """SIGKILL the process group ``pid`` leads (a child started with ``start_new_session``); gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def read_tail(fh: IO[bytes], limit: int) -> tuple[str, bool]:
    """The last ``limit`` bytes written to ``fh``, decoded, and whether anything before them was cut."""
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    fh.seek(max(0, size - limit))
    return fh.read().decode("utf-8", "replace"), size > limit
