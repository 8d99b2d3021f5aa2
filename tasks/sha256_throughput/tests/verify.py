"""Sealed correctness check for sha256_throughput (runs inside the verifier sandbox as /tests/verify.py).

Both programs are compiled before any input exists; then a seed from /dev/urandom
draws the messages. The candidate's digest must equal hashlib's for every message
(many lengths around the block and padding boundaries, unaligned buffers) and for
the full-size timing buffer, whose expected digest is left for the timed runs,
each of which re-checks its own digest. Writes /logs/verifier/reward.json always.
"""

import hashlib
import json
import math
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

LEN_TIMING = 768 << 20
HARNESS = ["driver.c", "harness.h", "solve.h", "Makefile", "objcheck.sh"]
W = Path("/tmp/lb")
OUT = Path("/logs/verifier")
LOG: list[str] = []
S_REF_FALLBACK = 2.85 / 0.415  # task.toml constants, used only without looplab


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


def messages(rng: random.Random) -> list[bytes]:
    lens = list(range(0, 130)) + [191, 192, 193, 255, 256, 257, 1000, 4095, 4096, 4097, 65535, 65536, 65537]
    lens += [rng.randrange(100_000, 2_000_000) for _ in range(3)] + [rng.randrange(30 << 20, 40 << 20)]
    out = [rng.randbytes(n) for n in lens]
    out += [b"\x00" * rng.randrange(1000, 5000), b"\xff" * rng.randrange(1000, 5000)]
    return out


def check_messages(prog: Path, rng: random.Random) -> None:
    todo = messages(rng)
    f = W / "msg.bin"
    for m in todo:
        f.write_bytes(m)
        off = rng.randrange(64)
        try:
            r = subprocess.run([str(prog), "check", str(f), str(off)], capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            raise Fail(f"message of {len(m)} bytes: timed out after 60 s") from None
        lines = r.stdout.strip().splitlines()
        if r.returncode != 0 or not lines:
            raise Fail(f"message of {len(m)} bytes: exit status {r.returncode}: {r.stderr.strip()[-300:]}")
        if lines[-1].strip() != hashlib.sha256(m).hexdigest():
            raise Fail(f"message of {len(m)} bytes (buffer offset {off}): wrong digest")
    log(f"correct on {len(todo)} messages")


def timing_digest(prog: Path, seed: int) -> str:
    h = hashlib.sha256()
    with subprocess.Popen([str(prog), "gen", str(seed), str(LEN_TIMING)], stdout=subprocess.PIPE) as gen:
        while chunk := gen.stdout.read(1 << 22):
            h.update(chunk)
    if gen.returncode != 0:
        raise Fail("the pristine data generator failed")
    return h.hexdigest()


def run_timed(prog: Path, seed: int, timeout: float) -> float:
    cmd = [str(prog), "bench", str(seed), str(LEN_TIMING), str(W / "expected.hex")]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
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
    check_messages(cand, random.Random(int.from_bytes(os.urandom(8), "little")))
    seed = int.from_bytes(os.urandom(8), "little")
    (W / "expected.hex").write_text(timing_digest(base, seed) + "\n")
    t = run_timed(cand, seed, 40)
    log(f"candidate hashes the {LEN_TIMING >> 20} MiB timing buffer correctly ({t:.3f} s)")
    for who, prog in (("base", base), ("cand", cand)):
        script = W / f"time_{who}.sh"
        script.write_text(f"exec {prog} bench {seed} {LEN_TIMING} {W / 'expected.hex'}\n")
    result = {"reward": 0.0, "correct": True, "bytes": LEN_TIMING}
    if not os.environ.get("LOOPLAB_VERIFIER"):
        result.update(self_time(base, cand, seed))
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
