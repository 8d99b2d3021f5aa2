"""Ship task folders to Ray nodes that share no files with the driver: content-addressed, once per node.

The driver packs each task folder into a tar archive named by ``hash_tree`` of the
folder and puts it in Ray's object store once per job (``pack_task``). A worker
asks for the archive only when its node's cache lacks that digest
(``materialize_task``): the first worker on a node unpacks it under
``<cache>/ray-tasks/<digest>/<task name>`` behind a file lock, and every later
trial of that task on the node reuses the folder. The folder keeps the task's name
(a task's name is its folder's name). Archives are checked on the way in: only
plain files and folders, no absolute paths, nothing outside the task folder.

Live files go the other way: a worker that cannot see the job folder streams the
new whole lines of a running trial's ``config.json``, trajectory and checkpoint
index to the driver (``LiveTail``, yielded by the trial's Ray generator task), and the
driver appends them under the job folder (``apply_live``), so ``looplab view`` shows
the trial growing; the finished folder, shipped back as an archive, then replaces them.
"""

from __future__ import annotations

import fcntl
import io
import os
import shutil
import tarfile
import uuid
from collections.abc import Callable
from pathlib import Path

from looplab.errors import LooplabError
from looplab.fsutil import atomic_write_bytes, hash_tree
from looplab.settings import runtime_dir

SHIP_DIR = "ray-tasks"


def pack_task(task_dir: Path) -> tuple[str, bytes]:
    """(digest, tar.gz bytes) of a task folder; the digest names its content, not its path."""
    task_dir = Path(task_dir)
    digest = hash_tree(task_dir, extra=[task_dir.name])
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(task_dir, arcname=task_dir.name, filter=_plain)
    return digest, buf.getvalue()


def _plain(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    """Only folders and regular files travel; owners are not kept."""
    if not (info.isdir() or info.isreg()):
        return None
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def shipped_root() -> Path:
    d = runtime_dir() / SHIP_DIR
    d.mkdir(parents=True, exist_ok=True)
    return d


def materialize_task(digest: str, name: str, fetch: Callable[[], bytes]) -> Path:
    """This node's copy of shipped task ``digest`` (folder ``name``); ``fetch`` gets the archive if absent."""
    if not digest.isalnum() or "/" in name or name in ("", ".", ".."):
        raise LooplabError(f"shipped task has a bad digest or name: {digest!r}, {name!r}")
    root = shipped_root()
    final = root / digest
    if (final / name / "task.toml").is_file():
        return final / name
    with open(root / f"{digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (final / name / "task.toml").is_file():
            return final / name
        tmp = root / f".{digest}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            unpack_checked(fetch(), tmp, name)
            shutil.rmtree(final, ignore_errors=True)
            os.rename(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final / name


def unpack_checked(archive: bytes, dest: Path, name: str) -> None:
    """Unpack an archive whose members all lie under ``name/`` as plain files and folders; refuse others."""
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for m in tar.getmembers():
            parts = Path(m.name).parts
            if not parts or parts[0] != name or ".." in parts or m.name.startswith("/"):
                raise LooplabError(f"archive from a Ray worker or driver has an unexpected path: {m.name!r}")
            if not (m.isreg() or m.isdir()):
                raise LooplabError(f"archive from a Ray worker or driver has a link or device: {m.name!r}")
        tar.extractall(dest)  # noqa: S202 - every member checked above


LIVE_FILES = ("config.json", "agent/trajectory.jsonl", "checkpoints/index.jsonl")
LIVE_PERIOD_S = 0.5


class LiveTail:
    """Worker side: the new whole lines of a running trial's live files since the last call.

    ``chunks()`` returns ``(trial_name, relative path, offset, bytes)`` tuples; the worker
    yields them to the driver every ``LIVE_PERIOD_S`` while the trial runs.
    """

    def __init__(self, trial_dir: Path):
        self.trial_dir = trial_dir
        self.sent: dict[str, int] = {}

    def chunks(self) -> list[tuple[str, str, int, bytes]]:
        out = []
        for rel in LIVE_FILES:
            off = self.sent.get(rel, 0)
            if rel == "config.json" and off:
                continue
            try:
                with open(self.trial_dir / rel, "rb") as fh:
                    fh.seek(off)
                    data = fh.read()
            except OSError:
                continue
            if rel != "config.json":
                data = data[: data.rfind(b"\n") + 1]  # whole lines only
            if data:
                out.append((self.trial_dir.name, rel, off, data))
                self.sent[rel] = off + len(data)
        return out


def apply_live(chunk: tuple[str, str, int, bytes], job_dir: Path, trial: str) -> None:
    """Driver side: write one streamed chunk of ``trial`` into the job folder (its live files only)."""
    name, rel, off, data = chunk
    if name != trial or rel not in LIVE_FILES:
        return
    path = job_dir / name / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if rel == "config.json":
        if not path.exists():
            atomic_write_bytes(path, data)
        return
    size = path.stat().st_size if path.exists() else 0
    if size == off:  # chunks of one file arrive in order; anything else is a stale repeat
        with open(path, "ab") as fh:
            fh.write(data)
