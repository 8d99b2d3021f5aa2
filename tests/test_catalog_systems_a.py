"""Smoke tests for the first four systems tasks: int_sort, sha256_throughput, gaussian_blur, attention_cpu.

Per task: it loads without warnings and declares its runs in tests/run.toml (no jail or timing
code of its own is left: no harness.h, run_timed.sh or verify.py); its pristine driver builds on
the host around the baseline ``solve.c`` and around the reference ``solution/solve.c``, and both
give the answers of independent Python implementations (numpy's sort, hashlib, a numpy 2-D
convolution, a float64 numpy attention) on tiny inputs. Then looplab's candidate runner itself
(``looplab.verify.runner``, every step jailed) builds both programs from a root made of the task's
files and runs the task's correctness rounds: the reference passes every one, and a wrong
program fails a trusted check, and no program run sees the verifier's folders (/tests, the expected
answers, the baseline's output) or anything an earlier run left in /tmp. The timed rounds are covered by ``looplab run`` (tests/test_redteam_*.py, slow).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO

from looplab.environment.build import scratch_dir
from looplab.fsutil import remove_tree
from looplab.tasks.loader import load_task
from looplab.verify.runner import CandidateRunner, StepFailed, load_declaration

TASKS = ("int_sort", "sha256_throughput", "gaussian_blur", "attention_cpu")
HARNESS = ("driver.c", "solve.h", "Makefile", "objcheck.sh")
API = {
    "int_sort": "sort_u32",
    "sha256_throughput": "sha256",
    "gaussian_blur": "gaussian_blur",
    "attention_cpu": "attention",
}


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


@pytest.mark.parametrize("task", TASKS)
def test_task_loads_and_declares_its_runs(task: str) -> None:
    t = load_task(REPO / "tasks" / task)
    assert t.warnings == []
    cfg = t.config
    assert cfg.looplab.editable == ["solve.c"]
    assert cfg.looplab.measure == "paired" and cfg.looplab.reward == "log_speedup"
    pm = cfg.looplab.paired
    assert pm is not None and pm.baseline is None and pm.candidate is None and pm.build is None
    opt = cfg.optimization
    assert opt.baseline.score > 5 * opt.reference.score > 0
    decl = load_declaration(t.tests_dir)
    assert decl is not None and decl.mode == "timed" and decl.time == "cpu"
    assert decl.programs == {"baseline": "/orig", "candidate": "/app"} and decl.reference == "baseline"
    # the program's steps never name /tests; the build takes only solve.c from the program
    assert "/tests" not in decl.run.command and "/tests" not in decl.build.command
    assert "{src}/solve.c" in decl.build.command and "/orig/Makefile" in decl.build.command
    # no jail or timing code of its own is left
    for f in ("harness.h", "run_timed.sh"):
        assert not (t.environment_dir / f).exists(), f
    assert not (t.tests_dir / "verify.py").exists() and not (t.tests_dir / "run_timed.sh").exists()
    shipped = [p for p in (*t.tests_dir.iterdir(), *t.environment_dir.iterdir()) if p.is_file()]
    for p in shipped:
        text = p.read_text(errors="replace")
        assert "bwrap" not in text and "seccomp" not in text and "harness.h" not in text, p
    # the plain-Harbor fallback scores with the task's constants
    m = re.search(r"harbor_run\.py ([\d.]+)", (t.tests_dir / "test.sh").read_text())
    assert m and float(m.group(1)) == pytest.approx(opt.baseline.score / opt.reference.score, rel=0.01)
    dockerfile = (t.environment_dir / "Dockerfile").read_text()
    for f in HARNESS:
        assert re.search(rf"COPY .*\b{re.escape(f)}\b.* /orig/", dockerfile), f


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
    assert re.fullmatch(r"n 200000\nchecksum [0-9a-f]{16}\n", r.stdout)
    assert run(prog, "bench", "6", "200000").stdout != r.stdout  # the seed matters


def test_int_sort_checksum_tells_a_sorted_array_from_a_wrong_one(tmp_path: Path) -> None:
    base = build(tmp_path, "int_sort", "baseline")
    ref = build(tmp_path, "int_sort", "reference")
    assert run(base, "bench", "9", "300001").stdout == run(ref, "bench", "9", "300001").stdout
    env = REPO / "tasks" / "int_sort" / "environment"
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    for name in HARNESS:
        shutil.copy(env / name, wrong / name)
    # sorted, but one value changed: ascending order alone does not pass
    src = (env / "solve.c").read_text() + "\n"
    (wrong / "solve.c").write_text(
        src.replace(
            "qsort(a, n, sizeof a[0], cmp_u32);", "qsort(a, n, sizeof a[0], cmp_u32);\n    if (n) a[0] = 0;"
        )
    )
    subprocess.run(["make", "-s", "prog"], cwd=wrong, check=True, capture_output=True, timeout=120)
    assert run(wrong / "prog", "bench", "9", "300001").stdout != run(base, "bench", "9", "300001").stdout


@pytest.mark.parametrize("variant", ["baseline", "reference"])
def test_sha256_matches_hashlib(tmp_path: Path, variant: str) -> None:
    prog = build(tmp_path, "sha256_throughput", variant)
    rng = np.random.default_rng(2)
    for n, off in ((0, 0), (3, 1), (55, 2), (56, 3), (64, 0), (119, 5), (120, 6), (4097, 13)):
        msg = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        (tmp_path / "m.bin").write_bytes(msg)
        r = run(prog, "check", tmp_path / "m.bin", str(off))
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == hashlib.sha256(msg).hexdigest(), (n, off)
    data = subprocess.run([str(prog), "gen", "9", "100003"], capture_output=True, check=True).stdout
    assert len(data) == 100003
    assert run(prog, "bench", "9", "100003").stdout == hashlib.sha256(data).hexdigest() + "\n"
    # past one period (64 MiB) the data repeats; bench maps the one block again and again
    period = 64 << 20
    data = subprocess.run([str(prog), "gen", "5", str(period + 4099)], capture_output=True, check=True).stdout
    assert len(data) == period + 4099 and data[period:] == data[:4099] and data[:4099] != data[4099:8198]
    assert run(prog, "bench", "5", str(period + 4099)).stdout == hashlib.sha256(data).hexdigest() + "\n"


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
        want = blur_reference(img, kernel.astype(np.float64), passes)
        assert np.max(np.abs(got - want)) < 1e-5, (w, h, passes)
    r = run(prog, "run", "4", "70", "50", "2", tmp_path / "gen.bin")
    assert r.returncode == 0, r.stderr
    assert np.fromfile(tmp_path / "gen.bin", dtype="<f4").size == 70 * 50


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
    r = run(prog, "run", "6", "200", "2", tmp_path / "gen.bin")
    assert r.returncode == 0, r.stderr
    assert np.fromfile(tmp_path / "gen.bin", dtype="<f4").size == 2 * 2 * 200 * 64


# ---- the declaration, run by looplab's candidate runner (every step in a jail) -----------------


@pytest.fixture
def jail_tmp() -> Path:
    """A scratch folder the sandbox uid can reach (pytest's own tmp folders are mode 700)."""
    d = scratch_dir("test-systems-a")
    yield d
    remove_tree(d)


def _runner(root_parent: Path, task: str, solve_c: str) -> CandidateRunner:
    """A candidate runner over a root made of the task's files: /orig (pristine), /app (solve_c), /tests."""
    src = REPO / "tasks" / task
    root = root_parent / "root"
    shutil.copytree(src / "environment", root / "orig")
    shutil.copytree(src / "tests", root / "tests")
    (root / "app").mkdir()
    (root / "app" / "solve.c").write_text(solve_c)
    for d in (root, *root.rglob("*")):
        os.chmod(d, 0o755 if d.is_dir() else 0o644)
    decl = load_declaration(src / "tests")
    assert decl is not None
    return CandidateRunner(decl, root, root_parent / "scratch", None, {})


def _correctness(root_parent: Path, task: str, solve_c: str) -> int:
    runner = _runner(root_parent, task, solve_c)
    try:
        for name in runner.decl.programs:
            runner.build(name)
        return runner.correctness("candidate")
    finally:
        runner.close()


def _solution(task: str) -> str:
    return (REPO / "tasks" / task / "solution" / "solve.c").read_text()


def _baseline(task: str) -> str:
    return (REPO / "tasks" / task / "environment" / "solve.c").read_text()


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
@pytest.mark.parametrize("task", TASKS)
def test_the_runner_passes_the_reference_on_every_correctness_round(jail_tmp: Path, task: str) -> None:
    decl = load_declaration(REPO / "tasks" / task / "tests")
    assert decl is not None
    assert _correctness(jail_tmp, task, _solution(task)) == decl.correctness_runs


# wrong programs, each caught by a trusted check (or by the build's objcheck) in the runner
WRONG = {
    # right on the small inputs, wrong on larger ones
    ("int_sort", "wrong-when-large"): (
        "qsort(a, n, sizeof a[0], cmp_u32);",
        "qsort(a, n > 100000 ? n - 1 : n, sizeof a[0], cmp_u32);",
    ),
    ("sha256_throughput", "wrong-when-large"): (
        "void sha256(const uint8_t *data, size_t len, uint8_t digest[32]) {",
        "void sha256(const uint8_t *data, size_t len, uint8_t digest[32]) {\n    if (len > 1000000) len--;",
    ),
    ("gaussian_blur", "wrong-when-large"): (
        "    for (int p = 0; p < passes; p++) {",
        "    if (npix > 50000) passes--;\n    for (int p = 0; p < passes; p++) {",
    ),
    ("attention_cpu", "wrong-when-large"): (
        "        int len = causal ? i + 1 : n; /* keys this query attends to */",
        "        int len = causal ? i + 1 : n; /* keys this query attends to */\n        if (len > 300) len = 300;",
    ),
}
PROBE = """
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
/* aborts the run if any of the verifier's folders is there, or /tmp holds anything */
static void probe(void) {
    const char *hidden[] = {"/tests", "/expected", "/reference", "/logs", "/solution", 0};
    for (int i = 0; hidden[i]; i++) {
        DIR *d = opendir(hidden[i]);
        if (d) abort();
    }
    DIR *d = opendir("/tmp");
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) abort();
    if (d) closedir(d);
}
"""


def _with(task: str, old: str, new: str) -> str:
    src = _baseline(task)
    assert src.count(old) == 1, (task, old)
    return src.replace(old, new)


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
@pytest.mark.parametrize(("task", "kind"), sorted(WRONG))
def test_the_runner_fails_a_wrong_program(jail_tmp: Path, task: str, kind: str) -> None:
    with pytest.raises(StepFailed) as exc:
        _correctness(jail_tmp, task, _with(task, *WRONG[task, kind]))
    assert exc.value.side == "candidate" and "wrong output" in str(exc.value)


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
@pytest.mark.parametrize("task", TASKS)
def test_no_program_run_sees_the_verifiers_folders(jail_tmp: Path, task: str) -> None:
    """The reference solution with a probe that aborts on finding /tests, /expected, the
    baseline's output or anything in /tmp, at every call: it still passes every round."""
    fn = API[task]
    head, sig, body = _solution(task).partition(f"void {fn}(")
    assert sig, task
    brace = body.index("{") + 1
    probed = head + PROBE + sig + body[:brace] + "\n    probe();" + body[brace:]
    decl = load_declaration(REPO / "tasks" / task / "tests")
    assert decl is not None
    assert _correctness(jail_tmp, task, probed) == decl.correctness_runs
