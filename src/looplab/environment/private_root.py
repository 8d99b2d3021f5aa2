"""A private writable view of a pristine image root, made in milliseconds instead of a full copy.

As host root the view is a kernel overlay mount: the pristine root is the read-only lower
layer, every write (by the host side preparing the verifier, or by what runs in the
sandbox) lands in an upper folder beside the mount point, and ``metacopy=on`` makes a
chown or chmod copy up only the inode, not the data. The pristine root is never written.
Without host root, or where the kernel refuses the mount, the view is a ``cp -a`` copy;
both behave the same for the caller: ``dst`` is a folder it may change at will.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

from looplab.environment.images import copy_root


def _mount_overlay(lower: Path, dst: Path) -> bool:
    upper, work = dst.with_name(dst.name + ".upper"), dst.with_name(dst.name + ".work")
    for d in (dst, upper, work):
        d.mkdir(parents=True)
    opts = f"lowerdir={lower},upperdir={upper},workdir={work},metacopy=on"
    argv = ["mount", "-t", "overlay", "overlay", "-o", opts, str(dst)]
    r = subprocess.run(argv, capture_output=True, check=False)
    if r.returncode != 0:
        for d in (dst, upper, work):
            d.rmdir()
        return False
    return True


def _unmount(dst: Path) -> None:
    r = subprocess.run(["umount", str(dst)], capture_output=True, check=False)
    if r.returncode != 0:  # still busy (a process that outlived its sandbox): detach it
        subprocess.run(["umount", "-l", str(dst)], capture_output=True, check=False)


@contextlib.contextmanager
def private_root(pristine: Path, dst: Path) -> Iterator[str]:
    """Make ``dst`` a private writable view of ``pristine``; yields how: ``overlay`` or ``copy``.

    The caller removes ``dst``'s parent folder afterwards; an overlay is unmounted first,
    so that removal only ever touches the upper layer.
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    wanted = os.geteuid() == 0 and os.environ.get("LOOPLAB_PRIVATE_ROOT", "overlay") == "overlay"
    if wanted and _mount_overlay(Path(pristine), dst):
        try:
            yield "overlay"
        finally:
            _unmount(dst)
        return
    copy_root(Path(pristine), dst)
    yield "copy"


def unmount_views_under(folder: Path) -> None:
    """Unmount every view left mounted below ``folder`` (a looplab process killed mid-verification)."""
    prefix = str(Path(folder).resolve()) + "/"
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return
    points = [
        f[1].replace("\\040", " ") for f in (ln.split() for ln in lines) if len(f) > 2 and f[2] == "overlay"
    ]
    for p in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
        _unmount(Path(p))
