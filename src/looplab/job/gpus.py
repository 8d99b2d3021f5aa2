"""Give each trial that asks for GPUs whole GPUs of its own, claimed host-wide like cores.

``GpuAllocator.acquire(n, gpu_types)`` blocks until ``n`` GPUs of the wanted types are
free in this process *and* not claimed by any other looplab process on the host
(``flock`` on ``<core-claims>/gpuN.lock``, the folder ``looplab.job.cores`` uses, so
``LOOPLAB_CORE_CLAIMS`` governs both), then returns a ``GpuGrant``; ``release`` gives them
back. One trial per GPU: a GPU is never shared. A claim dies with its process. A trial
that asks for none gets an empty grant at once and sees no GPU (``looplab.sandbox.gpu``).
``check_job_gpus`` fails closed, before any trial, when a task asks for more GPUs (or
other types) than the machine has.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from looplab.errors import LooplabError
from looplab.sandbox.gpu import GpuDevice, check_request, host_gpus, matches_type

CLAIM_POLL_S = 0.25


@dataclass
class GpuGrant:
    """The GPUs one trial holds while it runs."""

    devices: list[GpuDevice] = field(default_factory=list)
    waited_s: float = 0.0
    _fds: list[int] = field(default_factory=list, repr=False)

    def record(self) -> list[dict[str, object]]:
        """What result.json keeps: index, name, UUID, driver version of each held GPU."""
        return [g.record() for g in self.devices]


class GpuAllocator:
    def __init__(self, devices: list[GpuDevice] | None = None, claims: Path | None | bool = True):
        self.devices = list(host_gpus() if devices is None else devices)
        if claims is True:
            from looplab.job.cores import claims_dir

            claims = claims_dir()
        self.claims: Path | None = claims or None
        self._busy: set[int] = set()
        self._lock = threading.Lock()

    def acquire(self, n: int, gpu_types: list[str] | None = None, where: str = "task") -> GpuGrant:
        if n <= 0:
            return GpuGrant()
        check_request(n, gpu_types, self.devices, where)
        fit = [g for g in self.devices if matches_type(g, gpu_types)]
        t0 = time.monotonic()
        while True:
            got: list[GpuDevice] = []
            fds: list[int] = []
            with self._lock:
                for g in fit:
                    if len(got) == n:
                        break
                    if g.index in self._busy:
                        continue
                    fd = self._claim(g.index)
                    if fd is None:
                        continue
                    got.append(g)
                    if fd >= 0:
                        fds.append(fd)
                if len(got) == n:
                    self._busy.update(g.index for g in got)
                    return GpuGrant(got, round(time.monotonic() - t0, 3), fds)
                for fd in fds:
                    os.close(fd)
            time.sleep(CLAIM_POLL_S)

    def _claim(self, index: int) -> int | None:
        """A held flock on gpuN.lock (its fd), -1 without host-wide claims, None when another process
        holds it."""
        if self.claims is None:
            return -1
        fd = os.open(self.claims / f"gpu{index}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    def release(self, grant: GpuGrant) -> None:
        for fd in grant._fds:
            os.close(fd)  # closing the descriptor drops the flock
        grant._fds = []
        with self._lock:
            self._busy.difference_update(g.index for g in grant.devices)


def check_job_gpus(tasks: list, machine: list[GpuDevice] | None = None) -> None:
    """Raise one clear line for the first task asking for GPUs this machine lacks (before any trial runs)."""
    devices = host_gpus() if machine is None else machine
    for t in tasks:
        e = t.config.environment
        check_request(e.gpus, e.gpu_types, devices, str(t.path / "task.toml"))


def ray_type_resources(gpus: int, gpu_types: list[str] | None) -> dict[str, float]:
    """Ray custom resources for ``gpu_types``: Ray names each node's ``accelerator_type:<T>`` (e.g. H100).

    Ray cannot ask for one of several types, so the first is asked of Ray and the rest are
    checked on the worker (``GpuAllocator``'s type match fails closed there).
    """
    if gpus <= 0 or not gpu_types:
        return {}
    return {f"accelerator_type:{gpu_types[0].upper().replace('NVIDIA ', '')}": 0.001}


def ray_gpu_ids() -> list[int]:
    """The GPU indices Ray assigned to the running task ([] outside Ray or without GPUs)."""
    import ray

    return [int(g) for g in ray.get_gpu_ids()]


def ray_held_gpus(ids: list[int], machine: list[GpuDevice] | None = None) -> list[GpuDevice]:
    """This node's GPUs with the indices Ray assigned, each one failing closed when the node lacks it."""
    devices = {g.index: g for g in (host_gpus() if machine is None else machine)}
    missing = [i for i in ids if i not in devices]
    if missing:
        raise LooplabError(f"Ray assigned GPU(s) {missing} but this node has no /dev/nvidia{missing[0]}")
    return [devices[i] for i in ids]


def gpu_shortfall(task, machine: list[GpuDevice] | None = None) -> str | None:  # noqa: ANN001 - a loaded Task
    """Why ``task`` cannot run on this machine for want of GPUs (one line), or None when it can."""
    e = task.config.environment
    try:
        check_request(e.gpus, e.gpu_types, host_gpus() if machine is None else machine, "needs a GPU")
    except LooplabError as exc:
        return f"{exc}: trials of it cannot run here (structure checked; --run skips it)"
    return None
