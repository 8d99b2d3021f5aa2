"""Benchmark: image mode's costs: pull + unpack, a first build, a cached re-use, a sandbox on an image root.

Against the test registry on 127.0.0.1 (Debian's docker-registry holding the stand-in
``debian:bookworm``, ~170 MB unpacked; see tests/image_helpers.py), each median of
``--runs`` runs:

- pull + unpack into an empty store (a fresh ``LOOPLAB_CACHE_DIR`` per run);
- the first build of a task whose Dockerfile has one ``apt-get install`` step;
- a cached re-use of that build (target ≤ 50 ms);
- an agent sandbox started and one command run, on the image root against the host base,
  alternated in one loop (target ratio ≤ 1.2).

Run: .venv/bin/python bench/images.py [--runs 3]   (as root, with scripts/setup.sh's packages)
Writes bench/results/images.json and .md.
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

from looplab.fsutil import atomic_write_json, atomic_write_text  # noqa: E402
from looplab.hostinfo import host_info  # noqa: E402

REUSE_TARGET_S = 0.050
SANDBOX_RATIO_TARGET = 1.2


def _task(root: Path, dockerfile: str) -> Path:
    (root / "environment").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "task.toml").write_text('version = "1.0"\n')
    (root / "instruction.md").write_text("bench\n")
    (root / "tests" / "test.sh").write_text("#!/bin/bash\necho 1 > /logs/verifier/reward.txt\n")
    (root / "environment" / "Dockerfile").write_text(dockerfile)
    return root


def _fresh_cache(base: Path, name: str) -> Path:
    d = base / name
    d.mkdir(parents=True)
    os.chmod(d, 0o711)
    return d


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    reg = Registry().start()
    base = Path(tempfile.mkdtemp(prefix="looplab-bench-images-", dir="/var/tmp"))
    os.chmod(base, 0o711)
    try:
        ref = reg.ensure("debian")
        from looplab.environment import build as build_mod
        from looplab.environment.images import pull
        from looplab.sandbox.base import SandboxSpec
        from looplab.sandbox.bwrap import BwrapSandbox
        from looplab.tasks.loader import load_task

        pulls, firsts, reuses = [], [], []
        apt = f"FROM {ref}\nRUN apt-get update -qq && apt-get install -y -qq --no-install-recommends jq >/dev/null\nWORKDIR /app\n"
        for i in range(args.runs):
            os.environ["LOOPLAB_CACHE_DIR"] = str(_fresh_cache(base, f"pull{i}"))
            t0 = time.perf_counter()
            pull(ref)
            pulls.append(time.perf_counter() - t0)
            task = load_task(_task(base / f"task{i}", apt + f"LABEL run={i}\n"))
            t0 = time.perf_counter()
            env = build_mod.build_environment(task)
            firsts.append(time.perf_counter() - t0)
            for _ in range(3):
                t0 = time.perf_counter()
                again = build_mod.build_environment(task)
                reuses.append(time.perf_counter() - t0)
                assert again.cached
            if i < args.runs - 1:
                shutil.rmtree(os.environ["LOOPLAB_CACHE_DIR"], ignore_errors=True)
        host_root = base / "hostroot"
        (host_root / "app").mkdir(parents=True)
        image_s, host_s = [], []
        for _ in range(args.runs * 4):
            for root, out in ((env.root, image_s), (host_root, host_s)):
                t0 = time.perf_counter()
                sb = BwrapSandbox(SandboxSpec(root=root, workdir="/app", name="bench"))
                sb.start()
                r = sb.exec("true", timeout=30)
                sb.stop()
                out.append(time.perf_counter() - t0)
                assert r.ok, r.stderr
        res = {
            "host": host_info(),
            "runs": args.runs,
            "pull_unpack_s": {"median": statistics.median(pulls), "all": pulls},
            "first_build_apt_s": {"median": statistics.median(firsts), "all": firsts},
            "cached_reuse_s": {"median": statistics.median(reuses), "target": REUSE_TARGET_S, "all": reuses},
            "sandbox_start_exec_s": {
                "image": statistics.median(image_s),
                "host": statistics.median(host_s),
                "ratio": statistics.median(image_s) / statistics.median(host_s),
                "target": SANDBOX_RATIO_TARGET,
            },
        }
    finally:
        reg.stop()
        shutil.rmtree(base, ignore_errors=True)
    out_dir = REPO / "bench" / "results"
    atomic_write_json(out_dir / "images.json", res)
    sb = res["sandbox_start_exec_s"]
    md = (
        "# Image mode costs\n\n"
        f"Median of {args.runs} runs against the test registry on 127.0.0.1 (stand-in debian:bookworm); "
        "measured on a shared 2-core machine with other developers' jobs running.\n\n"
        "| what | median | target |\n|---|---|---|\n"
        f"| pull + unpack into an empty store | {res['pull_unpack_s']['median']:.2f} s | — |\n"
        f"| first build, one `apt-get install` step | {res['first_build_apt_s']['median']:.2f} s | — |\n"
        f"| cached re-use of that build | {res['cached_reuse_s']['median'] * 1000:.1f} ms | ≤ {REUSE_TARGET_S * 1000:.0f} ms |\n"
        f"| sandbox start + one command, image root | {sb['image'] * 1000:.1f} ms | — |\n"
        f"| same, host base | {sb['host'] * 1000:.1f} ms | — |\n"
        f"| ratio image / host (alternated in one loop) | {sb['ratio']:.2f} | ≤ {SANDBOX_RATIO_TARGET} |\n"
    )
    atomic_write_text(out_dir / "images.md", md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
