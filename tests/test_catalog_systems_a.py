"""Smoke tests for the first four systems tasks: int_sort, sha256_throughput, gaussian_blur, attention_cpu.

Per task: it loads without warnings; its pristine harness builds on the host with the
baseline ``solve.c`` and with the reference ``solution/solve.c``; both pass correctness
on tiny inputs, checked here against independent Python implementations (numpy's sort,
hashlib, a numpy 2-D convolution, a float64 numpy attention); the self-checking
``bench`` mode accepts a right answer, rejects a wrong expected output, and ends its
stdout with the timing line the paired measurement reads. Each test takes a few seconds.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO

from looplab.tasks.loader import load_task

TASKS = ("int_sort", "sha256_throughput", "gaussian_blur", "attention_cpu")
HARNESS = ("driver.c", "harness.h", "solve.h", "Makefile", "objcheck.sh")


def build(tmp_path: Path, task: str, variant: str) -> Path:
    """Build TASK's program in a temp copy of its environment; variant 'baseline' or 'reference'."""
    env = REPO / "tasks" / task / "environment"
    dst = tmp_path / f"{task}-{variant}"
    dst.mkdir()
    for name in HARNESS:
        shutil.copy(env / name, dst / name)
    solve = env / "solve.c" if variant == "baseline" else REPO / "tasks" / task / "solution" / "solve.c"
    shutil.copy(solve, dst / "solve.c")
    r = subprocess.run(["make", "-s", "prog"], cwd=dst, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return dst / "prog"


def run(*cmd: str | Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout)


def last_seconds(stdout: str) -> float:
    return float(json.loads(stdout.strip().splitlines()[-1])["seconds"])


@pytest.mark.parametrize("task", TASKS)
def test_task_loads_cleanly(task: str) -> None:
    t = load_task(REPO / "tasks" / task)
    assert t.warnings == []
    cfg = t.config
    assert cfg.looplab.editable == ["solve.c"]
    assert cfg.looplab.measure == "paired" and cfg.looplab.paired is not None
    assert cfg.looplab.paired.time_source == "stdout"
    assert cfg.optimization.baseline.score > cfg.optimization.reference.score > 0
    for f in ("solution/solve.sh", "solution/solve.c", "solution/reference.md", "tests/verify.py"):
        assert (t.path / f).is_file(), f
    # the plain-Harbor fallback in verify.py uses the same constants as task.toml
    b, r = cfg.optimization.baseline.score, cfg.optimization.reference.score
    assert f"S_REF_FALLBACK = {b} / {r}" in (t.path / "tests" / "verify.py").read_text()


def test_harness_is_identical_across_tasks() -> None:
    """One guarded-child harness and one objcheck, copied verbatim into each task."""
    for name in ("harness.h", "objcheck.sh"):
        texts = {(REPO / "tasks" / t / "environment" / name).read_text() for t in TASKS}
        assert len(texts) == 1, name


@pytest.mark.parametrize("variant", ["baseline", "reference"])
def test_int_sort_sorts(tmp_path: Path, variant: str) -> None:
    prog = build(tmp_path, "int_sort", variant)
    rng = np.random.default_rng(1)
    for arr in (
        np.zeros(0, np.uint32),
        rng.integers(0, 2**32, 5000, dtype=np.uint32),
        np.full(300, 7, np.uint32),
    ):
        arr.astype("<u4").tofile(tmp_path / "in.bin")
        r = run(prog, "check", tmp_path / "in.bin", tmp_path / "out.bin")
        assert r.returncode == 0, r.stderr
        assert np.array_equal(np.fromfile(tmp_path / "out.bin", dtype="<u4"), np.sort(arr))
    r = run(prog, "bench", "5", "200000")
    assert r.returncode == 0, r.stderr
    assert last_seconds(r.stdout) > 0


@pytest.mark.parametrize("variant", ["baseline", "reference"])
def test_sha256_matches_hashlib(tmp_path: Path, variant: str) -> None:
    import hashlib

    prog = build(tmp_path, "sha256_throughput", variant)
    rng = np.random.default_rng(2)
    for n, off in ((0, 0), (3, 1), (55, 2), (56, 3), (64, 0), (119, 5), (120, 6), (4097, 13)):
        msg = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        (tmp_path / "m.bin").write_bytes(msg)
        r = run(prog, "check", tmp_path / "m.bin", str(off))
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == hashlib.sha256(msg).hexdigest(), (n, off)
    data = subprocess.run([str(prog), "gen", "9", "100000"], capture_output=True, check=True).stdout
    assert len(data) == 100000
    (tmp_path / "exp.hex").write_text(hashlib.sha256(data).hexdigest() + "\n")
    r = run(prog, "bench", "9", "100000", tmp_path / "exp.hex")
    assert r.returncode == 0, r.stderr
    assert last_seconds(r.stdout) > 0
    (tmp_path / "bad.hex").write_text("0" * 64 + "\n")
    assert run(prog, "bench", "9", "100000", tmp_path / "bad.hex").returncode == 3


def blur_reference(img: np.ndarray, kernel: np.ndarray, passes: int) -> np.ndarray:
    """Independent float64 2-D convolution with replicated borders."""
    h, w = img.shape
    out = img.astype(np.float64)
    for _ in range(passes):
        padded = np.pad(out, 8, mode="edge")
        acc = np.zeros((h, w))
        for dy in range(17):
            for dx in range(17):
                acc += kernel[dy, dx] * padded[dy : dy + h, dx : dx + w]
        out = acc
    return out


@pytest.mark.parametrize("variant", ["baseline", "reference"])
def test_gaussian_blur_matches_numpy(tmp_path: Path, variant: str) -> None:
    prog = build(tmp_path, "gaussian_blur", variant)
    rng = np.random.default_rng(3)
    k1 = np.exp(-((np.arange(17) - 8) ** 2) / (2 * 2.5**2))
    k1 /= k1.sum()
    kernel = np.outer(k1, k1).astype(np.float32)
    for w, h, passes in ((23, 11, 2), (1, 1, 1), (5, 40, 3), (9, 9, 0)):
        img = rng.random((h, w), dtype=np.float32)
        with open(tmp_path / "in.bin", "wb") as f:
            np.array([w, h, passes], "<i4").tofile(f)
            kernel.tofile(f)
            img.tofile(f)
        r = run(prog, "check", tmp_path / "in.bin", tmp_path / "out.bin")
        assert r.returncode == 0, r.stderr
        got = np.fromfile(tmp_path / "out.bin", dtype="<f4").reshape(h, w)
        assert np.max(np.abs(got - blur_reference(img, kernel.astype(np.float64), passes))) < 1e-5, (
            w,
            h,
            passes,
        )
    r = run(prog, "run", "4", "70", "50", "2", tmp_path / "exp.bin")
    assert r.returncode == 0, r.stderr
    r = run(prog, "bench", "4", "70", "50", "2", tmp_path / "exp.bin")
    assert r.returncode == 0, r.stderr
    assert last_seconds(r.stdout) > 0
    bad = np.fromfile(tmp_path / "exp.bin", dtype="<f4")
    bad[123] += 1e-3
    bad.tofile(tmp_path / "bad.bin")
    assert run(prog, "bench", "4", "70", "50", "2", tmp_path / "bad.bin").returncode == 3


def attention_reference(q: np.ndarray, k: np.ndarray, v: np.ndarray, causal: bool) -> np.ndarray:
    s = q.astype(np.float64) @ k.T.astype(np.float64) / 8.0
    if causal:
        s = np.where(np.tril(np.ones(s.shape, dtype=bool)), s, -np.inf)
    p = np.exp(s - s.max(axis=1, keepdims=True))
    return (p / p.sum(axis=1, keepdims=True)) @ v.astype(np.float64)


@pytest.mark.parametrize("variant", ["baseline", "reference"])
def test_attention_matches_float64(tmp_path: Path, variant: str) -> None:
    prog = build(tmp_path, "attention_cpu", variant)
    rng = np.random.default_rng(4)
    for n in (1, 33, 130):
        for causal in (False, True):
            q, k, v = (rng.uniform(-2, 2, (n, 64)).astype(np.float32) for _ in range(3))
            with open(tmp_path / "in.bin", "wb") as f:
                np.array([n, 64, int(causal)], "<i4").tofile(f)
                for x in (q, k, v):
                    x.tofile(f)
            r = run(prog, "check", tmp_path / "in.bin", tmp_path / "out.bin")
            assert r.returncode == 0, r.stderr
            got = np.fromfile(tmp_path / "out.bin", dtype="<f4").reshape(n, 64)
            assert np.max(np.abs(got - attention_reference(q, k, v, causal))) < 1e-4, (n, causal)
    r = run(prog, "run", "6", "200", "2", tmp_path / "exp.bin")
    assert r.returncode == 0, r.stderr
    r = run(prog, "bench", "6", "200", "2", tmp_path / "exp.bin")
    assert r.returncode == 0, r.stderr
    assert last_seconds(r.stdout) > 0
