"""Run a job's trials as Ray tasks, on a local Ray instance or an existing cluster.

Each pending slot becomes one Ray task that asks for the task's ``cpus``, ``gpus``
and ``memory_mb`` as Ray resources. On its worker the task loads the task folder,
builds (or reuses) its environment, claims cores with the same host-wide
``CoreAllocator`` the local executor uses (so Ray trials on one node never share a
core) and runs the trial. Each Ray task is a generator, and results come back as
they finish. When the worker can see the job folder (the driver leaves a token file
there and the worker checks it) the trial writes straight into it, so a live viewer
sees it grow; otherwise it runs into a scratch folder, yields the new lines of its
live files every ``LIVE_PERIOD_S`` (the driver appends them under the job folder),
and its finished folder is shipped back as a tar archive and unpacked into the
job folder. No actor is created: a job costs one worker process per node. A trial
whose worker dies (killed, node lost, out of memory) keeps its folder, gets a
``result.json`` with status ``error`` and cause ``WorkerLost``, and its slot is run
again as a new trial folder, up to ``max_lost_retries`` times.
Ctrl-C or SIGTERM (``looplab.cancel``) cancels every Ray task still in flight
(``ray.cancel(force=True)``: the worker and, with it, the trial's sandboxes die); a trial
that had started is recorded as ``cancelled`` with what reached its folder, one still
queued is not started (no folder), and nothing is retried.
Workers need looplab installed (``pip install looplab[ray]``) and bubblewrap.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import tarfile
import tempfile
import traceback
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from looplab import cancel
from looplab.clock import now_iso
from looplab.errors import LooplabError
from looplab.job.gpus import ray_type_resources
from looplab.job.shipping import LIVE_PERIOD_S, apply_live, pack_task, unpack_checked
from looplab.job.spec import Emit, JobSpec, Slot, trial_config
from looplab.records.layout import TrialPaths
from looplab.records.results import TRIAL_SCHEMA_VERSION, TrialResult
from looplab.trial import new_trial_name

TOKEN_FILE = ".ray-token"
NODE_IP_ENV = "LOOPLAB_RAY_NODE_IP"  # this host's address in the cluster, when Ray would guess wrong
MAX_LOST_RETRIES = 2
LOST_ERRORS = (
    "WorkerCrashedError",
    "NodeDiedError",
    "LocalRayletDiedError",
    "OwnerDiedError",
    "ObjectLostError",
    "ObjectReconstructionFailedError",
    "OutOfMemoryError",
    "TaskCancelledError",
)


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise LooplabError("--executor ray needs Ray: pip install 'looplab[ray]'") from None
    return ray


def looplab_trial(payload: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Body of one Ray generator task (runs on a worker): one trial, into the job folder or a scratch folder.

    Yields ``{"live": chunks}`` every ``LIVE_PERIOD_S`` while the trial runs, when this worker
    cannot see the job folder, then once
    ``{"result": record, "archive": tar.gz bytes or None}``.
    """
    import ray

    from looplab.environment.build import build_environment
    from looplab.job.shipping import LiveTail, materialize_task
    from looplab.tasks.loader import load_task

    job_dir = Path(payload["job_dir"])
    token_path = job_dir / TOKEN_FILE
    try:
        shared = token_path.is_file() and token_path.read_text().strip() == payload["token"]
    except OSError:
        shared = False
    ref = payload["task_archive"][0]  # wrapped in a list so Ray hands over the reference, not the bytes
    task = load_task(materialize_task(payload["task_digest"], payload["task_name"], lambda: ray.get(ref)))
    env = build_environment(
        task, timeout_multiplier=float(payload["trial_config"].get("timeout_multiplier") or 1.0)
    )
    base = job_dir if shared else Path(tempfile.mkdtemp(prefix="looplab-ray-"))
    trial_dir = base / payload["trial_name"]
    try:
        if shared:
            yield _trial_on_worker(payload, task, env, trial_dir, shared)
            return
        # the trial runs in a thread so that this generator can yield its live files as they grow
        tail = LiveTail(trial_dir)
        with ThreadPoolExecutor(1, thread_name_prefix="looplab-trial") as pool:
            running = pool.submit(_trial_on_worker, payload, task, env, trial_dir, shared)
            while True:
                try:
                    out = running.result(timeout=LIVE_PERIOD_S)
                    break
                except TimeoutError:
                    chunks = tail.chunks()
                    if chunks:
                        yield {"live": chunks}
        yield out
    finally:
        if not shared:
            shutil.rmtree(base, ignore_errors=True)


