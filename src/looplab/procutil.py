"""A child process under a deadline: start it, wait for it with ``wait4``, kill it on time, read its output.

The one place that times and waits for a child with a timer: the candidate jails
(``looplab.sandbox.jail``) and the host runner of measured commands
(``looplab.measure.runners``) both start their process through ``run_until``.
``wait4`` reaps the child and returns its rusage (the CPU time of the child and
every descendant it waited for); a timer thread calls the caller's ``kill`` when
the deadline passes, so nothing polls. Output goes to files (no reader thread
competes with a timed process); ``exec_fields`` reads the kept end back.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import threading
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
    """Start a child with ``start()`` and reap it; after ``timeout`` seconds ``kill(pid)`` is called once."""
    t0 = time.perf_counter()
    proc = start()
    fired = threading.Event()

    def on_timeout() -> None:
        fired.set()
        kill(proc.pid)

    timer = threading.Timer(timeout, on_timeout) if timeout is not None else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        if timer is not None:
            timer.cancel()
            timer.join()  # a ``kill`` under way ends before the caller goes on (and starts the next child)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
    return Waited(proc.pid, proc.returncode, usage, fired.is_set(), wall)


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
