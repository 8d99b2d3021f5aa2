"""Evaluation: the backend runs in its own sandbox, which the agent never touches.

Each evaluation gets a fresh bubblewrap sandbox: the pipeline to score is a copy
made from a git tree (``gitops.materialize``), bound read-only at ``/app``
(mirroring the repository root, so ``pipeline_dir`` is ``/app/<lab folder>``); the
data folder is bound read-only at ``/data``; the backend's files are a read-only
copy at ``/lab``; only ``/out`` (scratch) and a private ``/tmp`` are writable; there
is no network (a host service, when configured, is forwarded in). A Python backend
runs through ``python3 -m looplab.lab.backend``, whose stdout is the result channel
(written by no process that loaded pipeline code); a command backend prints its JSON. A
task backend is the catalog task's sealed verifier. Anything that yields no valid
score (an exception, a timeout, a bad JSON) raises ``EvalFailed``.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import stat
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from looplab import cancel
from looplab.environment.build import runtime_dir
from looplab.errors import LooplabError
from looplab.fsutil import atomic_write_json, make_world_readable, remove_tree
from looplab.lab import gitops
from looplab.lab.backend import EvalResult, parse_result
from looplab.lab.config import Lab
from looplab.lab.decide import EvalFailed
from looplab.lab.services import ServiceHandle
from looplab.sandbox.base import SandboxSpec, sandbox_uid
from looplab.sandbox.factory import make_sandbox, runtime_path, runtime_ro_binds


@dataclass
class EvalRecord:
    index: int
    role: str
    ok: bool
    score: float | None
    duration_s: float
    exec_s: float
    error: str | None = None
    result: dict[str, Any] | None = None
    output_tail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def lab_runtime_dir(lab: Lab) -> Path:
    d = runtime_dir() / "labs" / lab.key
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o711)
    return d


def empty_root(lab: Lab) -> Path:
    d = lab_runtime_dir(lab) / "empty-root"
    d.mkdir(exist_ok=True)
    os.chmod(d, 0o755)
    return d


def new_box(lab: Lab, what: str, scope: str = "run") -> Path:
    """A fresh folder for one sandbox or pipeline copy; ``scope`` 'run' belongs to `lab run`."""
    # the owner's pid in the name lets looplab's scratch sweep remove what a killed process left
    d = runtime_dir() / "sandboxes" / f"lab-{lab.key}-{scope}-{what}-p{os.getpid()}-{uuid.uuid4().hex[:8]}"
    d.mkdir(parents=True)
    os.chmod(d, 0o711)
    return d


def clean_stale_boxes(lab: Lab) -> int:
    """Remove sandbox folders a killed `lab run` of this lab left behind (only one run holds the lab)."""
    n = 0
    base = runtime_dir() / "sandboxes"
    if base.is_dir():
        for p in base.glob(f"lab-{lab.key}-run-*"):
            remove_tree(p)
            n += 1
    return n


class Reaper:
    """Removes finished sandbox folders in a background thread, off the loop's critical path."""

    def __init__(self) -> None:
        self._q: queue.Queue[Path] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def remove(self, path: Path) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, daemon=True, name="lab-reaper")
                self._thread.start()
        self._q.put(Path(path))

    def _work(self) -> None:
        while True:
            p = self._q.get()
            try:
                remove_tree(p)
            except OSError:
                pass
            finally:
                self._q.task_done()

    def drain(self) -> None:
        """Wait until everything handed over is removed."""
        self._q.join()


REAPER = Reaper()


def readable_by_sandbox(path: Path) -> bool:
    """Whether the sandbox user can read ``path`` in place (else the lab snapshots it)."""
    uid, _gid = sandbox_uid()
    if uid == os.geteuid():
        return True
    p = path.resolve()
    for parent in [*reversed(p.parents)]:
        if not os.stat(parent).st_mode & stat.S_IXOTH:
            return False
    st = os.stat(p)
    return bool(st.st_mode & stat.S_IROTH and st.st_mode & stat.S_IXOTH)


