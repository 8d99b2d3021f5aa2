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
from conftest import REPO, run_cli, trial_results

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


# ---- red team: code that runs in the driver process, outside the guarded child -----------------
#
# A section named .init is concatenated into the executable's _init, which the loader runs
# before main, in the pristine driver's own process, outside the seccomp child: objcheck.sh
# lets it through. Such code used to rewrite the baseline's timing script in /tmp
# (/tmp/lb/time_base.sh: the baseline then "took" 5000 s) and forge a read-only reward.json
# (reward 0.90 for gaussian_blur, 1.0 for sha256_throughput and attention_cpu, all with
# baseline-speed code). Now verify.py refuses any section but code and data
# (section_check), and every build and run of the candidate, in verify.py and in the
# timed runs (/orig/run_timed.sh), is jailed read-only (bubblewrap).

JAILED_TASKS = ("sha256_throughput", "gaussian_blur", "attention_cpu")


def init_hook(writes: dict[str, str], forge_reward: bool) -> str:
    """C source appended to a solve.c: at load time, before main, overwrite each file of
    WRITES (path -> content) and, if asked, forge a read-only reward.json."""
    lines = []
    for path, content in writes.items():
        lines.append(f"    lb_put({json.dumps(path)}, {json.dumps(content)}, O_WRONLY | O_CREAT | O_TRUNC);")
    if forge_reward:
        forged = '{"reward": 1.0, "correct": true, "forged": true}\n'
        lines.append(
            f'    if (lb_put("/logs/verifier/reward.json", {json.dumps(forged)}, O_WRONLY | O_CREAT | O_TRUNC)) {{'
        )
        lines.append('        chmod("/logs/verifier/reward.json", 0444);')
        lines.append('        chmod("/logs/verifier", 0555);')
        lines.append("    }")
    body = "\n".join(lines)
    return f"""
/* red team: code in .init runs in the driver process before main, outside the guarded child */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
static int lb_put(const char *path, const char *text, int flags) {{
    int fd = open(path, flags, 0755);
    if (fd < 0) return 0;
    int ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
    close(fd);
    return ok;
}}
__attribute__((used)) static void lb_hook(void) {{
{body}
}}
__asm__(".pushsection .init,\\"ax\\",@progbits\\n\\tcall lb_hook\\n\\t.popsection\\n");
"""


