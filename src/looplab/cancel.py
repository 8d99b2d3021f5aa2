"""Cancelling a running job or lab: one process-wide request, and the live sandboxes it stops.

The first SIGINT or SIGTERM (``install_handlers``) calls ``request``: schedulers stop
starting work (``requested()``), waits end (``wait`` returns early, ``check`` raises
``Cancelled``), and a helper thread stops every live sandbox, agents' first, then any
verifier's, so each running trial records ``cancelled`` with what it had. A second
signal exits the process at once with 130 (the next run repairs what it left).
Sandboxes register themselves in ``make_sandbox`` (``track``). Work outside a sandbox
stays stoppable through ``run`` (a host command, killed on a request) and ``flock`` (a
wait for a file lock that a request ends).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, Protocol

EXIT_INTERRUPTED = 130
POLL_S = 0.25  # how soon ``run`` and ``flock`` notice a request


class Cancelled(Exception):
    """Raised where work stops because cancellation was requested."""


class _Stoppable(Protocol):
    def stop(self) -> None: ...


_event = threading.Event()
_reason: list[str] = []
_live: weakref.WeakSet[Any] = weakref.WeakSet()
_lock = threading.Lock()


def requested() -> bool:
    return _event.is_set()


def reason() -> str:
    """What asked for the cancellation (``SIGINT``, ``SIGTERM``...), or ``""``."""
    return _reason[0] if _reason else ""


def check() -> None:
    """Raise ``Cancelled`` when cancellation was requested."""
    if _event.is_set():
        raise Cancelled(f"cancelled ({reason() or 'requested'})")


def wait(timeout: float) -> bool:
    """Sleep up to ``timeout`` seconds; True (early) when cancellation was requested."""
    return _event.wait(timeout)


def run(cmd: list[str], timeout: float | None = None, **kwargs: Any) -> subprocess.CompletedProcess:
    """``subprocess.run(cmd, capture_output=True, text=True)`` that a cancellation request stops.

    The command runs in a session of its own; on the request (noticed within ``POLL_S``) its
    whole process group is killed and ``Cancelled`` raised; past ``timeout`` the same, with
    ``subprocess.TimeoutExpired`` as ``subprocess.run`` raises it. Killing the group matters:
    a child left alive would hold the output pipes open, and the wait for them with it.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, **kwargs
    ) as proc:
        while True:
            try:
                out, err = proc.communicate(timeout=POLL_S)
                return subprocess.CompletedProcess(cmd, proc.returncode, out, err)
            except subprocess.TimeoutExpired:
                late = deadline is not None and time.monotonic() >= deadline
                if not (late or _event.is_set()):
                    continue
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
                check()
                raise subprocess.TimeoutExpired(cmd, timeout or 0.0) from None


def flock(fd: Any) -> None:
    """Take an exclusive ``flock`` on ``fd`` (a descriptor or file), waiting until it is free or
    until cancellation is requested (then ``Cancelled``); a blocking flock would outlast Ctrl-C."""
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if _event.wait(POLL_S):
                check()


def track(sandbox: _Stoppable, role: str) -> None:
    """Remember a live sandbox; ``role`` is ``agent`` (stopped first) or anything else."""
    with _lock:
        _live.add(sandbox)
        sandbox._cancel_role = role  # type: ignore[attr-defined]


def request(why: str = "requested") -> None:
    """Ask everything to stop; the live sandboxes are stopped in a helper thread (agents first)."""
    if _event.is_set():
        return
    _reason.append(why)
    _event.set()
    threading.Thread(target=_stop_live, name="looplab-cancel", daemon=True).start()


def _stop_live() -> None:
    with _lock:
        boxes = list(_live)
    boxes.sort(key=lambda b: getattr(b, "_cancel_role", "") != "agent")
    for box in boxes:
        try:
            box.stop()
        except Exception:  # noqa: BLE001 - one sandbox that fails to stop must not keep the others alive
            continue


def reset() -> None:
    """Forget a request (tests, and a process that runs a second job)."""
    _event.clear()
    _reason.clear()


def install_handlers(on_first: Callable[[str], None] | None = None) -> None:
    """SIGINT/SIGTERM: the first requests cancellation, a second exits at once with 130."""

    def handler(signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        if _event.is_set():
            sys.stderr.write(f"\n{name} again: exiting now (the next run repairs this job)\n")
            sys.stderr.flush()
            os._exit(EXIT_INTERRUPTED)
        request(name)
        if on_first is not None:
            on_first(name)

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
