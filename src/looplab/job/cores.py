"""Give each concurrent trial its own CPU cores and a share of memory, so trials don't interfere.

``CoreAllocator.acquire(cpus, memory_mb)`` blocks until ``ceil(cpus)`` cores that
no other trial holds are free *and* the trial's ``memory_mb`` fits in what the
running trials have not reserved, then returns a ``Grant`` (the cores, the memory
reserved, the seconds waited); ``release(grant)`` gives them back. Requests are
served strictly in arrival order (a large task at the head of the queue is never
starved by small ones behind it). A request larger than the machine is capped at
the machine, so it runs alone rather than never.

Cores are also claimed host-wide with ``flock`` on ``<runtime>/core-claims/cpuN.lock``,
so trials of two ``looplab run`` processes, or of Ray workers on one node, never
share a core either; a claim dies with its process, and processes waiting for
cores queue on one lock so the oldest waiter is served first. A claim file holds its
holder (pid, command, since when), so a wait is reported as ``waiting for 2 core(s)
held by pid N: looplab run … since 00:12`` (``on_wait``), and it can be bounded
(``max_wait_s``: then the trial runs unpinned, which its record says). Set ``LOOPLAB_CORE_CLAIMS=0``
to keep claims inside one process, or to a folder to coordinate only the processes
that share that folder. A cancellation (Ctrl-C) ends every wait with ``cancel.Cancelled``.
Memory is accounted per allocator (per job,
or per Ray worker process, where Ray's own ``memory`` resource does the job).
"""

from __future__ import annotations

import fcntl
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from looplab import cancel, settings
from looplab.environment.build import runtime_dir

CLAIM_POLL_S = 0.25
WAIT_REPORT_S = 5.0  # how often a wait for another process's cores is reported


def _command() -> str:
    """This process's command line, short (what a waiting process prints about the holder)."""
    argv = [os.path.basename(sys.argv[0]) if sys.argv else "python", *sys.argv[1:]]
    if argv[0] in ("__main__.py", "-m"):
        argv[0] = "looplab"
    text = " ".join(argv)
    return text if len(text) <= 80 else text[:79] + "…"


