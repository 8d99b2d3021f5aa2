"""Harbor's artifacts: files copied out of the agent's environment into the trial's ``artifacts/``.

Two sources, as in Harbor: the convention folder ``/logs/artifacts`` (whatever the agent or
the verifier wrote there), and the task's ``artifacts`` entries (a path, or ``{source,
destination, exclude}``; a bare path lands under its basename). Before they are collected
the ``[[verifier.collect]]`` hooks run in their service (``main``, the agent's environment, or
a compose sidecar), so a hook can write what an artifact then picks up; an entry's ``service``
names where it is copied from. ``artifacts/manifest.json`` lists
every entry with its type (``file``/``directory``), status (``ok``/``missing``/``failed``),
file count and bytes. For a task whose ``[verifier] environment_mode`` is ``separate`` the
entries are put back at their source paths in the verifier's sandbox before test.sh runs, as
Harbor restores them in a separate verifier.

An entry is copied inside the sandbox (``cp``, as the agent's user) into a staging folder
under the host-bound ``/logs``, then only regular files are copied on to the trial, never
following a link, bounded in size, and ``exclude`` globs (matched against each file's path
relative to the entry and its name) are left out.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import shlex
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from looplab.fsutil import atomic_write_json, read_regular_under, remove_tree, walk_tree
from looplab.sandbox.base import Sandbox
from looplab.tasks.model import Artifact, CollectHook

MAX_ARTIFACT_BYTES = 256 << 20  # all of a trial's (or a step's) artifacts together
STAGE = ".looplab-artifacts"  # under the sandbox's /logs while an entry is copied out
CONVENTION_DIR = "/logs/artifacts"
MANIFEST = "manifest.json"


def run_collect_hooks(
    sandbox: Sandbox,
    hooks: list[CollectHook],
    cwd: str,
    log_dir: Path,
    sidecars: Callable[[str], tuple[Sandbox, str] | None] | None = None,
) -> list[dict[str, Any]]:
    """Run the ``[[verifier.collect]]`` commands in order, each in its service (``main``: ``sandbox``;
    a compose sidecar: the (sandbox, working folder) ``sidecars`` gives); one record each."""
    out = []
    for i, hook in enumerate(hooks):
        box, where = (
            (sandbox, cwd)
            if hook.service == "main"
            else (sidecars(hook.service) if sidecars else None) or (None, "")
        )
        if box is None:
            continue  # the loader refused a service the task does not run
        r = box.exec(hook.command, timeout=hook.timeout_sec, cwd=where)
        status = f"exit {r.exit_code}" + (", timed out" if r.timed_out else "")
        (log_dir / f"collect-{i}.txt").write_text(f"$ {hook.command}\n[{status}]\n{r.stdout}\n{r.stderr}")
        out.append(
            {
                "service": hook.service,
                "command": hook.command,
                "exit_code": r.exit_code,
                "timed_out": r.timed_out,
            }
        )
    return out


class Collector:
    """The artifacts of one trial (or one step) gathered into ``out_dir`` with one manifest."""

    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)
        self.entries: list[dict[str, Any]] = []
        self.total = 0

    def from_sandbox(
        self, sandbox: Sandbox, specs: list[Artifact], logs_host: Path, logs_in: str = "/logs"
    ) -> None:
        """Copy each entry out of the running ``sandbox`` (its ``logs_in`` is host folder ``logs_host``).

        No process of the agent runs any more (the caller killed them): the staging folder is
        made afresh on the host, so a link the agent planted under /logs is never followed."""
        if not specs:
            return
        stage_root = logs_host / STAGE
        remove_tree(stage_root)  # a planted link is unlinked, never followed
        stage_root.mkdir()
        st = os.stat(logs_host)
        os.chown(stage_root, st.st_uid, st.st_gid)  # the sandbox's user, as /logs itself
        for i, spec in enumerate(specs):
            src = (
                posixpath.normpath("/" + spec.source.lstrip("/"))
                if spec.source.startswith("/")
                else spec.source
            )
            dest = spec.destination or posixpath.basename(src.rstrip("/")) or f"artifact-{i}"
            entry: dict[str, Any] = {"source": spec.source, "destination": dest, "service": spec.service}
            stage_in, stage_host = f"{logs_in}/{STAGE}/{i}", logs_host / STAGE / str(i)
            q = shlex.quote(src)
            probe = sandbox.exec(
                f"if [ -d {q} ]; then echo directory; elif [ -e {q} ]; then echo file; else echo missing; fi",
                timeout=30,
            )
            kind = probe.stdout.strip() or "missing"
            entry["type"] = kind if kind != "missing" else None
            if kind == "missing":
                entry["status"] = "missing"
            else:
                if kind == "directory":
                    cmd = f"mkdir -p {stage_in} && cp -RP {q}/. {stage_in}/"
                else:
                    cmd = (
                        f"mkdir -p {stage_in} && cp -P {q} {stage_in}/{shlex.quote(posixpath.basename(src))}"
                    )
                r = sandbox.exec(cmd, timeout=600)
                if r.exit_code != 0:
                    entry.update(status="failed", error=(r.stderr or r.stdout).strip()[-500:])
                elif kind == "file":  # a file lands at the destination itself
                    self._copy_file(stage_host, posixpath.basename(src), self.out_dir / dest, entry)
                else:
                    self._copy_tree(stage_host, self.out_dir / dest, spec.exclude, entry)
                entry.setdefault("status", "ok")
            remove_tree(stage_host)
            self.entries.append(entry)
        remove_tree(logs_host / STAGE)

    def from_folder(self, folder: Path, phase: str) -> None:
        """The convention folder ``/logs/artifacts`` as left on the host by a sandbox of ``phase``."""
        if folder.is_symlink() or not folder.is_dir() or not any(folder.iterdir()):
            return
        entry: dict[str, Any] = {
            "source": CONVENTION_DIR,
            "destination": ".",
            "type": "directory",
            "phase": phase,
        }
        self._copy_tree(folder, self.out_dir, [], entry)
        entry.setdefault("status", "ok")
        self.entries.append(entry)

    def write_manifest(self) -> Path | None:
        if not self.entries:
            return None
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / MANIFEST
        atomic_write_json(path, self.entries)
        return path

    def restore_into(self, sandbox: Sandbox, stage_host: Path, stage_in: str) -> list[str]:
        """Put the collected entries back at their source paths in ``sandbox`` (a separate
        verifier's, as Harbor restores them there), copied inside it from a staging folder
        (host ``stage_host``, ``stage_in`` in the sandbox) so private mounts such as ``/tmp``
        see them; the paths restored."""
        done = []
        for i, e in enumerate(self.entries):
            src, dest = e.get("source", ""), self.out_dir / str(e.get("destination", ""))
            if e.get("phase") or e.get("status") != "ok" or not src.startswith("/") or not dest.exists():
                continue
            q, staged = shlex.quote(src), f"{stage_in}/{i}"
            stage_host.mkdir(parents=True, exist_ok=True)
            if dest.is_dir():
                shutil.copytree(dest, stage_host / str(i), symlinks=True)
                cmd = f"mkdir -p {q} && cp -RP {staged}/. {q}/"
            else:
                shutil.copyfile(dest, stage_host / str(i))
                cmd = f'mkdir -p "$(dirname {q})" && cp -P {staged} {q}'
            r = sandbox.exec(cmd, timeout=600)
            if r.exit_code != 0:
                e["restore_error"] = (r.stderr or r.stdout).strip()[-500:]
            else:
                done.append(src)
        remove_tree(stage_host)
        return done

    def record(self) -> dict[str, Any]:
        return {"dir": self.out_dir.name, "entries": self.entries, "bytes": self.total}

    def _copy_file(self, root: Path, rel: str, dst: Path, entry: dict[str, Any]) -> None:
        data = read_regular_under(root, rel, MAX_ARTIFACT_BYTES - self.total)
        if data is None:
            entry.update(status="failed", error="not a regular file, or over the artifacts' size limit")
            return
        self._write(dst, data, entry)

    def _copy_tree(self, root: Path, dst: Path, exclude: list[str], entry: dict[str, Any]) -> None:
        entry.setdefault("files", 0)
        entry.setdefault("bytes", 0)
        if root.is_symlink() or not root.is_dir():
            return
        for dirpath, _dirs, files in walk_tree(root):
            for name in files:
                rel = (Path(dirpath) / name).relative_to(root).as_posix()
                if rel == MANIFEST and dst == self.out_dir:
                    continue  # the manifest is looplab's
                if any(fnmatch.fnmatch(rel, g) or fnmatch.fnmatch(name, g) for g in exclude):
                    continue
                data = read_regular_under(root, rel, MAX_ARTIFACT_BYTES - self.total)
                if data is None:
                    entry["skipped"] = entry.get("skipped", 0) + 1
                    continue
                self._write(dst / rel, data, entry)

    def _write(self, dst: Path, data: bytes, entry: dict[str, Any]) -> None:
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(data)
        self.total += len(data)
        entry["files"] = entry.get("files", 0) + 1
        entry["bytes"] = entry.get("bytes", 0) + len(data)