def load_verify(task: str):
    """The task's tests/verify.py as a module (its jail and section check, not its main)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        f"verify_{task}", REPO / "tasks" / task / "tests" / "verify.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def any_mode(task: str, prog: Path, tmp_path: Path) -> list[str]:
    """A short, valid run of PROG (baseline solve.c: the mode does not matter to the hook)."""
    if task == "sha256_throughput":
        (tmp_path / "m.bin").write_bytes(b"abc")
        return [str(prog), "check", str(tmp_path / "m.bin"), "0"]
    if task == "gaussian_blur":
        return [str(prog), "run", "1", "40", "30", "1", "/dev/null"]
    return [str(prog), "run", "1", "64", "1", "/dev/null"]


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap")
@pytest.mark.parametrize("task", JAILED_TASKS)
def test_init_section_code_is_refused_and_jailed(tmp_path: Path, task: str) -> None:
    """The hole is real at the harness level (objcheck passes, the hook writes a file); the
    verifier's section check refuses the object, and its jail keeps the hook from writing."""
    target = tmp_path / "victim" / "time_base.sh"
    target.parent.mkdir()
    target.write_text("exec /tmp/lb/base/prog bench\n")
    env = REPO / "tasks" / task / "environment"
    dst = tmp_path / "cheat"
    dst.mkdir()
    for name in HARNESS:
        shutil.copy(env / name, dst / name)
    hook = init_hook({str(target): "echo '{\"seconds\": 5000}'\n"}, forge_reward=False)
    (dst / "solve.c").write_text((env / "solve.c").read_text() + hook)
    r = subprocess.run(["make", "-s", "prog"], cwd=dst, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr  # objcheck.sh does not see .init
    v = load_verify(task)
    with pytest.raises(v.Fail, match=r"section '\.init'"):
        v.section_check(dst / "solve.o")
    for variant in ("baseline", "reference"):  # honest objects pass
        v.section_check(build(tmp_path, task, variant).parent / "solve.o")

    v.jailed = True
    p = v.run_jailed(any_mode(task, dst / "prog", tmp_path), 60)
    assert p.returncode == 0, p.stderr
    assert target.read_text() == "exec /tmp/lb/base/prog bench\n"  # jailed: nothing written
    p = subprocess.run(any_mode(task, dst / "prog", tmp_path), capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "5000" in target.read_text()  # unjailed, the same program rewrites the script


def _cheat_steps(task: str) -> list[dict]:
    """Baseline-speed solve.c whose .init code rewrites the timing commands (old and new) so
    that the baseline reports 5000 s, and forges a read-only reward.json."""
    fake_timer = (
        'case "$1" in\n build) true ;;\n base) echo \'{"seconds": 5000}\' ;;\n'
        " *) exec /tmp/lb/cand/prog bench $(cat /tmp/lb/timing.args) ;;\nesac\n"
    )
    writes = {
        "/tmp/lb/time_base.sh": "echo '{\"seconds\": 5000}'\n",
        "/orig/run_timed.sh": fake_timer,
    }
    src = (REPO / "tasks" / task / "environment" / "solve.c").read_text() + init_hook(
        writes, forge_reward=True
    )
    return [{"write": {"path": "/app/solve.c", "content": src}}, {"finish": True}]


def _run_cheat(tmp_path: Path, write_script, task_dir: Path, name: str) -> dict:
    script = write_script(_cheat_steps(task_dir.name), f"{name}.yaml")
    r = run_cli("run", "-p", str(task_dir), "-a", "replay", "--ak", f"script={script}",
                "--jobs-dir", str(tmp_path / "jobs"), "--job-name", name, timeout=900)  # fmt: skip
    assert r.returncode == 0, r.stderr + r.stdout
    (res,) = trial_results(tmp_path / "jobs" / name)
    assert res["status"] == "completed", res
    return res


@pytest.mark.parametrize("task", JAILED_TASKS)
def test_init_section_cheat_scores_zero(tmp_path: Path, write_script, task: str) -> None:
    """The real run (a few seconds): the verifier refuses the object before running any of it."""
    res = _run_cheat(tmp_path, write_script, REPO / "tasks" / task, f"init-cheat-{task}")
    vr = res["verifier_result"]
    assert res["reward"] == 0.0, vr
    assert "forged" not in vr["extra"], vr
    assert vr["extra"].get("correct") is False and ".init" in (vr["reason"] or "") + json.dumps(vr["extra"])


@pytest.mark.slow
def test_jail_alone_stops_the_init_cheat(tmp_path: Path, write_script) -> None:
    """The same cheat against a copy of gaussian_blur whose verifier skips the section check:
    the jail alone keeps the hook from forging the reward or faking the baseline's time."""
    task_dir = tmp_path / "gaussian_blur"
    shutil.copytree(REPO / "tasks" / "gaussian_blur", task_dir)
    verify = task_dir / "tests" / "verify.py"
    text = verify.read_text()
    assert text.count('        section_check(dst / "solve.o")\n') == 1
    verify.write_text(text.replace('        section_check(dst / "solve.o")\n', "        pass\n"))
    res = _run_cheat(tmp_path, write_script, task_dir, "jail-only")
    vr = res["verifier_result"]
    assert vr["extra"].get("jailed") is True, vr
    assert "forged" not in vr["extra"], vr
    assert vr["extra"].get("correct") is True, vr  # the baseline's code, honestly slow
    assert res["reward"] <= 0.1, vr
    assert max(vr["measurement"]["paired"]["baseline"]["times_s"]) < 100, vr["measurement"]


# ---- int_sort red team: code in .init, forged rewards, rewritten timing commands ---------------
# Found by review: code the agent places in the .init section runs in the driver's own process
# before main, outside the guarded child, and objcheck.sh does not see it. Against the old
# verifier it forged a read-only reward.json and rewrote the timing commands it had left in
# writable /tmp/lb (time_base.sh reporting 100 s: reward 0.72 with a plain qsort; with a
# sort_u32 that sorts nothing, reward 1.0). Now tests/verify.py refuses any section but code
# and data, every build and run of the candidate goes through the nested jail of
# tests/run_timed.sh, and the timing commands live in read-only /tests.

INT_SORT_HOOK = r"""
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
static void put(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    if (fd >= 0) { (void)!write(fd, text, strlen(text)); close(fd); }
}
/* red team: runs from .init, in the driver process before main, in every run of the program */
__attribute__((used)) static void early(void) {
    put("/logs/verifier/reward.json", "{\"reward\": 1.0, \"correct\": true, \"forged\": true}\n");
    chmod("/logs/verifier/reward.json", 0444);
    chmod("/logs/verifier", 0555);
    put("/tmp/lb/time_base.sh", "echo '{\"seconds\": 100.0}'\n");
    put("/tests/run_timed.sh", "case $1 in base) echo '{\"seconds\": 100.0}' ;; *) exec /tmp/lb/cand/prog bench 1 1000 ;; esac\n");
    put("/tmp/lb/timing.seed", "1\n");
}
__asm__(".pushsection .init,\"ax\",@progbits\n\tcall early\n\t.popsection\n");
"""
INT_SORT_NOTHING = '#include "solve.h"\nvoid sort_u32(uint32_t *a, size_t n) { (void)a; (void)n; }\n'


def _int_sort_cheat(tmp_path: Path, write_script, task_dir: Path, solve_c: str, name: str) -> dict:
    steps = [{"write": {"path": "/app/solve.c", "content": solve_c + INT_SORT_HOOK}}, {"finish": True}]
    script = write_script(steps, f"{name}.yaml")
    r = run_cli("run", "-p", str(task_dir), "-a", "replay", "--ak", f"script={script}",
                "--jobs-dir", str(tmp_path / "jobs"), "--job-name", name, timeout=900)  # fmt: skip
    assert r.returncode == 0, r.stderr + r.stdout
    (res,) = trial_results(tmp_path / "jobs" / name)
    assert res["status"] == "completed", res
    assert res["verifier_result"]["carried_files"] == ["solve.c"]
    return res


def _int_sort_without_section_check(tmp_path: Path) -> Path:
    """A copy of int_sort whose verifier skips the section check: the jail alone must hold."""
    task_dir = tmp_path / "int_sort"
    shutil.copytree(REPO / "tasks" / "int_sort", task_dir)
    verify = task_dir / "tests" / "verify.py"
    text = verify.read_text()
    assert text.count('    section_check(dst / "solve.o")\n') == 1
    verify.write_text(text.replace('    section_check(dst / "solve.o")\n', "    pass\n"))
    return task_dir


def test_int_sort_init_section_cheat_scores_zero(tmp_path: Path, write_script) -> None:
    """A sort_u32 that sorts nothing, with the .init hook: refused at build, nothing forged."""
    res = _int_sort_cheat(tmp_path, write_script, REPO / "tasks" / "int_sort", INT_SORT_NOTHING, "init")
    vr = res["verifier_result"]
    assert res["reward"] == 0.0, vr
    assert "forged" not in vr["extra"] and vr["extra"].get("correct") is False, vr
    assert "section .init" in vr["extra"]["reason"], vr


def test_int_sort_jail_alone_stops_the_forged_reward(tmp_path: Path, write_script) -> None:
    """Without the section check the hook runs, but jailed: it forges nothing, and the
    sort that sorts nothing fails the cases."""
    task_dir = _int_sort_without_section_check(tmp_path)
    res = _int_sort_cheat(tmp_path, write_script, task_dir, INT_SORT_NOTHING, "jail-forge")
    vr = res["verifier_result"]
    assert res["reward"] == 0.0, vr
    assert "forged" not in vr["extra"] and vr["extra"].get("correct") is False, vr
    assert "output is not the sorted input" in vr["extra"]["reason"], vr


@pytest.mark.slow
def test_int_sort_jail_alone_keeps_the_timing_honest(tmp_path: Path, write_script) -> None:
    """Without the section check, a correct qsort whose hook tries to rewrite the timing
    commands and the seed in every run, timed ones included: the baseline's time is its own."""
    task_dir = _int_sort_without_section_check(tmp_path)
    solve_c = (REPO / "tasks" / "int_sort" / "environment" / "solve.c").read_text()
    res = _int_sort_cheat(tmp_path, write_script, task_dir, solve_c, "jail-timing")
    vr = res["verifier_result"]
    assert vr["extra"].get("jailed") is True and vr["extra"].get("correct") is True, vr
    assert "forged" not in vr["extra"], vr
    assert res["reward"] <= 0.1, vr
    assert max(vr["measurement"]["paired"]["baseline"]["times_s"]) < 50, vr["measurement"]