def _trial_on_worker(payload: dict[str, Any], task: Any, env: Any, trial_dir: Path, shared: bool) -> dict:
    """Claim cores, run the trial, and return its record (with the folder as an archive when not shared)."""
    from looplab.job.cores import CoreAllocator
    from looplab.job.gpus import ray_gpu_ids, ray_held_gpus
    from looplab.trial import run_trial
    from looplab.trial_config import TrialConfig

    ecfg = task.config.environment
    alloc = CoreAllocator()
    grant = alloc.acquire(ecfg.cpus, ecfg.memory_mb, payload["slot"])
    try:
        gpus = ray_held_gpus(ray_gpu_ids())  # the GPUs Ray gave this task
        waits = {"core_wait_s": grant.core_wait_s, "memory_wait_s": grant.memory_wait_s}
        cfg = TrialConfig(**{**payload["trial_config"], "cores": grant.cores, "gpus": gpus, **waits})
        result = run_trial(task, env, cfg, trial_dir, payload["job_name"], payload["slot"])
    finally:
        alloc.release(grant)
    result.executor = {**_worker_info(payload, grant.waited_s), "task_copy": str(task.path)}
    result.task_path = payload["task_path"]  # the driver's folder, as the local executor records it
    result.write(TrialPaths(trial_dir).result)
    out: dict[str, Any] = {"result": result.record(), "archive": None}
    if not shared:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            tar.add(trial_dir, arcname=payload["trial_name"])
        out["archive"] = buf.getvalue()
    return out


def _worker_info(payload: dict[str, Any], waited_s: float) -> dict[str, Any]:
    import ray

    ctx = ray.get_runtime_context()
    return {
        "kind": "ray",
        "node_id": ctx.get_node_id(),
        "node_ip": ray.util.get_node_ip_address(),
        "worker_pid": os.getpid(),
        "gpu_ids": [str(g) for g in ray.get_gpu_ids()],
        "core_wait_s": waited_s,
        "try": payload["try"],
    }


class RayExecutor:
    """Each pending slot as one Ray task; lost workers' slots run again (``max_lost_retries``)."""

    def __init__(self, max_lost_retries: int = MAX_LOST_RETRIES):
        self.max_lost_retries = max_lost_retries

    def run(self, spec: JobSpec, pending: list[Slot], emit: Emit) -> Iterator[TrialResult]:
        return run_slots_on_ray(spec, pending, emit, self.max_lost_retries)


def run_slots_on_ray(
    spec: JobSpec, pending: list[Slot], emit: Emit, max_lost_retries: int = MAX_LOST_RETRIES
) -> Iterator[TrialResult]:
    """Submit every pending slot to Ray and yield each trial's result record as it finishes."""
    ray = _ray()
    job_dir = Path(spec.job_dir).resolve()
    started_here = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"configure_logging": False, "log_to_driver": False}
        from looplab.environment.build import build_settings_env  # --base/--image-map/--overlays

        kwargs["runtime_env"] = {"env_vars": build_settings_env()}
        if spec.ray_address:
            # On a multi-homed host Ray may pick an address the cluster does not listen on; a token-auth
            # cluster (RAY_AUTH_MODE=token) takes its token from RAY_AUTH_TOKEN or Ray's token file.
            if os.environ.get(NODE_IP_ENV):
                kwargs["_node_ip_address"] = os.environ[NODE_IP_ENV]
            ray.init(address=spec.ray_address, **kwargs)
        else:
            ray.init(num_cpus=len(os.sched_getaffinity(0)), include_dashboard=False, **kwargs)
        started_here = True
    token = uuid.uuid4().hex
    (job_dir / TOKEN_FILE).write_text(token)
    try:
        yield from _run(ray, spec, pending, job_dir, token, emit, max_lost_retries)
    finally:
        (job_dir / TOKEN_FILE).unlink(missing_ok=True)
        if started_here:
            ray.shutdown()


