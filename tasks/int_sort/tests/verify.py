"""Sealed correctness check for int_sort (runs inside the verifier sandbox as /tests/verify.py).

Both programs are compiled before any input exists; then a seed from /dev/urandom
draws the inputs. The candidate must sort every case exactly like numpy and pass
the self-verifying full-size run; the timing commands are then written under
/tmp/lb for the harness. Writes /logs/verifier/reward.json in every case.
"""

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

N_TIMING = 25_000_000
HARNESS = ["driver.c", "harness.h", "solve.h", "Makefile", "objcheck.sh"]
W = Path("/tmp/lb")
OUT = Path("/logs/verifier")
LOG: list[str] = []
S_REF_FALLBACK = 3.5 / 0.33  # task.toml constants, used only without looplab


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


def cases(rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    u32 = np.uint32
    full = lambda n: rng.integers(0, 2**32, n, dtype=u32)  # noqa: E731
    sizes = [0, 1, 2, 3, 17, 63, 64, 65, 255, 256, 257, 1000, 2047, 2048, 2049, 65535, 65537]
    out = [(f"random n={n}", full(n)) for n in sizes]
    n_odd = int(rng.integers(100_000, 400_000))
    out += [
        (f"random n={n_odd}", full(n_odd)),
        ("random n=3000000", full(3_000_000)),
        ("few distinct", rng.integers(0, int(rng.integers(2, 50)), 300_000, dtype=u32)),
        ("all equal", np.full(100_000, int(rng.integers(0, 2**32)), u32)),
        ("ascending", np.sort(full(200_000))),
        ("descending", np.sort(full(200_000))[::-1].copy()),
        ("high bits only", (full(200_000) >> 21) << 21),
        ("low bits only", full(200_000) & 0x7FF),
        ("middle bits only", full(200_000) & 0x003FF800),
        ("extremes", rng.choice(np.array([0, 1, 2**31 - 1, 2**31, 2**32 - 2, 2**32 - 1], u32), 100_000)),
        ("small range near max", (2**32 - 1 - rng.integers(0, 1000, 200_000)).astype(u32)),
    ]
    return out


def check_cases(prog: Path, rng: np.random.Generator) -> None:
    todo = cases(rng)
    for name, arr in todo:
        inp, out = W / "in.bin", W / "out.bin"
        out.unlink(missing_ok=True)
        arr.astype("<u4").tofile(inp)
        try:
            r = subprocess.run([str(prog), "check", str(inp), str(out)], capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            raise Fail(f"case '{name}': timed out after 60 s") from None
        if r.returncode != 0:
            raise Fail(f"case '{name}': exit status {r.returncode}: {r.stderr.strip()[-300:]}")
        got = np.fromfile(out, dtype="<u4") if out.exists() else np.zeros(0, np.uint32)
        if got.size != arr.size or not np.array_equal(got, np.sort(arr)):
            raise Fail(f"case '{name}' (n={arr.size}): output is not the sorted input")
    log(f"correct on {len(todo)} cases")


def run_timed(prog: Path, seed: int, timeout: float) -> float:
    try:
        r = subprocess.run([str(prog), "bench", str(seed), str(N_TIMING)], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Fail(f"{prog} bench: took longer than {timeout:.0f} s on the timing input") from None
    if r.returncode != 0:
        raise Fail(f"{prog} bench: exit status {r.returncode}: {r.stderr.strip()[-300:]}")
    return float(json.loads(r.stdout.strip().splitlines()[-1])["seconds"])


def self_time(base: Path, cand: Path, seed: int) -> dict:
    """Plain-Harbor fallback: 3 alternating runs each, median ratio, AutoLab-style reward."""
    tb, tc = [], []
    for _ in range(3):
        tb.append(run_timed(base, seed, 120))
        tc.append(run_timed(cand, seed, 120))
    s = sorted(tb)[1] / sorted(tc)[1]
    reward = min(1.0, max(0.0, 0.5 * math.log(s) / math.log(S_REF_FALLBACK)))
    return {"reward": reward, "time_s": sorted(tc)[1], "baseline_time_s": sorted(tb)[1], "speedup": s}


def main() -> dict:
    W.mkdir(parents=True, exist_ok=True)
    base = build(W / "base", Path("/orig/solve.c"))
    cand = build(W / "cand", Path("/app/solve.c"))
    log("built baseline and candidate")
    seed = int.from_bytes(os.urandom(8), "little")
    check_cases(cand, np.random.default_rng(seed))
    timing_seed = int.from_bytes(os.urandom(8), "little")
    t = run_timed(cand, timing_seed, 40)
    log(f"candidate sorts the timing input correctly ({t:.3f} s)")
    for who, prog in (("base", base), ("cand", cand)):
        script = W / f"time_{who}.sh"
        script.write_text(f"exec {prog} bench {timing_seed} {N_TIMING}\n")
    result = {"reward": 0.0, "correct": True, "n": N_TIMING}
    if not os.environ.get("LOOPLAB_VERIFIER"):
        result.update(self_time(base, cand, timing_seed))
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
