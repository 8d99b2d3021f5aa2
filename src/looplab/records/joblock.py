"""Which process runs a job: an ``flock`` on the job folder's ``.lock``, holding its pid and command.

A job runs in one process at a time (``hold``); a second ``looplab run`` of the same job
fails with the holder's pid and command. The lock dies with its process, so
``holder`` also tells a reader (the report) whether a trial without a final record
is still running or was left by a process that is gone.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from looplab.errors import LooplabError
from looplab.records.layout import JobPaths


def _lock_path(paths: JobPaths) -> Path:
    return paths.dir / ".lock"


def holder(paths: JobPaths) -> str | None:
    """``pid N: command`` of the process running the job, or None when none is."""
    path = _lock_path(paths)
    if not path.is_file():
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return path.read_text(errors="replace").strip() or "another process"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


@contextlib.contextmanager
def hold(paths: JobPaths) -> Iterator[None]:
    """Run the job in this process; a ``LooplabError`` naming the holder when another one runs it."""
    paths.dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(_lock_path(paths), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            who = _lock_path(paths).read_text(errors="replace").strip() or "another process"
            raise LooplabError(f"{paths.dir}: the job is running in {who}; wait for it or stop it") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}: {' '.join(sys.argv)[:300]}\n".encode())
        yield
    finally:
        os.close(fd)
