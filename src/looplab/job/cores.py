"""Give each concurrent trial its own CPU cores and a share of memory, so trials don't interfere.

``CoreAllocator.acquire(cpus, memory_mb, label)`` blocks until ``ceil(cpus)`` cores that
no other trial holds are free *and* the trial's ``memory_mb`` fits in what the
running trials have not reserved, then returns a ``Grant`` (the cores, the memory
reserved, the seconds waited, of which ``memory_wait_s`` for memory); ``release(grant)``
gives them back. Requests are served strictly in arrival order (a large task at the head
of the queue is never starved by small ones behind it). A request larger than the
machine is capped at the machine, so it runs alone rather than never. A wait inside one
process (``-n`` above the cores, or memory the running trials reserved) is reported
through ``on_wait`` with what is waited for and which trials (``label``) hold it.

Cores are also claimed host-wide with ``flock`` on ``<runtime>/core-claims/cpuN.lock``,
so trials of two ``looplab run`` processes, or of Ray workers on one node, never
share a core either; a claim dies with its process. Processes waiting for cores queue
first come, first served: each waiter holds a ticket file in ``core-claims/queue/``
(named by when it arrived, flocked while it lives) and only the oldest live ticket may
claim, so concurrent processes take turns core by core rather than one process's stream
of trials holding every core. A claim file holds its holder (pid, command, since when),
so a wait is reported as ``waiting for 2 core(s) held by pid N: looplab run … since
00:12`` (``on_wait``), and it can be bounded (``max_wait_s``: then the trial runs
unpinned, which its record says). Set ``LOOPLAB_CORE_CLAIMS=0`` to keep claims inside
one process, or to a folder to coordinate only the processes that share that folder. A
cancellation (Ctrl-C) ends every wait with ``cancel.Cancelled``. Memory is accounted per
allocator (per job, or per Ray worker process, where Ray's own ``memory`` resource does
the job).
"""

from __future__ import annotations

import contextlib
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
WAIT_REPORT_S = 5.0  # how often a wait (for cores or memory) is reported
QUEUE_DIR = "queue"  # tickets of the processes waiting for cores, oldest first


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
    waited_s: float = 0.0  # the whole wait, for cores and memory
    memory_wait_s: float = 0.0  # the part of it spent waiting for memory the running trials reserved
    _fds: list[int] = field(default_factory=list, repr=False)
    _key: int = field(default=-1, repr=False)

    @property
    def core_wait_s(self) -> float:
        """The part of the wait spent waiting for cores (this job's trials' or another process's)."""
        return round(self.waited_s - self.memory_wait_s, 3)


