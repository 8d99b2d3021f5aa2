"""The local executor: a thread pool on this host, each trial pinned to cores it claims first.

``spec.concurrency`` trials run at once; each asks the host-wide ``CoreAllocator``
for the task's cores and memory (and the ``GpuAllocator`` for its GPUs) before it
starts, so trials (and other looplab processes on the host) never share a core. After a
cancellation (Ctrl-C) no slot starts: slots still waiting for cores or for a worker are
skipped, with no folder. When ``-n`` asks for more trials at once than the cores (or the
memory) allow, that is said once at the start, and each wait is reported as it lasts.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed

from looplab import cancel
from looplab.environment.build import Environment
from looplab.job.cores import CoreAllocator
from looplab.job.gpus import GpuAllocator
from looplab.job.spec import Emit, JobSpec, Slot, trial_config
from looplab.records.results import TrialResult
from looplab.trial import new_trial_name, run_trial


class LocalExecutor:
    def __init__(self, envs: dict[str, Environment]):
        self.envs = envs

    def run(self, spec: JobSpec, pending: list[Slot], emit: Emit) -> Iterator[TrialResult]:
        alloc = CoreAllocator(
            on_wait=lambda message: emit("wait", {"message": message}), max_wait_s=spec.core_wait_s
        )
        gpu_alloc = GpuAllocator()
        envs = [s.task.config.environment for s in pending]
        fit, by = alloc.limit([e.cpus for e in envs], [e.memory_mb for e in envs])
        if min(spec.concurrency, len(pending)) > fit:
            have = f"{len(alloc.cores)} core(s)" if by == "cores" else f"{alloc.memory_mb} MiB of memory"
            emit(
                "wait",
                {
                    "message": f"-n {spec.concurrency}: this host gives the job {have}, so at most {fit} "
                    "trial(s) run at once; the others wait their turn"
                },
            )

        def one(slot: Slot) -> TrialResult | None:
            ecfg = slot.task.config.environment
            if cancel.requested():  # Ctrl-C: nothing new starts
                return None
            try:
                grant = alloc.acquire(ecfg.cpus, ecfg.memory_mb, slot.key)
            except cancel.Cancelled:
                return None
            try:
                held = gpu_alloc.acquire(ecfg.gpus, ecfg.gpu_types, str(slot.task.path / "task.toml"))
            except BaseException:
                alloc.release(grant)
                raise
            try:
                trial_dir = spec.job_dir / new_trial_name(slot.task)
                emit(
                    "start",
                    {
                        "slot": slot.key,
                        "trial": trial_dir.name,
                        "cores": grant.cores,
                        "memory_mb": grant.memory_mb,
                        "waited_s": grant.core_wait_s,
                        "memory_waited_s": grant.memory_wait_s,
                    },
                )
                cfg = trial_config(spec, slot, grant.cores or None)
                cfg.core_wait_s = grant.core_wait_s
                cfg.memory_wait_s = grant.memory_wait_s
                cfg.gpus = held.devices
                return run_trial(
                    slot.task, self.envs[slot.task.name], cfg, trial_dir, spec.job_name, slot.key
                )
            finally:
                alloc.release(grant)
                gpu_alloc.release(held)

        with ThreadPoolExecutor(max_workers=max(1, spec.concurrency)) as pool:
            futures = [pool.submit(one, s) for s in pending]
            for fut in as_completed(futures):
                res = fut.result()
                if res is not None:
                    yield res
