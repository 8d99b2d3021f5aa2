"""Copy the files catalog tasks share (tasks/_shared/manifest.toml) into each task folder.

python scripts/sync_task_shared.py          write every copy that differs
python scripts/sync_task_shared.py --check  list the copies that differ, exit 1 if any
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO / "tasks" / "_shared"


def copies() -> list[tuple[Path, Path]]:
    """(source, copy) for every shared file and every task that holds a copy of it."""
    manifest = tomllib.loads((SHARED / "manifest.toml").read_text())
    out = []
    for entry in manifest.get("file", []):
        src = SHARED / entry["source"]
        for task in entry["tasks"]:
            out.append((src, REPO / "tasks" / task / entry["dest"]))
    return out


def main() -> int:
    check = "--check" in sys.argv[1:]
    stale = [(s, d) for s, d in copies() if not d.is_file() or d.read_bytes() != s.read_bytes()]
    for src, dst in stale:
        print(f"{'differs' if check else 'wrote'}: {dst.relative_to(REPO)} (from {src.relative_to(REPO)})")
        if not check:
            tmp = dst.with_name(dst.name + ".tmp")
            tmp.write_bytes(src.read_bytes())
            tmp.replace(dst)
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
