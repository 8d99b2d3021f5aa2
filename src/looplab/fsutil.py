"""Small filesystem helpers: atomic writes, content hashing, safe tree walks, copies and removals.

Every walk, copy and removal here is iterative (an explicit stack, never recursion on
depth) and never follows a symlink: a sandbox can leave a 1500-level tree, fifos,
sockets, hard links or unreadable folders behind, and the host side must still finish.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterable, Iterator
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
    for dirpath, dirnames, filenames in walk_tree(root):
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


def same_content(a: Path | str, b: Path | str) -> bool:
    """Whether two regular files hold the same bytes (read and compared, never a stat cache)."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    fa, fb = os.open(a, flags), None
    try:
        fb = os.open(b, flags)
        sa, sb = os.fstat(fa), os.fstat(fb)
        if not (stat.S_ISREG(sa.st_mode) and stat.S_ISREG(sb.st_mode)) or sa.st_size != sb.st_size:
            return False
        while True:
            ca, cb = os.read(fa, 1 << 20), os.read(fb, 1 << 20)
            if ca != cb:
                return False
            if not ca:
                return True
    except OSError:
        return False
    finally:
        os.close(fa)
        if fb is not None:
            os.close(fb)


def walk_tree(root: Path | str) -> Iterator[tuple[str, list[str], list[str]]]:
    """``os.walk(root, followlinks=False)`` top-down, without recursion (any depth).

    Yields ``(dirpath, dirnames, filenames)``; as with ``os.walk``, symlinks to folders
    are listed in ``dirnames`` but not entered, unreadable folders are skipped, and
    removing names from ``dirnames`` prunes the walk.
    """
    stack = [os.fspath(root)]
    while stack:
        top = stack.pop()
        try:
            with os.scandir(top) as it:
                entries = list(it)
        except OSError:
            continue
        dirs, files = [], []
        for e in entries:
            try:
                (dirs if e.is_dir(follow_symlinks=False) or _is_dir_link(e) else files).append(e.name)
            except OSError:
                files.append(e.name)
        yield top, dirs, files
        for name in reversed(dirs):
            p = os.path.join(top, name)
            if not os.path.islink(p):
                stack.append(p)


def _is_dir_link(e: os.DirEntry) -> bool:
    return e.is_symlink() and e.is_dir(follow_symlinks=True)


def copy_tree(src: Path, dst: Path) -> None:
    """Copy a directory tree preserving modes and symlinks (never following them), at any depth.

    Regular files, folders and symlinks are copied (``dst`` may exist); fifos, sockets
    and device nodes are left out. Hard links become separate copies.
    """
    src, dst = os.fspath(src), os.fspath(dst)
    os.makedirs(dst, exist_ok=True)
    dir_modes: list[tuple[str, int]] = [(dst, os.lstat(src).st_mode)]
    for dirpath, dirnames, filenames in walk_tree(src):
        rel = os.path.relpath(dirpath, src)
        out_dir = dst if rel == "." else os.path.join(dst, rel)
        for name in dirnames + filenames:
            s, d = os.path.join(dirpath, name), os.path.join(out_dir, name)
            st = os.lstat(s)
            if stat.S_ISLNK(st.st_mode):
                if os.path.lexists(d) and not os.path.isdir(d):
                    os.unlink(d)
                os.symlink(os.readlink(s), d)
            elif stat.S_ISDIR(st.st_mode):
                os.makedirs(d, exist_ok=True)
                os.chmod(d, 0o700)
                dir_modes.append((d, st.st_mode))
            elif stat.S_ISREG(st.st_mode):
                shutil.copy2(s, d, follow_symlinks=False)
    for d, mode in reversed(dir_modes):  # deepest first, so a read-only folder is filled before
        os.chmod(d, stat.S_IMODE(mode))


