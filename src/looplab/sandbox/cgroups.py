"""Resource limits and CPU accounting through cgroups (v1 or v2), where the host lets us.

A sandbox's process tree is placed in its own cgroup: memory limit, process-count
limit, CPU quota and a cpuset pinning it to its cores. CPU time is read from the
cgroup because a pid namespace hides the tree from the usual rusage accounting.
When no cgroup can be created (no root, read-only cgroupfs) ``Cgroup.create``
returns None and the caller falls back to rlimits and ``taskset``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
V1_CONTROLLERS = ("memory", "cpuset", "pids", "cpu", "cpuacct")
PARENT = "looplab"


def _write(path: Path, value: str) -> None:
    with open(path, "w") as fh:
        fh.write(value)


def _read(path: Path) -> str:
    return path.read_text().strip()


def cgroup_version() -> int | None:
    """2 for a unified hierarchy, 1 for v1 controllers, None when neither is usable."""
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        return 2
    if (CGROUP_ROOT / "memory" / "cgroup.procs").exists():
        return 1
    return None


class Cgroup:
    """One sandbox's cgroup (a folder per v1 controller, or one v2 folder)."""

    def __init__(self, version: int, dirs: dict[str, Path]):
        self.version = version
        self.dirs = dirs

    @classmethod
    def create(
        cls,
        name: str,
        cpus: list[int] | None = None,
        cpu_quota: float | None = None,
        memory_mb: int | None = None,
        pids_max: int | None = None,
    ) -> Cgroup | None:
        if os.geteuid() != 0 or os.environ.get("LOOPLAB_NO_CGROUPS") == "1":
            return None
        version = cgroup_version()
        try:
            if version == 1:
                return cls._create_v1(name, cpus, cpu_quota, memory_mb, pids_max)
            if version == 2:
                return cls._create_v2(name, cpus, cpu_quota, memory_mb, pids_max)
        except OSError:
            return None
        return None

    @classmethod
    def _create_v1(cls, name, cpus, cpu_quota, memory_mb, pids_max) -> Cgroup | None:  # noqa: ANN001
        dirs: dict[str, Path] = {}
        for ctrl in V1_CONTROLLERS:
            # without a quota the cpu controller only regroups the scheduler's weight: every looplab
            # cgroup on the host would share one task's weight, so a jail's wall time doubles at load
            if ctrl == "cpu" and not cpu_quota:
                continue
            base = CGROUP_ROOT / ctrl
            if not (base / "cgroup.procs").exists():
                continue
            parent = base / PARENT
            parent.mkdir(exist_ok=True)
            if ctrl == "cpuset":
                for f in ("cpuset.cpus", "cpuset.mems"):
                    if not _read(parent / f):
                        _write(parent / f, _read(base / f))
            d = parent / name
            d.mkdir(exist_ok=True)
            dirs[ctrl] = d
        if "cpuset" in dirs:
            d = dirs["cpuset"]
            _write(d / "cpuset.mems", _read(d.parent / "cpuset.mems"))
            _write(d / "cpuset.cpus", ",".join(map(str, cpus)) if cpus else _read(d.parent / "cpuset.cpus"))
        if memory_mb and "memory" in dirs:
            limit = str(int(memory_mb) * 1024 * 1024)
            _write(dirs["memory"] / "memory.limit_in_bytes", limit)
            sw = dirs["memory"] / "memory.memsw.limit_in_bytes"
            if sw.exists():
                with contextlib.suppress(OSError):
                    _write(sw, limit)
        if pids_max and "pids" in dirs:
            _write(dirs["pids"] / "pids.max", str(pids_max))
        if cpu_quota and "cpu" in dirs:
            period = 100_000
            _write(dirs["cpu"] / "cpu.cfs_period_us", str(period))
            _write(dirs["cpu"] / "cpu.cfs_quota_us", str(int(cpu_quota * period)))
        return cls(1, dirs) if dirs else None

    @classmethod
    def _create_v2(cls, name, cpus, cpu_quota, memory_mb, pids_max) -> Cgroup | None:  # noqa: ANN001
        parent = CGROUP_ROOT / PARENT
        parent.mkdir(exist_ok=True)
        available = _read(CGROUP_ROOT / "cgroup.controllers").split()
        wanted = [c for c in ("cpu", "cpuset", "memory", "pids") if c in available]
        for c in wanted:
            with contextlib.suppress(OSError):
                _write(CGROUP_ROOT / "cgroup.subtree_control", f"+{c}")
            with contextlib.suppress(OSError):
                _write(parent / "cgroup.subtree_control", f"+{c}")
        d = parent / name
        d.mkdir(exist_ok=True)
        if cpus and (d / "cpuset.cpus").exists():
            _write(d / "cpuset.cpus", ",".join(map(str, cpus)))
        if memory_mb and (d / "memory.max").exists():
            _write(d / "memory.max", str(int(memory_mb) * 1024 * 1024))
            if (d / "memory.swap.max").exists():
                with contextlib.suppress(OSError):
                    _write(d / "memory.swap.max", "0")
        if pids_max and (d / "pids.max").exists():
            _write(d / "pids.max", str(pids_max))
        if cpu_quota and (d / "cpu.max").exists():
            _write(d / "cpu.max", f"{int(cpu_quota * 100_000)} 100000")
        return cls(2, {"unified": d})

    def procs_files(self) -> list[Path]:
        return [d / "cgroup.procs" for d in self.dirs.values()]

    def join_files(self) -> list[Path]:
        """Where a single-threaded process writes ``0`` to move itself in (``echo 0 > FILE`` in its shell).

        On v1 that is each hierarchy's ``tasks``: a thread moving itself skips the kernel's global
        threadgroup lock, whose write side waits out an RCU grace period (5-20 ms, more than all of
        bwrap's start) for a whole process moved through ``cgroup.procs``. For the one thread of a
        shell, moving the thread is moving the process. v2 has only ``cgroup.procs``.
        """
        return [d / ("tasks" if self.version == 1 else "cgroup.procs") for d in self.dirs.values()]

    def pids(self) -> list[int]:
        found: set[int] = set()
        for f in self.procs_files():
            with contextlib.suppress(OSError):
                found.update(int(x) for x in f.read_text().split())
        return sorted(found)

    def charged(self) -> int | None:
        """Tasks the pids controller charges here: live ones and zombies not yet reaped (None: no count)."""
        d = self.dirs.get("pids" if self.version == 1 else "unified")
        try:
            return int(_read(d / "pids.current")) if d is not None else None
        except (OSError, ValueError):
            return None

    def cpu_seconds(self) -> float | None:
        try:
            if self.version == 1 and "cpuacct" in self.dirs:
                return int(_read(self.dirs["cpuacct"] / "cpuacct.usage")) / 1e9
            if self.version == 2:
                for line in (self.dirs["unified"] / "cpu.stat").read_text().splitlines():
                    k, v = line.split()
                    if k == "usage_usec":
                        return int(v) / 1e6
        except (OSError, ValueError):
            return None
        return None

    def max_rss_mb(self) -> float | None:
        try:
            if self.version == 1 and "memory" in self.dirs:
                return int(_read(self.dirs["memory"] / "memory.max_usage_in_bytes")) / 2**20
            if self.version == 2 and (self.dirs["unified"] / "memory.peak").exists():
                return int(_read(self.dirs["unified"] / "memory.peak")) / 2**20
        except (OSError, ValueError):
            return None
        return None

    def oom_killed(self) -> bool:
        try:
            if self.version == 1 and "memory" in self.dirs:
                return int(_read(self.dirs["memory"] / "memory.failcnt")) > 0
            if self.version == 2:
                for line in (self.dirs["unified"] / "memory.events").read_text().splitlines():
                    k, v = line.split()
                    if k == "oom_kill":
                        return int(v) > 0
        except (OSError, ValueError):
            return False
        return False

    def kill_all(self) -> None:
        """SIGKILL every process in the cgroup until it is empty (bounded)."""
        if self.version == 2 and (self.dirs["unified"] / "cgroup.kill").exists():
            with contextlib.suppress(OSError):
                _write(self.dirs["unified"] / "cgroup.kill", "1")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.02)

    def remove(self) -> None:
        self.kill_all()
        for d in self.dirs.values():
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)
