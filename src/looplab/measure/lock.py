"""The host-wide measurement lock: one timer per CPU core at a time.

Each CPU core has a lock file ``cpu<N>.lock`` in a shared folder
(``LOOPLAB_LOCK_DIR``, else ``$LOOPLAB_CACHE_DIR/locks``, else
/var/tmp/looplab/locks; the verifier binds it into its sandbox, where a read-only
file descriptor is enough for ``flock``). A measurement
locks the files of the cores it runs on — by default the cores in the process's
affinity mask — with ``flock``, always in ascending core order so two lockers can
never deadlock. Two processes pinned to disjoint cores therefore time side by side,
while an unpinned process (affinity = every core) holds the whole host. The lock
records how long it waited and who held the cores it waited for (each holder writes
its pid and label into the files it holds). When the folder cannot be used (an
agent sandbox without the host's lock folder) the lock says so and measures anyway.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, Field

from looplab import settings
from looplab.errors import LooplabError

POLL_S = 0.02


def lock_dir_from_env() -> Path:
    """``LOOPLAB_LOCK_DIR``, else ``$LOOPLAB_CACHE_DIR/locks``, else /var/tmp/looplab/locks."""
    return settings.current().lock_dir


def lock_file(lock_dir: Path, core: int) -> Path:
    return Path(lock_dir) / f"cpu{core}.lock"


def affinity_cores() -> list[int]:
    """The cores this process may run on (all online cores where affinity is unknown)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


class LockRecord(BaseModel):
    """What the lock did: which cores, whether it had to wait, for how long and for whom."""

    available: bool = True
    reason: str | None = None  # why the lock could not be used, when it could not
    lock_dir: str = ""
    cores: list[int] = Field(default_factory=list)
    label: str = ""
    waited_s: float = 0.0
    contended: bool = False
    waited_for: list[str] = Field(default_factory=list)  # "core N: <holder's pid and label>"
    held_s: float = 0.0


def _ensure_dir(path: Path) -> None:
    """Create the lock folder sticky and world-writable, so every uid can add its core files."""
    if path.is_dir():
        return
    path.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        if path.stat().st_uid == os.geteuid():
            os.chmod(path, 0o1777)


def _open_lock_file(path: Path) -> tuple[int, bool]:
    """An fd on the lock file (created world-writable) and whether it is writable."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except OSError:  # read-only bind or someone else's file: flock works on a read-only fd
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC), False
    with contextlib.suppress(OSError):
        if os.fstat(fd).st_uid == os.geteuid():
            os.fchmod(fd, 0o666)
    return fd, True


def _holder(fd: int) -> str:
    with contextlib.suppress(OSError):
        return os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown holder"
    return "unknown holder"


def measurement_lock_dir() -> Path:
    """The host's lock folder (``settings.lock_dir``) with every core's file; verifiers get it read-only."""
    d = lock_dir_from_env()
    d.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(PermissionError):  # a folder another uid set up keeps its modes
        os.chmod(d, 0o755)
    for i in [*range(os.cpu_count() or 1), "host"]:
        f = d / f"cpu{i}.lock" if i != "host" else d / "host.lock"
        if not f.exists():
            f.touch()
        with contextlib.suppress(PermissionError):
            os.chmod(f, 0o644)
    return d


def own_cores_lock_dir(cores: list[int] | None, box_dir: Path) -> Path:
    """The lock folder a verifier sandbox gets: hard links to the lock files of its own cores only.

    flock locks the inode, so a link locks the host's file; what test.sh runs cannot hold
    (and so stall) the cores of another trial. Unpinned verifiers, or a scratch folder on
    another filesystem, get the whole shared folder.
    """
    shared = measurement_lock_dir()
    if cores is None:
        return shared
    mine = box_dir / "locks"
    mine.mkdir()
    os.chmod(mine, 0o755)
    try:
        for c in sorted(set(cores)):
            os.link(lock_file(shared, c), lock_file(mine, c))
    except OSError:
        return shared
    return mine


class MeasurementLock:
    """Per-core flock locks, taken in sorted order; use as a context manager.

    ``cores=None`` means this process's affinity mask. ``timeout`` (seconds) bounds
    the wait; past it ``acquire`` raises ``LooplabError``. ``required=False`` (the
    default) measures without a lock when the lock folder cannot be used, and
    records why.
    """

    def __init__(
        self,
        cores: Iterable[int] | None = None,
        lock_dir: Path | None = None,
        timeout: float | None = None,
        label: str = "",
        required: bool = False,
    ):
        self.cores = sorted(set(cores)) if cores is not None else affinity_cores()
        if not self.cores:
            raise LooplabError("measurement lock: no cores to lock")
        self.lock_dir = Path(lock_dir) if lock_dir is not None else lock_dir_from_env()
        self.timeout = timeout
        self.label = label
        self.required = required
        self.record = LockRecord(lock_dir=str(self.lock_dir), cores=self.cores, label=label)
        self._fds: list[tuple[int, bool]] = []
        self._acquired_at: float | None = None

    def acquire(self) -> LockRecord:
        if self._fds:
            raise LooplabError("measurement lock is already held by this object")
        try:
            _ensure_dir(self.lock_dir)
            fds = [_open_lock_file(lock_file(self.lock_dir, c)) for c in self.cores]
        except OSError as exc:
            if self.required:
                raise LooplabError(
                    f"measurement lock folder {self.lock_dir}: {exc.strerror or exc}"
                ) from None
            self.record.available = False
            self.record.reason = f"{self.lock_dir}: {exc.strerror or exc}"
            return self.record
        t0 = time.monotonic()
        try:
            for core, entry in zip(self.cores, fds, strict=True):
                self._fds.append(entry)
                self._lock_one(core, entry[0], t0)
        except BaseException:
            taken = len(self._fds)
            self._release_fds()
            for fd, _ in fds[taken:]:
                os.close(fd)
            raise
        self.record.waited_s = time.monotonic() - t0
        self._acquired_at = time.monotonic()
        note = f"pid {os.getpid()} {self.label}".strip() + "\n"
        for fd, writable in self._fds:
            if writable:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
                    os.pwrite(fd, note.encode(), 0)
        return self.record

    def _lock_one(self, core: int, fd: int, t0: float) -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        self.record.contended = True
        self.record.waited_for.append(f"core {core}: {_holder(fd)}")
        while True:
            if self.timeout is not None and time.monotonic() - t0 > self.timeout:
                raise LooplabError(
                    f"measurement lock: core {core} still busy after {self.timeout:.0f} s "
                    f"({_holder(fd)}; lock folder {self.lock_dir})"
                )
            time.sleep(POLL_S)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                continue

    def _release_fds(self) -> None:
        for fd, writable in reversed(self._fds):
            if writable:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        self._fds = []

    def release(self) -> LockRecord:
        if self._acquired_at is not None:
            self.record.held_s = time.monotonic() - self._acquired_at
            self._acquired_at = None
        self._release_fds()
        return self.record

    def __enter__(self) -> LockRecord:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