def prepare_data(home: Path, data_dir: Path | None) -> tuple[Path, bool]:
    """The host folder to bind at /data: the data folder itself, or a readable snapshot under ``home``."""
    if data_dir is None:
        d = home / "no-data"
        d.mkdir(exist_ok=True)
        os.chmod(d, 0o755)
        return d, False
    data_dir = Path(data_dir).resolve()
    if not data_dir.is_dir():
        raise LooplabError(f"--data {data_dir}: not a folder")
    if readable_by_sandbox(data_dir):
        return data_dir, False
    snap = home / "data-snapshot"
    shutil.copytree(data_dir, snap, symlinks=True)
    make_world_readable(snap)
    return snap, True


def link_copy(src: Path, dst: Path) -> None:
    """Mirror ``src`` at ``dst`` with hard links to its files (symlinks copied as links)."""
    for dirpath, _dirs, files in os.walk(src):
        rel = os.path.relpath(dirpath, src)
        out = Path(dst) / rel if rel != "." else Path(dst)
        out.mkdir(parents=True, exist_ok=True)
        os.chmod(out, os.stat(dirpath).st_mode & 0o7777)
        for name in files:
            s = os.path.join(dirpath, name)
            if os.path.islink(s):
                os.symlink(os.readlink(s), out / name)
            else:
                os.link(s, out / name)