class _Ticket:
    """A waiting process's place in the host-wide queue for cores: a file in ``queue/`` it flocks.

    Its name sorts by arrival; a ticket whose flock is free belongs to a process that died
    and is removed by whoever finds it. The file is locked before it gets its final name,
    so nobody takes a live ticket for a dead one.
    """

    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.name = f"{time.time_ns():020d}-{os.getpid():08d}-{threading.get_ident()}"
        tmp = folder / f".{self.name}"
        self.fd = os.open(tmp, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        os.rename(tmp, folder / self.name)

    def ahead(self) -> int:
        """How many live tickets are older than this one (0: this one is served next)."""
        n = 0
        for name in sorted(os.listdir(self.folder)):
            if name.startswith("."):
                self._sweep(name)
                continue
            if name >= self.name:
                break
            try:
                fd = os.open(self.folder / name, os.O_RDONLY)
            except OSError:
                continue  # served meanwhile
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                n += 1  # its process is alive and waiting
            else:
                with contextlib.suppress(OSError):  # its process died: the ticket is void
                    os.unlink(self.folder / name)
            finally:
                os.close(fd)
        return n

    def _sweep(self, name: str) -> None:
        """Remove a ticket a process died with before naming it (unlocked, over a minute old)."""
        path = self.folder / name
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if time.time() - os.fstat(fd).st_mtime > 60:
                os.unlink(path)
        except OSError:  # locked: a process is naming it now
            pass
        finally:
            os.close(fd)

    def drop(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.folder / self.name)
        os.close(self.fd)


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
        self._holders: dict[int, tuple[str, list[int], int]] = {}  # grant -> (label, cores, MiB)
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

    def acquire(self, cpus: float, memory_mb: int | None = None, label: str = "") -> Grant:
        """Block until the cores and memory are free; ``label`` names the trial in wait reports."""
        n, mem = self.want(cpus), self.want_memory(memory_mb)
        t0 = time.monotonic()
        waited_mem = 0.0
        with self._cond:
            ticket = self._next_ticket
            self._next_ticket += 1
            self._queue.append(ticket)
            last = told = t0
            while not (self._queue[0] == ticket and len(self._free) >= n and self._mem_free >= mem):
                if cancel.requested():  # Ctrl-C: this trial never starts
                    self._queue.remove(ticket)
                    self._cond.notify_all()
                    cancel.check()
                for_memory = len(self._free) >= n and self._mem_free < mem
                self._cond.wait(timeout=CLAIM_POLL_S)
                now = time.monotonic()
                if for_memory:
                    waited_mem += now - last
                last = now
                if self._queue[0] == ticket and now - told >= WAIT_REPORT_S and self.on_wait is not None:
                    told = now  # the head of the queue speaks for the trials behind it
                    self.on_wait(self._local_wait_message(n, mem, now - t0))
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
            self._holders[ticket] = (label or "a trial", cores, mem)
            self._cond.notify_all()
        waited = time.monotonic() - t0
        self.waited_s += waited
        return Grant(
            cores=cores,
            memory_mb=mem,
            waited_s=round(waited, 3),
            memory_wait_s=round(waited_mem, 3),
            _fds=fds,
            _key=ticket,
        )

    def _local_wait_message(self, n: int, mem: int, so_far: float) -> str:
        """What a request waits for inside this process, and which running trials hold it."""
        queued = len(self._queue) - 1
        behind = f"; {queued} more queued behind it" if queued else ""
        if len(self._free) < n:
            held = [f"{label} (cores {','.join(map(str, c))})" for label, c, _ in self._holders.values() if c]
            return (
                f"waiting for {n} core(s): {len(self.cores) - len(self._free)} of this job's "
                f"{len(self.cores)} are held by its running trials {', '.join(held) or '(none)'}{behind} "
                f"({so_far:.0f} s so far)"
            )
        held = [f"{label} ({m} MiB)" for label, _, m in self._holders.values() if m]
        return (
            f"waiting for {mem} MiB of memory: {self._mem_free} of {self.memory_mb} MiB are not reserved "
            f"by this job's running trials {', '.join(held) or '(none)'}{behind} ({so_far:.0f} s so far)"
        )

    def limit(self, cpus: list[float], memory_mb: list[int | None]) -> tuple[int, str]:
        """How many of these requests can run at once here, and what limits it ("cores"/"memory")."""
        by_cores = len(self.cores) // max(1, min((self.want(c) for c in cpus), default=1))
        mems = [m for m in (self.want_memory(x) for x in memory_mb) if m]
        by_memory = self.memory_mb // min(mems) if mems and len(mems) == len(memory_mb) else by_cores
        return (by_cores, "cores") if by_cores <= by_memory else (max(1, by_memory), "memory")

    def release(self, grant: Grant) -> None:
        for fd in grant._fds:
            os.close(fd)  # closing the descriptor drops the flock
        grant._fds = []
        with self._cond:
            self._free = sorted(set(self._free) | set(grant.cores))
            self._mem_free += grant.memory_mb
            self.running -= 1
            self._holders.pop(grant._key, None)
            self._cond.notify_all()

    def _tell(self, t0: float, told: float, n: int, ahead: int, *lock_names: str) -> float:
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
        queue = f"; {ahead} other process request(s) queued ahead, served first" if ahead else ""
        self.on_wait(f"waiting for {n} core(s) held by {who}{queue} ({now - t0:.0f} s so far)")
        return now

    def _claim(self, n: int) -> tuple[list[int], list[int]]:
        """Take ``n`` free cores; with host-wide claims, wait until no other process holds them.

        Claimers of all processes queue first come, first served (``_Ticket``): only the
        oldest live waiter tries the cores, so a process that just got a core does not get
        the next one too while another process has waited longer.
        """
        if self.claims is None:
            with self._cond:
                return self._free[:n], []
        ticket = _Ticket(self.claims / QUEUE_DIR)
        t0 = time.monotonic()
        told = t0
        try:
            while True:
                ahead = ticket.ahead()
                with self._cond:
                    candidates = list(self._free)
                if not ahead:
                    got, fds = self._try_cores(candidates, n)
                    if len(got) == n:
                        return got, fds
                told = self._tell(t0, told, n, ahead, *(f"cpu{c}.lock" for c in candidates))
                if self.max_wait_s is not None and time.monotonic() - t0 >= self.max_wait_s:
                    return [], []
                if cancel.wait(CLAIM_POLL_S):
                    cancel.check()
        finally:
            ticket.drop()

    def _try_cores(self, candidates: list[int], n: int) -> tuple[list[int], list[int]]:
        """Lock ``n`` of ``candidates`` host-wide, all or none; the holder is written into each."""
        got: list[int] = []
        fds: list[int] = []
        for core in candidates:
            if len(got) == n:
                break
            fd = os.open(self.claims / f"cpu{core}.lock", os.O_RDWR | os.O_CREAT, 0o644)  # type: ignore[operator]
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            got.append(core)
            fds.append(fd)
        if len(got) < n:
            for fd in fds:
                os.close(fd)
            return [], []
        since = time.strftime("%H:%M:%S")
        for fd in fds:  # who holds the core, for a waiting process to print
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()}: {_command()} since {since}".encode())
        return got, fds