def machine_memory_mb() -> int:
    """Total memory of the machine in MiB (MemTotal), or 0 when unknown (no memory accounting)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def claims_dir() -> Path | None:
    """The host-wide core-claim folder: ``LOOPLAB_CORE_CLAIMS`` = 0 (off), a folder, or unset (default)."""
    d = settings.current().core_claims
    if d is None:
        return None
    runtime_dir()  # the cache root exists and the sandbox uid can traverse it
    d.mkdir(parents=True, exist_ok=True)
    return d


@dataclass
class Grant:
    """What one trial holds while it runs."""

    cores: list[int]  # empty: the wait for cores was bounded and ran out, so the trial runs unpinned
    memory_mb: int = 0
    waited_s: float = 0.0
    _fds: list[int] = field(default_factory=list, repr=False)


class CoreAllocator:
    def __init__(
        self,
        cores: list[int] | None = None,
        memory_mb: int | None = None,
        claims: Path | None | bool = True,
        on_wait: Callable[[str], None] | None = None,
        max_wait_s: float | None = None,
    ):
        """``on_wait(message)`` hears, every few seconds, what a host-wide claim waits for and who
        holds it; after ``max_wait_s`` of that wait a grant comes back with no cores (unpinned)."""
        self.on_wait = on_wait
        self.max_wait_s = max_wait_s
        self.cores = sorted(cores if cores is not None else os.sched_getaffinity(0))
        if not self.cores:
            raise ValueError("CoreAllocator needs at least one core")
        self.memory_mb = machine_memory_mb() if memory_mb is None else int(memory_mb)
        self.claims = claims_dir() if claims is True else (claims or None)
        self._free = list(self.cores)
        self._mem_free = self.memory_mb
        self._cond = threading.Condition()
        self._queue: list[int] = []  # tickets of waiting requests, oldest first
        self._next_ticket = 0
        self.waited_s: float = 0.0
        self.running = 0
        self.max_running = 0

    def want(self, cpus: float) -> int:
        """Cores a task asking for ``cpus`` gets: at least one, at most the machine."""
        return max(1, min(len(self.cores), math.ceil(cpus)))

    def want_memory(self, memory_mb: int | None) -> int:
        """MiB reserved for a task: its ``memory_mb`` capped at the machine; 0 when it sets none."""
        if not memory_mb or self.memory_mb <= 0:
            return 0
        return min(int(memory_mb), self.memory_mb)

    def acquire(self, cpus: float, memory_mb: int | None = None) -> Grant:
        n, mem = self.want(cpus), self.want_memory(memory_mb)
        t0 = time.monotonic()
        with self._cond:
            ticket = self._next_ticket
            self._next_ticket += 1
            self._queue.append(ticket)
            while not (self._queue[0] == ticket and len(self._free) >= n and self._mem_free >= mem):
                if cancel.requested():  # Ctrl-C: this trial never starts
                    self._queue.remove(ticket)
                    self._cond.notify_all()
                    cancel.check()
                self._cond.wait(timeout=CLAIM_POLL_S)
        # This request heads the queue: the ones behind it wait, so the free list can only grow.
        try:
            cores, fds = self._claim(n)
        except BaseException:
            with self._cond:
                self._queue.remove(ticket)
                self._cond.notify_all()
            raise
        with self._cond:
            self._free = [c for c in self._free if c not in cores]
            self._mem_free -= mem
            self.running += 1
            self.max_running = max(self.max_running, self.running)
            self._queue.remove(ticket)
            self._cond.notify_all()
        waited = time.monotonic() - t0
        self.waited_s += waited
        return Grant(cores=cores, memory_mb=mem, waited_s=round(waited, 3), _fds=fds)

    def release(self, grant: Grant) -> None:
        for fd in grant._fds:
            os.close(fd)  # closing the descriptor drops the flock
        grant._fds = []
        with self._cond:
            self._free = sorted(set(self._free) | set(grant.cores))
            self._mem_free += grant.memory_mb
            self.running -= 1
            self._cond.notify_all()

    def _tell(self, t0: float, told: float, n: int, *lock_names: str) -> float:
        """Report the wait (what for, who holds it) every ``WAIT_REPORT_S``; returns when it last did."""
        now = time.monotonic()
        if self.on_wait is None or now - told < WAIT_REPORT_S or self.claims is None:
            return told
        holders: list[str] = []
        for name in lock_names:
            try:
                text = (self.claims / name).read_text(errors="replace").strip()
            except OSError:
                continue
            if text and text not in holders:
                holders.append(text)
        who = "; ".join(holders[:3]) or "another looplab process"
        self.on_wait(f"waiting for {n} core(s) held by {who} ({now - t0:.0f} s so far)")
        return now

    def _claim(self, n: int) -> tuple[list[int], list[int]]:
        """Take ``n`` free cores; with host-wide claims, wait until no other process holds them.

        Claimers queue on ``queue.lock`` (one process polls at a time), so a trial that
        needs many cores is not starved by another process's stream of small ones.
        """
        if self.claims is None:
            with self._cond:
                return self._free[:n], []
        qfd = os.open(self.claims / "queue.lock", os.O_RDWR | os.O_CREAT, 0o644)
        t0 = time.monotonic()
        told = t0
        try:
            while True:  # the queue itself: whoever holds queue.lock is the oldest waiter
                try:
                    fcntl.flock(qfd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    told = self._tell(t0, told, n, *(f"cpu{c}.lock" for c in self.cores))
                    if self.max_wait_s is not None and time.monotonic() - t0 >= self.max_wait_s:
                        return [], []
                    if cancel.wait(CLAIM_POLL_S):
                        cancel.check()
            while True:
                with self._cond:
                    candidates = list(self._free)
                got: list[int] = []
                fds: list[int] = []
                for core in candidates:
                    if len(got) == n:
                        break
                    fd = os.open(self.claims / f"cpu{core}.lock", os.O_RDWR | os.O_CREAT, 0o644)
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        os.close(fd)
                        continue
                    got.append(core)
                    fds.append(fd)
                if len(got) == n:
                    since = time.strftime("%H:%M:%S")
                    for fd in fds:  # who holds the core, for a waiting process to print
                        os.ftruncate(fd, 0)
                        os.write(fd, f"pid {os.getpid()}: {_command()} since {since}".encode())
                    return got, fds
                for fd in fds:
                    os.close(fd)
                told = self._tell(t0, told, n, *(f"cpu{c}.lock" for c in candidates))
                if self.max_wait_s is not None and time.monotonic() - t0 >= self.max_wait_s:
                    return [], []
                if cancel.wait(CLAIM_POLL_S):
                    cancel.check()
        finally:
            os.close(qfd)