def copy_over(src: Path, dst: Path) -> None:
    """Copy the tree ``src`` over ``dst``, a folder a sandbox wrote, never writing through a link.

    Whatever stands where ``src`` puts a folder or a file (a symlink a sandbox planted, a
    file where a folder goes, an older file) is removed first, so every write lands in a real
    folder under ``dst``. ``src``'s own symlinks are copied as links. The sandbox must not run
    meanwhile (nothing swaps a folder for a link between the check and the write).
    """
    src, dst = os.fspath(src), os.fspath(dst)

    def clear(path: str) -> None:
        if os.path.lexists(path):
            remove_tree(Path(path))

    for dirpath, dirnames, filenames in walk_tree(src):
        rel = os.path.relpath(dirpath, src)
        out = dst if rel == "." else os.path.join(dst, rel)
        if os.path.islink(out) or (os.path.lexists(out) and not os.path.isdir(out)):
            clear(out)
        os.makedirs(out, exist_ok=True)
        for name in dirnames + filenames:
            s_path, d_path = os.path.join(dirpath, name), os.path.join(out, name)
            st = os.lstat(s_path)
            if stat.S_ISDIR(st.st_mode):
                continue  # made real when the walk reaches it
            clear(d_path)
            if stat.S_ISLNK(st.st_mode):
                os.symlink(os.readlink(s_path), d_path)
            elif stat.S_ISREG(st.st_mode):
                shutil.copy2(s_path, d_path, follow_symlinks=False)


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
    for dirpath, dirnames, filenames in walk_tree(root):
        for name in dirnames + filenames:
            os.lchown(os.path.join(dirpath, name), uid, gid)


def make_world_readable(root: Path) -> None:
    """chmod a+rX on a tree so an unprivileged sandbox user can read it."""
    for dirpath, _dirnames, filenames in walk_tree(root):
        os.chmod(dirpath, os.stat(dirpath).st_mode | 0o555)
        for name in filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode):
                extra = 0o444 | (0o111 if st.st_mode & 0o111 else 0)
                os.chmod(p, st.st_mode | extra)


# A removal deeper than this moves the subtree up to the top folder (bounded open fds).
_REMOVE_MAX_DEPTH = 64
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def remove_tree(path: Path) -> None:
    """Remove ``path`` and everything below it, whatever a sandbox left there.

    Never recursive on depth and never following a symlink: each folder is opened
    relative to its parent with ``O_NOFOLLOW``, a subtree deeper than 64 levels is moved
    up to the top folder first (so neither the stack nor the open fds grow with depth),
    and folders a sandbox made read-only or unreadable are opened up (chmod) on the way.
    Fifos, sockets, hard links and sparse files are unlinked like any file. Raises
    OSError only when something really cannot be removed.
    """
    path = os.fspath(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(path)
        return
    top = _open_dir(None, path)
    try:
        _empty_dir(top)
    finally:
        os.close(top)
    try:
        os.rmdir(path)
    except PermissionError:
        os.chmod(os.path.dirname(os.path.abspath(path)), 0o700)
        os.rmdir(path)


def _open_dir(parent_fd: int | None, name: str) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except PermissionError:  # a folder left mode 000 (only matters when not root)
        os.chmod(name, 0o700, dir_fd=parent_fd)
        return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)


def _remove_entry(dir_fd: int, name: str) -> bool:
    """Unlink ``name`` in ``dir_fd`` (a file of any kind, or an empty folder); False if a non-empty folder."""
    for attempt in range(2):
        try:
            try:
                os.unlink(name, dir_fd=dir_fd)
            except IsADirectoryError:
                os.rmdir(name, dir_fd=dir_fd)
            return True
        except FileNotFoundError:
            return True
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                return False
            if isinstance(exc, PermissionError) and attempt == 0:
                os.chmod(dir_fd, 0o700)  # the sandbox made the folder read-only
                continue
            raise
    return False


def _empty_dir(top_fd: int) -> None:
    """Remove every entry below the open folder ``top_fd`` (an explicit stack, bounded depth)."""
    stack: list[tuple[int, str]] = [(top_fd, "")]  # (fd, its name in the parent)
    hoisted = 0
    try:
        while stack:
            fd = stack[-1][0]
            descended = False
            for name in os.listdir(fd):
                if _remove_entry(fd, name):
                    continue
                if len(stack) >= _REMOVE_MAX_DEPTH:
                    hoisted += 1
                    new = f".looplab-rm-{os.getpid()}-{time.monotonic_ns()}-{hoisted}"
                    os.rename(name, new, src_dir_fd=fd, dst_dir_fd=top_fd)
                    continue  # the top folder's next listing picks it up
                stack.append((_open_dir(fd, name), name))
                descended = True
                break
            if descended:
                continue
            if len(stack) == 1:
                if not os.listdir(top_fd):
                    break
                continue  # hoisted subtrees are left in the top folder
            fd, name = stack.pop()
            os.close(fd)
            if not _remove_entry(stack[-1][0], name):
                continue  # refilled meanwhile: the next pass sees it again
    finally:
        for fd, _name in stack[1:]:
            os.close(fd)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The objects of a JSON-lines file (none if it is missing); a torn line (a killed writer) is skipped."""
    out: list[dict[str, Any]] = []
    if not Path(path).exists():
        return out
    for line in Path(path).read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out
