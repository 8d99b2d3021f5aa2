"""Sealed correctness check for gaussian_blur (runs inside the verifier sandbox as /tests/verify.py).

Both programs are compiled before any input exists; then a seed from /dev/urandom
draws the test images (many shapes, including images smaller than the kernel,
0-3 passes, Gaussian kernels of random sigma). The candidate's output must match
the pristine baseline's within TOLERANCE everywhere, also on the full-size timing
image, whose baseline output is left for the timed runs, each of which re-checks
its own result. Writes /logs/verifier/reward.json always.
"""

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

W_T, H_T, PASSES_T = 2560, 1440, 5
TOLERANCE = 1e-4
HARNESS = ["driver.c", "harness.h", "solve.h", "Makefile", "objcheck.sh"]
W = Path("/tmp/lb")
OUT = Path("/logs/verifier")
LOG: list[str] = []
S_REF_FALLBACK = 3.25 / 0.055  # task.toml constants, used only without looplab


class Fail(Exception):
    pass


def log(msg: str) -> None:
    LOG.append(msg)
    print(msg, flush=True)


def build(dst: Path, solve_c: Path) -> Path:
    shutil.rmtree(dst, ignore_errors=True)
    dst.mkdir(parents=True)
    for f in HARNESS:
        shutil.copy(Path("/orig") / f, dst / f)
    if not solve_c.is_file():
        raise Fail(f"{solve_c} is missing")
    shutil.copy(solve_c, dst / "solve.c")
    r = subprocess.run(["make", "-s", "-C", str(dst), "prog"], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise Fail(f"{solve_c} does not build with the fixed Makefile: {(r.stderr or r.stdout).strip()[-600:]}")
    return dst / "prog"


def gaussian(sigma: float) -> np.ndarray:
    k = np.arange(17) - 8
    g = np.exp(-(k * k) / (2 * sigma * sigma))
    g /= g.sum()
    return np.outer(g, g).astype(np.float32)


def cases(rng: np.random.Generator) -> list[tuple[int, int, int, float]]:
    shapes = [(1, 1), (1, 9), (9, 1), (5, 3), (16, 16), (17, 17), (18, 9), (33, 40), (100, 57), (8, 200)]
    shapes += [(int(rng.integers(200, 700)), int(rng.integers(100, 500))) for _ in range(2)]
    out = [(w, h, int(rng.integers(1, 4)), float(rng.uniform(1.5, 4.5))) for w, h in shapes]
    out += [(37, 23, 0, 3.0)]
    return out


def run_check(prog: Path, w: int, h: int, passes: int, kernel: np.ndarray, img: np.ndarray, tag: str) -> np.ndarray:
    inp, out = W / f"in_{tag}.bin", W / f"out_{tag}.bin"
    out.unlink(missing_ok=True)
    with open(inp, "wb") as f:
        np.array([w, h, passes], "<i4").tofile(f)
        kernel.astype("<f4").tofile(f)
        img.astype("<f4").tofile(f)
    try:
        r = subprocess.run([str(prog), "check", str(inp), str(out)], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise Fail(f"{w}x{h} image, {passes} passes: timed out after 60 s") from None
    if r.returncode != 0:
        raise Fail(f"{w}x{h} image, {passes} passes: exit status {r.returncode}: {r.stderr.strip()[-300:]}")
    res = np.fromfile(out, dtype="<f4") if out.exists() else np.zeros(0, np.float32)
    if res.size != w * h:
        raise Fail(f"{w}x{h} image, {passes} passes: output has {res.size} pixels")
    return res


def check_cases(base: Path, cand: Path, rng: np.random.Generator) -> None:
    todo = cases(rng)
    worst = 0.0
    for w, h, passes, sigma in todo:
        img = rng.random(w * h, dtype=np.float32)
        k = gaussian(sigma)
        want = run_check(base, w, h, passes, k, img, "base")
        got = run_check(cand, w, h, passes, k, img, "cand")
        err = float(np.max(np.abs(got.astype(np.float64) - want))) if w * h else 0.0
        if not err <= TOLERANCE:  # also NaN
            raise Fail(f"{w}x{h} image, {passes} passes, sigma {sigma:.2f}: max abs error {err:.3g} > {TOLERANCE}")
        worst = max(worst, err)
    log(f"correct on {len(todo)} images (max abs error {worst:.3g})")


def run_timed(prog: Path, mode: str, seed: int, target: Path, timeout: float) -> float:
    cmd = [str(prog), mode, str(seed), str(W_T), str(H_T), str(PASSES_T), str(target)]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Fail(f"{prog} {mode}: took longer than {timeout:.0f} s on the timing image") from None
    if r.returncode != 0:
        raise Fail(f"{prog} {mode}: exit status {r.returncode}: {r.stderr.strip()[-300:]}")
    return float(json.loads(r.stdout.strip().splitlines()[-1])["seconds"])


def self_time(base: Path, cand: Path, seed: int, expected: Path) -> dict:
    """Plain-Harbor fallback: 3 alternating runs each, median ratio, AutoLab-style reward."""
    tb, tc = [], []
    for _ in range(3):
        tb.append(run_timed(base, "bench", seed, expected, 120))
        tc.append(run_timed(cand, "bench", seed, expected, 120))
    s = sorted(tb)[1] / sorted(tc)[1]
    reward = min(1.0, max(0.0, 0.5 * math.log(s) / math.log(S_REF_FALLBACK)))
    return {"reward": reward, "time_s": sorted(tc)[1], "baseline_time_s": sorted(tb)[1], "speedup": s}


def main() -> dict:
    W.mkdir(parents=True, exist_ok=True)
    base = build(W / "base", Path("/orig/solve.c"))
    cand = build(W / "cand", Path("/app/solve.c"))
    log("built baseline and candidate")
    check_cases(base, cand, np.random.default_rng(int.from_bytes(os.urandom(8), "little")))
    seed = int.from_bytes(os.urandom(8), "little")
    expected = W / "expected.bin"
    tb = run_timed(base, "run", seed, expected, 120)
    tc = run_timed(cand, "bench", seed, expected, 40)
    log(f"candidate blurs the {W_T}x{H_T} timing image correctly ({tc:.3f} s; baseline {tb:.3f} s)")
    for who, prog in (("base", base), ("cand", cand)):
        script = W / f"time_{who}.sh"
        script.write_text(f"exec {prog} bench {seed} {W_T} {H_T} {PASSES_T} {expected}\n")
    result = {"reward": 0.0, "correct": True, "width": W_T, "height": H_T, "passes": PASSES_T}
    if not os.environ.get("LOOPLAB_VERIFIER"):
        result.update(self_time(base, cand, seed, expected))
    return result


if __name__ == "__main__":
    try:
        res = main()
    except Fail as e:
        log(f"FAIL: {e}")
        res = {"reward": 0.0, "correct": False, "reason": str(e)}
    except Exception as e:  # never leave without a result
        log(f"ERROR: {type(e).__name__}: {e}")
        res = {"reward": 0.0, "correct": False, "reason": f"verifier error: {type(e).__name__}: {e}"}
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = OUT / "reward.json.tmp"
    tmp.write_text(json.dumps(res) + "\n")
    os.replace(tmp, OUT / "reward.json")
    (OUT / "verify.log").write_text("\n".join(LOG) + "\n")
    sys.exit(0)