class Evaluator:
    """Runs the lab's backend on pipeline copies; one sandbox per evaluation."""

    def __init__(
        self, lab: Lab, data_dir: Path | None, service: ServiceHandle | None = None, scope: str = "run"
    ):
        self.lab = lab
        self.scope = scope
        self.cfg = lab.config.backend
        self.service = service if service and "eval" in service.cfg.forward_to else None
        # this evaluator's own folder (backend copy, data snapshot): a concurrent `lab eval` has its own
        self.home = new_box(lab, "evaluator", scope)
        self.data_host, self.data_snapshot = (
            prepare_data(self.home, data_dir) if self.cfg.kind != "task" else (None, False)
        )
        self.lab_copy = self._copy_backend_files() if self.cfg.kind != "task" else None
        self.task = None
        self.env = None
        if self.cfg.kind == "task":
            from looplab.environment.build import build_environment
            from looplab.tasks.catalog import resolve_task_path
            from looplab.tasks.loader import load_task

            self.task = load_task(resolve_task_path(str(self._task_ref())))
            self.env = build_environment(self.task)
        self._trees: dict[str, Path] = {}

    def _task_ref(self) -> str:
        ref = str(self.cfg.task)
        p = Path(ref)
        if not p.is_absolute() and (self.lab.dir / p).exists():
            return str(self.lab.dir / p)
        return ref

    def _copy_backend_files(self) -> Path:
        dest = self.home / "backend"
        dest.mkdir()
        wanted = list(self.cfg.files)
        if self.cfg.entry:
            target = self.cfg.entry.rpartition(":")[0]
            if target.endswith(".py"):
                wanted.append(target)
        for rel in wanted:
            src = (self.lab.dir / rel).resolve()
            if not src.exists():
                raise LooplabError(f"{self.lab.dir / 'lab.toml'}: backend file {rel!r} not found")
            out = dest / Path(rel)
            out.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(
                    src, out, symlinks=True, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
                )
            else:
                shutil.copy2(src, out)
        make_world_readable(dest)
        os.chmod(dest, 0o755)
        return dest

    # ---- pipeline copies -----------------------------------------------------------------
    def materialize(self, tree: str, base: str | None = None) -> Path:
        """A copy of ``tree``'s pipeline files (and the .gitignore files above them), cached per tree.

        Evaluations bind it read-only; the agent's workspace is a real copy of the best's.
        With ``base`` (a tree whose copy is cached), the copy is hard links to the base's
        files with only the differing files written anew — copies are never written to
        after they are made, so sharing inodes is safe.
        """
        if tree in self._trees and self._trees[tree].exists():
            return self._trees[tree]
        d = new_box(self.lab, f"tree-{tree[:10]}", self.scope)
        app = d / "app"
        base_copy = self._trees.get(base) if base else None
        if base_copy is not None and base_copy.exists():
            link_copy(base_copy, app)
            specs = list(self.lab.pipeline)
            gitops.apply_diff(self.lab.repo, str(base), tree, specs, app)
        else:
            specs = list(self.lab.pipeline) + gitops.ignore_files(self.lab.repo, tree, self.lab.pipeline)
            gitops.materialize(self.lab.repo, tree, specs, app)
            make_world_readable(app)
        (app / self.lab.rel).mkdir(parents=True, exist_ok=True)
        self._trees[tree] = app
        return app

    def forget(self, tree: str) -> None:
        p = self._trees.pop(tree, None)
        if p is not None:
            REAPER.remove(p.parent)

    def close(self) -> None:
        for t in list(self._trees):
            self.forget(t)
        REAPER.remove(self.home)
        REAPER.drain()

    # ---- one evaluation ------------------------------------------------------------------
    def evaluate(
        self,
        app: Path,
        index: int,
        role: str,
        sample_ids: list[str] | None = None,
        log_dir: Path | None = None,
    ) -> tuple[EvalResult, EvalRecord]:
        """Evaluate the pipeline copy ``app`` once. Raises ``EvalFailed`` (carrying the record) on failure."""
        t0 = time.monotonic()
        if self.cfg.kind == "task":
            res, rec = self._evaluate_task(app, index, role, log_dir)
        else:
            res, rec = self._evaluate_sandboxed(app, index, role, sample_ids)
        cancel.check()  # its sandbox was stopped by Ctrl-C: not a failed evaluation
        rec.duration_s = round(time.monotonic() - t0, 4)
        if log_dir is not None:
            atomic_write_json(log_dir / f"eval-{index:05d}-{role}.json", rec.__dict__)
        if res is None:
            err = EvalFailed(rec.error or "evaluation failed")
            err.record = rec  # type: ignore[attr-defined]
            raise err
        return res, rec

    def _evaluate_sandboxed(
        self, app: Path, index: int, role: str, sample_ids: list[str] | None
    ) -> tuple[EvalResult | None, EvalRecord]:
        box = new_box(self.lab, f"eval{index}", self.scope)
        out = box / "out"
        out.mkdir()
        pipeline_dir = self.lab.sandbox_dir()
        assert self.lab_copy is not None and self.data_host is not None
        ro = runtime_ro_binds()
        ro += [(app, "/app"), (self.lab_copy, "/lab"), (self.data_host, "/data")]
        if self.service:
            ro.append(self.service.ro_bind())
        env = {
            "PATH": runtime_path(),
            "LOOPLAB_PIPELINE_DIR": pipeline_dir,
            "LOOPLAB_DATA_DIR": "/data",
            "LOOPLAB_EVAL_INDEX": str(index),
            "LOOPLAB_EVAL_ROLE": role,
            "LOOPLAB_LAB": self.lab.name,
            "LOOPLAB_SAMPLE_IDS": ",".join(sample_ids or []),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        spec = SandboxSpec(
            root=empty_root(self.lab),
            binds=[(out, "/out")],
            ro_binds=ro,
            env=env,
            workdir=pipeline_dir,
            network=False,
            memory_mb=self.cfg.memory_mb,
            name=f"lab-eval-{self.lab.name}"[:40],
        )
        sb = make_sandbox(spec)
        rec = EvalRecord(index=index, role=role, ok=False, score=None, duration_s=0.0, exec_s=0.0)
        try:
            try:
                sb.start()
            except LooplabError:
                cancel.check()  # Ctrl-C stopped it while it started
                raise
            if self.service:
                self.service.attach(sb)
            if self.cfg.kind == "entry":
                argv = [
                    "python3",
                    "-m",
                    "looplab.lab.backend",
                    "--entry",
                    str(self.cfg.entry),
                    "--lab",
                    "/lab",
                    "--pipeline",
                    pipeline_dir,
                    "--data",
                    "/data",
                ]
                for s in sample_ids or []:
                    argv += ["--sample", s]
                r = sb.exec(argv, timeout=self.cfg.timeout_sec, cwd="/lab")
            else:
                cmd = (
                    str(self.cfg.command)
                    .replace("{pipeline_dir}", pipeline_dir)
                    .replace("{data_dir}", "/data")
                )
                r = sb.exec(cmd, timeout=self.cfg.timeout_sec, cwd="/lab")
            rec.exec_s = round(r.duration_s, 4)
            rec.output_tail = (r.stdout[-3000:] + ("\n" if r.stdout else "") + r.stderr[-3000:]).strip()
            if r.timed_out:
                rec.error = f"backend timed out after {self.cfg.timeout_sec:g} s"
                return None, rec
            if self.cfg.kind == "entry":
                # the runner's stdout is the result channel: only the runner writes it (see lab.backend)
                rec.output_tail = r.stderr[-6000:].strip()
                try:
                    data = json.loads(r.stdout)
                except ValueError:
                    data = None
                if not isinstance(data, dict):
                    rec.error = (
                        f"backend runner exited {r.exit_code} without a result: {r.stderr.strip()[-300:]}"
                    )
                    return None, rec
                if not data.get("ok"):
                    rec.error = str(data.get("error", "backend failed"))
                    rec.output_tail = (rec.output_tail + "\n" + str(data.get("traceback", ""))).strip()[
                        -6000:
                    ]
                    return None, rec
                payload: Any = data["result"]
            else:
                if r.exit_code != 0:
                    last = (r.stderr.strip() or r.stdout.strip() or "no output").splitlines()[-1][:300]
                    rec.error = f"backend command exited {r.exit_code}: {last}"
                    return None, rec
                payload = r.stdout
            try:
                res = parse_result(payload, f"backend {self.cfg.entry or 'command'}")
            except LooplabError as exc:
                rec.error = str(exc)
                return None, rec
            rec.ok, rec.score, rec.result = True, res.score, {"score": res.score, "metrics": res.metrics}
            return res, rec
        finally:
            sb.stop()
            REAPER.remove(box)

    def _evaluate_task(
        self, app: Path, index: int, role: str, log_dir: Path | None
    ) -> tuple[EvalResult | None, EvalRecord]:
        from looplab.verify.verifier import verify

        assert self.task is not None and self.env is not None
        vdir = new_box(self.lab, f"verify{index}", self.scope)
        rec = EvalRecord(index=index, role=role, ok=False, score=None, duration_s=0.0, exec_s=0.0)
        try:
            vr = verify(self.task, self.env, app, vdir / "logs")
            rec.exec_s = round(vr.duration_s, 4)
            rec.extra = {"reason": vr.reason, "reward_source": vr.reward_source, "carried": vr.carried_files}
            out = vdir / "logs" / "test-stdout.txt"
            rec.output_tail = out.read_text(errors="replace")[-3000:] if out.exists() else ""
            if vr.timed_out or vr.reward_source is None:
                rec.error = vr.reason or "the verifier wrote no reward"
                return None, rec
            metrics = {k: v for k, v in vr.rewards.items() if k != "reward"}
            if vr.reason:
                metrics["reason"] = vr.reason
            metrics["reward"] = vr.reward
            value = vr.rewards.get(self.cfg.metric)
            if isinstance(value, bool) or not isinstance(value, int | float):
                rec.error = (
                    f"the verifier's result has no number {self.cfg.metric!r} (it has: {sorted(vr.rewards)})"
                )
                return None, rec
            res = EvalResult(score=float(value), metrics=metrics)
            rec.ok, rec.score, rec.result = True, res.score, {"score": res.score, "metrics": res.metrics}
            return res, rec
        finally:
            REAPER.remove(vdir)
