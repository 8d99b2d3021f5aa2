"""Small filesystem helpers: atomic writes, content hashing, safe tree copies."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with _suppress():
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return True


def hash_tree(root: Path, extra: Iterable[str] = ()) -> str:
    """A SHA-256 over every path, mode and file content below ``root`` (symlinks by target)."""
    h = hashlib.sha256()
    for item in extra:
        h.update(item.encode() + b"\0")
    root = Path(root)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames + [d for d in dirnames if (Path(dirpath) / d).is_symlink()]):
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            st = p.lstat()
            h.update(rel.encode() + b"\0" + str(stat.S_IMODE(st.st_mode) & 0o111).encode() + b"\0")
            if stat.S_ISLNK(st.st_mode):
                h.update(b"L" + os.readlink(p).encode())
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as fh:
                    for chunk in iter(lambda: fh.read(1 << 20), b""):
                        h.update(chunk)
            h.update(b"\0")
    return h.hexdigest()


def copy_tree(src: Path, dst: Path) -> None:
    """Copy a directory tree preserving modes and symlinks (never following them)."""
    shutil.copytree(src, dst, symlinks=True, dirs_exist_ok=True)


def read_regular_under(root: Path, rel: str, limit: int | None = None) -> bytes | None:
    """The bytes of regular file ``root/rel``, never following a symlink on the way.

    For folders a sandbox can still write to: each component is opened relative to the
    last with ``O_NOFOLLOW`` (a path swapped for a symlink mid-way fails instead of
    leading to a host file) and ``O_NONBLOCK`` (a fifo never blocks). None when the path
    is not a regular file below ``root`` or is larger than ``limit`` bytes.
    """
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    fds: list[int] = []
    try:
        fds.append(os.open(root, flags | os.O_DIRECTORY))
        for part in parts[:-1]:
            fds.append(os.open(part, flags | os.O_DIRECTORY, dir_fd=fds[-1]))
        fds.append(os.open(parts[-1], flags, dir_fd=fds[-1]))
        st = os.fstat(fds[-1])
        if not stat.S_ISREG(st.st_mode) or (limit is not None and st.st_size > limit):
            return None
        chunks, total = [], 0
        while chunk := os.read(fds[-1], 1 << 20):
            total += len(chunk)
            if limit is not None and total > limit:
                return None
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        for fd in fds:
            os.close(fd)


def chown_tree(root: Path, uid: int, gid: int) -> None:
    """Give every entry below ``root`` (and root itself) to uid:gid, without following links."""
    os.lchown(root, uid, gid)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            os.lchown(os.path.join(dirpath, name), uid, gid)


def make_world_readable(root: Path) -> None:
    """chmod a+rX on a tree so an unprivileged sandbox user can read it."""
    for dirpath, _dirnames, filenames in os.walk(root, followlinks=False):
        os.chmod(dirpath, os.stat(dirpath).st_mode | 0o555)
        for name in filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode):
                extra = 0o444 | (0o111 if st.st_mode & 0o111 else 0)
                os.chmod(p, st.st_mode | extra)


def remove_tree(path: Path) -> None:
    """Remove a tree even when an unprivileged sandbox left read-only folders in it."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return

    def onerror(func, p, _exc):  # noqa: ANN001
        try:
            os.chmod(os.path.dirname(p), 0o700)
            os.chmod(p, 0o700)
            func(p)
        except OSError:
            pass

    if path.is_symlink() or path.is_file():
        path.unlink()
    else:
        shutil.rmtree(path, onerror=onerror)