def _run(
    ray: Any,
    spec: JobSpec,
    pending: list[Slot],
    job_dir: Path,
    token: str,
    emit: Emit,
    max_lost_retries: int,
) -> Iterator[TrialResult]:
    _check_fits(ray, pending)
    remote = ray.remote(looplab_trial)  # a generator: live files as they grow, then the result
    in_flight: dict[Any, tuple[Slot, str, int]] = {}  # Ray generator -> (slot, trial name, try)
    shipped: dict[Path, tuple[str, Any]] = {}  # task folder -> (digest, archive in the object store)
    for slot in pending:
        if slot.task.path not in shipped:
            digest, archive = pack_task(slot.task.path)
            shipped[slot.task.path] = (digest, ray.put(archive))

    def submit(slot: Slot, tries: int) -> None:
        name = new_trial_name(slot.task)
        ecfg = slot.task.config.environment
        cfg = trial_config(spec, slot, None)
        payload = {
            "job_dir": str(job_dir),
            "token": token,
            "trial_name": name,
            "task_path": str(slot.task.path),
            "task_name": slot.task.path.name,
            "task_digest": shipped[slot.task.path][0],
            "task_archive": [shipped[slot.task.path][1]],
            "job_name": spec.job_name,
            "slot": slot.key,
            "try": tries,
            "trial_config": {k: v for k, v in vars(cfg).items() if k not in ("cores", "gpus")},
        }
        gen = remote.options(name=f"looplab:{name}", **ray_options(ecfg)).remote(payload)
        in_flight[gen] = (slot, name, tries)
        emit("submitted", {"slot": slot.key, "trial": name, "try": tries})

    for slot in pending:
        submit(slot, 0)
    yield from _collect(ray, spec, job_dir, emit, max_lost_retries, in_flight, submit)


def _collect(
    ray: Any,
    spec: JobSpec,
    job_dir: Path,
    emit: Emit,
    max_lost_retries: int,
    in_flight: dict[Any, tuple[Slot, str, int]],
    submit: Any,
) -> Iterator[TrialResult]:
    cancelling = False
    while in_flight:
        if cancel.requested() and not cancelling:  # Ctrl-C: stop every Ray task still in flight
            cancelling = True
            for gen in in_flight:
                ray.cancel(gen, force=True)
        ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=LIVE_PERIOD_S)
        if not ready:
            continue
        gen = ready[0]
        slot, name, tries = in_flight[gen]
        try:
            out = ray.get(next(gen))
        except Exception as exc:  # a Ray error: lost worker (retried) or a failure outside the trial
            del in_flight[gen]
            if isinstance(exc, StopIteration):  # ended without its result: a failure outside the trial
                exc = LooplabError(f"the Ray task of trial {name} ended without a result")
            if cancelling:
                stopped = _cancelled_record(spec, slot, job_dir / name)
                if stopped is not None:  # None: it was still queued, so it never started
                    yield stopped
                continue
            lost = type(exc).__name__ in LOST_ERRORS
            record = _error_record(spec, slot, job_dir / name, exc, lost)
            if record.status == "completed":  # it finished writing before its worker went away
                yield record
                continue
            if lost and tries < max_lost_retries:
                emit("lost", {"slot": slot.key, "trial": name, "error": type(exc).__name__})
                submit(slot, tries + 1)
                continue
            yield record
            continue
        if "live" in out:  # a running trial's new lines, from a worker without the job folder
            for chunk in out["live"]:
                apply_live(chunk, job_dir, name)
            continue
        del in_flight[gen]
        if out.get("archive"):
            _unpack(out["archive"], job_dir, name)
        yield TrialResult.model_validate(out["result"])


def ray_options(ecfg: Any) -> dict[str, Any]:
    """Ray resources one trial asks for: its cpus, GPUs and memory."""
    opts: dict[str, Any] = {"num_cpus": ecfg.cpus, "num_gpus": ecfg.gpus, "max_retries": 0}
    opts["resources"] = ray_type_resources(ecfg.gpus, ecfg.gpu_types)  # gpu_types as accelerator_type
    if ecfg.memory_mb:
        opts["memory"] = ecfg.memory_mb * 1024 * 1024
    return opts


