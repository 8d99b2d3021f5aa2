"""Which files of the agent's work travel to the verifier: the task's editable globs.

Globs are relative to the environment's working folder (``/app``) unless absolute;
``**`` matches across folders. Only regular files are carried: symlinks, devices
and fifos are skipped and reported, so nothing can point the host or the verifier
at a file the agent was not allowed to write.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

from looplab.fsutil import remove_tree, walk_tree
from looplab.tasks.loader import Task

MAX_FILE_BYTES = 512 << 20


def _glob_regex(glob: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(glob):
        c = glob[i]
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if glob.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        out.append({"*": "[^/]*", "?": "[^/]"}.get(c, re.escape(c)))
        i += 1
    return re.compile("".join(out) + r"\Z")


def normalize_globs(globs: list[str], workdir: str) -> list[str]:
    wd = workdir.rstrip("/") + "/"
    norm = []
    for g in globs:
        g = g.strip()
        if g.startswith("/"):
            g = g[len(wd) :] if g.startswith(wd) else g
        norm.append(g.lstrip("./") if g.startswith("./") else g)
    return norm


def matches(rel: str, globs: list[str]) -> bool:
    return any(_glob_regex(g).match(rel) for g in globs)


@dataclass
class EditableSet:
    files: dict[str, Path] = field(default_factory=dict)  # rel path -> host file
    skipped: list[str] = field(default_factory=list)  # rel paths not carried, with why


def unmatched(src_root: Path, globs: list[str]) -> list[str]:
    """The globs (already normalized) that match no file under ``src_root``."""
    rels = [
        (Path(d) / n).relative_to(src_root).as_posix() for d, _, names in walk_tree(src_root) for n in names
    ]
    return [g for g in globs if not any(_glob_regex(g).match(r) for r in rels)]


def collect(src_root: Path, globs: list[str] | None) -> EditableSet:
    """Files under ``src_root`` matching ``globs`` (all regular files when globs is None)."""
    out = EditableSet()
    src_root = Path(src_root)
    for dirpath, dirnames, filenames in walk_tree(src_root):
        for name in sorted(filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]):
            p = Path(dirpath) / name
            rel = p.relative_to(src_root).as_posix()
            if globs is not None and not matches(rel, globs):
                continue
            st = p.lstat()
            if stat.S_ISLNK(st.st_mode):
                out.skipped.append(f"{rel} (symlink)")
            elif not stat.S_ISREG(st.st_mode):
                out.skipped.append(f"{rel} (not a regular file)")
            elif st.st_size > MAX_FILE_BYTES:
                out.skipped.append(f"{rel} (larger than 512 MiB)")
            else:
                out.files[rel] = p
    return out


def overlay(dst_root: Path, editable: EditableSet, globs: list[str] | None) -> None:
    """Make ``dst_root`` hold the agent's version of every editable path.

    Pristine files matching the globs are removed first, so files the agent deleted
    are deleted for the verifier too; with ``globs`` None the whole folder is replaced.
    """
    dst_root = Path(dst_root)
    if globs is None:
        remove_tree(dst_root)
        dst_root.mkdir(parents=True)
    else:
        for dirpath, _dirs, filenames in walk_tree(dst_root):
            for name in filenames:
                p = Path(dirpath) / name
                if matches(p.relative_to(dst_root).as_posix(), globs):
                    p.unlink()
    for rel, src in editable.files.items():
        target = dst_root / rel
        # refuse to write through a symlinked folder of the pristine tree
        cur = dst_root
        for part in Path(rel).parts[:-1]:
            cur = cur / part
            if cur.is_symlink():
                raise OSError(f"editable path {rel} goes through a symlink in the environment")
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.exists():
            target.unlink()
        shutil.copyfile(src, target, follow_symlinks=False)
        os.chmod(target, 0o755 if src.lstat().st_mode & 0o111 else 0o644)


def editable_globs(task: Task, override: list[str] | None) -> list[str] | None:
    """The globs that decide what is carried (None: everything, the trial is unsealed)."""
    globs = list(override) if override else list(task.config.looplab.editable)
    return globs or None
