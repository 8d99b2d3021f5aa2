"""The COPY/ADD step of an image build, run inside the build sandbox on the host's Python.

Copies staged files (or another stage's) to their destination, resolving paths in the
image's namespace, then applies ``--chown``/``--chmod``. It is stdlib only and imports
nothing of looplab, so its own text is what runs inside (``COPIER_SOURCE``, started by
``looplab.environment.image_build`` with one JSON argument: the items, uid, gid, chmod).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from typing import Any


def safe_source(root: str, path: str, deref: bool = True) -> str:
    """``path`` resolved as if ``root`` were /, never leaving it (COPY --from reads another stage)."""
    parts, seen, cur = [p for p in path.split("/") if p and p != "."], 0, root
    while parts:
        part = parts.pop(0)
        if part == "..":
            cur = os.path.dirname(cur) if cur != root else root
            continue
        nxt = os.path.join(cur, part)
        if os.path.islink(nxt) and (parts or deref):
            seen += 1
            if seen > 40:
                raise OSError("too many symlinks: " + path)
            link = os.readlink(nxt)
            cur = root if link.startswith("/") else cur
            parts = [p for p in link.split("/") if p and p != "."] + parts
            continue
        cur = nxt
    return cur


def _tree(path: str, follow_dir: bool) -> list[str]:
    """``path`` and, when it is a folder, everything below it."""
    if not (os.path.isdir(path) and (follow_dir or not os.path.islink(path))):
        return [path]
    out = []
    for d, ds, fs in os.walk(path):
        out += [d] + [os.path.join(d, x) for x in ds + fs]
    return out


def _owner(path: str, job: dict[str, Any]) -> None:
    if job.get("uid") is not None:
        for n in _tree(path, follow_dir=False):
            os.lchown(n, job["uid"], job["gid"])


def _mode(path: str, job: dict[str, Any]) -> None:
    if job.get("chmod") is not None:
        for n in _tree(path, follow_dir=True):
            if not os.path.islink(n):
                os.chmod(n, job["chmod"])


def main(job: dict[str, Any]) -> None:
    """Carry out every item of ``job`` in order."""
    for item in job["items"]:
        name = os.path.basename(item["src"].rstrip("/"))
        src = (
            item["src"]
            if not item.get("root")
            else safe_source(item["root"], item["src"], job.get("deref", True))
        )
        dest = item["dest"]
        if item["op"] == "mkdir":
            os.makedirs(dest, exist_ok=True)
            continue
        if os.path.isdir(src) and not os.path.islink(src):
            os.makedirs(dest, exist_ok=True)
            for entry in os.listdir(src):
                s, t = os.path.join(src, entry), os.path.join(dest, entry)
                if os.path.isdir(s) and not os.path.islink(s):
                    shutil.copytree(s, t, symlinks=True, dirs_exist_ok=True)
                else:
                    if os.path.lexists(t) and not os.path.isdir(t):
                        os.unlink(t)
                    shutil.copy2(s, t, follow_symlinks=False)
                _owner(t, job)
                _mode(t, job)
            if item.get("own_dest"):
                _owner(dest, job)
        else:
            if item["into_dir"] or os.path.isdir(dest):
                os.makedirs(dest, exist_ok=True)
                dest = os.path.join(dest, name)
            else:
                os.makedirs(os.path.dirname(dest) or "/", exist_ok=True)
            if os.path.lexists(dest) and not os.path.isdir(dest):
                os.unlink(dest)
            shutil.copy2(src, dest, follow_symlinks=False)
            _owner(dest, job)
            _mode(dest, job)


if __name__ == "__main__":  # inside the build sandbox, run with -c
    main(json.loads(sys.argv[1]))
else:
    with open(__file__, encoding="utf-8") as _f:
        COPIER_SOURCE = _f.read()