def _check_fits(ray: Any, pending: list[Slot]) -> None:
    """Refuse a trial no node of the cluster could ever schedule (Ray would wait forever)."""
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    for slot in pending:
        e = slot.task.config.environment
        need = {"CPU": e.cpus, "GPU": float(e.gpus), "memory": float((e.memory_mb or 0) * 1024 * 1024)}
        if not any(all(n.get(k, 0.0) >= v for k, v in need.items() if v > 0) for n in nodes):
            have = ", ".join(
                f"{n.get('CPU', 0):g} CPU/{n.get('GPU', 0):g} GPU/{n.get('memory', 0) / 2**20:.0f} MiB"
                for n in nodes
            )
            raise LooplabError(
                f"{slot.task.path / 'task.toml'}: [environment] asks for {e.cpus:g} CPU, {e.gpus} GPU and "
                f"{e.memory_mb or 0} MiB; no Ray node has that ({have or 'no nodes'})"
            )


def _error_record(
    spec: JobSpec,
    slot: Slot,
    trial_dir: Path,
    exc: BaseException | None,
    lost: bool,
    stopped_by: str = "",
) -> TrialResult:
    """Record a trial the executor lost, failed outside ``run_trial``, or cancelled (``stopped_by``
    names the signal) in its folder; a final record the trial wrote itself is kept."""
    paths = TrialPaths(trial_dir)
    if stopped_by:
        info: dict[str, Any] = {
            "type": "Cancelled",
            "message": f"cancelled ({stopped_by}): its Ray task was cancelled (ray.cancel, force)",
        }
    else:
        assert exc is not None
        info = {
            "type": "WorkerLost" if lost else type(getattr(exc, "cause", None) or exc).__name__,
            "message": f"{type(exc).__name__}: {str(exc)[:2000]}",
            "traceback": "".join(traceback.format_exception(exc))[-8000:],
        }
    status = "cancelled" if stopped_by else "error"
    if paths.result.is_file():  # the trial wrote its record before the worker went away: keep it
        try:
            kept = TrialResult.read(paths.result)
        except ValueError:
            kept = None
        if kept is not None and kept.status != "running":
            return kept
        if kept is not None:  # the record it started with: keep what it says, end it
            kept.status, kept.reward, kept.exception_info = status, None, info
            kept.finished_at = now_iso()
            kept.executor = {**(kept.executor or {}), "kind": "ray", "lost": lost}
            kept.write(paths.result)
            return kept
    trial_dir.mkdir(parents=True, exist_ok=True)
    started = None
    if paths.config.is_file():
        started = dt.datetime.fromtimestamp(paths.config.stat().st_mtime, dt.UTC).isoformat(
            timespec="seconds"
        )
    ecfg = slot.task.config.environment
    record = TrialResult(
        schema_version=TRIAL_SCHEMA_VERSION,
        id=uuid.uuid4().hex,
        trial_name=trial_dir.name,
        job_name=spec.job_name,
        slot=slot.key,
        task_name=slot.task.name,
        task_path=str(slot.task.path),
        agent=slot.agent,
        model=spec.model,
        attempt=slot.attempt,
        status=status,
        started_at=started,
        finished_at=now_iso(),
        exception_info=info,
        resources={"cores": None, "cpus": ecfg.cpus, "memory_mb": ecfg.memory_mb},
        executor={"kind": "ray", "lost": lost},
    )
    record.write(paths.result)
    return record


def _cancelled_record(spec: JobSpec, slot: Slot, trial_dir: Path) -> TrialResult | None:
    """The record of a Ray task Ctrl-C cancelled: ``cancelled`` if its trial had started (its folder
    exists), the trial's own record if it finished first, None if it was still queued."""
    if not trial_dir.is_dir():
        return None
    return _error_record(spec, slot, trial_dir, None, False, stopped_by=cancel.reason() or "requested")


def _unpack(archive: bytes, job_dir: Path, name: str) -> None:
    """Unpack a trial folder shipped back from a worker without the job folder; refuse odd paths."""
    unpack_checked(archive, job_dir, name)
