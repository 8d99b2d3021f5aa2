"""Benchmark: the verifier's private writable view of an image root, overlay mount against cp -a.

On the stand-in ``python:3.11-bookworm`` (~400 MB unpacked; tests/image_helpers.py), pulled
from the test registry on 127.0.0.1 into a fresh store, each of ``--runs`` rounds times both
ways side by side (alternated): make the view, give it to the sandbox user (``chown_tree``, as a
foreign task's writable verifier root is), then unmount/remove it, i.e. the whole per-verification
cost. Run as root (the overlay needs it): .venv/bin/python bench/private_root.py [--runs 3]
Writes bench/results/private_root.json and .md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tests"))

from image_helpers import Registry  # noqa: E402

from looplab.fsutil import atomic_write_json, atomic_write_text, chown_tree, remove_tree  # noqa: E402
from looplab.hostinfo import host_info  # noqa: E402


def _one(rootfs: Path, scratch: Path, how: str) -> float:
    from looplab.environment.private_root import private_root

    os.environ["LOOPLAB_PRIVATE_ROOT"] = how
    box = scratch / f"box-{how}"
    t0 = time.perf_counter()
    with private_root(rootfs, box / "root") as got:
        assert got == how, (got, how)
        chown_tree(box / "root", 65534, 65534)
    remove_tree(box)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/private_root.py: run as root (the overlay view needs it)", file=sys.stderr)
        return 2
    reg = Registry().start()
    base = Path(tempfile.mkdtemp(prefix="looplab-bench-root-", dir="/var/tmp"))
    try:
        ref = reg.ensure("python")
        os.environ["LOOPLAB_CACHE_DIR"] = str(base / "cache")
        from looplab.environment.images import pull

        rootfs = pull(ref).rootfs
        times: dict[str, list[float]] = {"overlay": [], "copy": []}
        for _ in range(args.runs):
            for how in ("overlay", "copy"):
                times[how].append(_one(rootfs, base, how))
        med = {k: statistics.median(v) for k, v in times.items()}
        res = {
            "host": host_info(),
            "image": ref,
            "runs": args.runs,
            "view_s": {k: {"median": med[k], "all": v} for k, v in times.items()},
            "ratio_copy_over_overlay": med["copy"] / med["overlay"],
        }
    finally:
        reg.stop()
        shutil.rmtree(base, ignore_errors=True)
    out = REPO / "bench" / "results"
    atomic_write_json(out / "private_root.json", res)
    md = (
        "# The verifier's private view of an image root\n\n"
        f"Median of {args.runs} alternated rounds on the stand-in python:3.11-bookworm (~400 MB): make the "
        "view, chown it to the sandbox user, remove it. Measured on a shared 2-core machine under load "
        "from other developers' jobs.\n\n| view | median |\n|---|---|\n"
        f"| overlay mount (metacopy) | {med['overlay']:.2f} s |\n| cp -a copy | {med['copy']:.2f} s |\n"
        f"| ratio copy / overlay | {res['ratio_copy_over_overlay']:.1f}x |\n"
    )
    atomic_write_text(out / "private_root.md", md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
