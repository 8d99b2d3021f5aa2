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
import re
import shutil
import stat
import struct
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


# Every run of the agent's code goes through a nested sandbox (bubblewrap): the whole file
# system read-only but for one fresh output folder where a run needs one, a private PID
# namespace whose processes all die with it (the command is its PID 1), and a new session.
# The driver is the pristine one, but it links the agent's solve.o, so the agent's code
# shares its process: jailed, it can change nothing this verifier, the reward, the timing
# inputs, the baseline or the timing commands (/orig/run_timed.sh) depend on. The
# compile runs jailed too, and section_check() refuses an object with code the loader
# would run before main (.init, .fini, init arrays...), outside the harness's seccomp child.
JAIL_ARGS = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
JAIL_ARGS += ["--unshare-pid", "--as-pid-1", "--die-with-parent", "--new-session"]
jailed = False


def run_jailed(argv: list[str], timeout: float, writable: tuple[Path, ...] = (), env: dict | None = None):
    cmd = list(argv)
    if jailed:
        binds = [x for d in writable for x in ("--bind", str(d), str(d))]
        cmd = [*JAIL_ARGS, *binds, "--", *argv]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def setup_jail() -> None:
    """Probe the nested sandbox once; /orig/run_timed.sh uses it too when jail.ok exists."""
    global jailed
    (W / "jail.ok").unlink(missing_ok=True)
    jailed = True
    try:
        jailed = run_jailed(["true"], 30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        jailed = False
    if jailed:
        (W / "jail.ok").touch()
    log(f"candidate runs {'jailed (bwrap)' if jailed else 'UNJAILED: bwrap is not available'}")


SECTION_OK = re.compile(
    r"(\.rela)?\.(text|data|rodata|bss|tdata|tbss)(\..*)?|(\.rela)?\.eh_frame|\.comment|\.group"
    r"|\.note\.GNU-stack|\.note\.gnu\.property|\.symtab|\.strtab|\.shstrtab|(\.rela)?\.debug_\w+"
)
SECTION_TYPES = {1, 2, 3, 4, 7, 8, 17, 0x70000001}  # progbits symtab strtab rela note nobits group unwind


def section_check(obj: Path) -> None:
    """Only code, data, relocations, notes and symbols: no section the loader runs by itself."""
    b = obj.read_bytes()
    if b[:5] != b"\x7fELF\x02":
        raise Fail(f"{obj.name} is not a 64-bit ELF object")
    (shoff,) = struct.unpack_from("<Q", b, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", b, 0x3A)
    heads = [struct.unpack_from("<IIQQQQ", b, shoff + i * shentsize) for i in range(shnum)]
    strtab = heads[shstrndx][4]
    for name_off, typ, *_ in heads[1:]:
        name = b[strtab + name_off : b.index(b"\0", strtab + name_off)].decode(errors="replace")
        if typ not in SECTION_TYPES or not SECTION_OK.fullmatch(name):
            raise Fail(f"solve.o has a section {name!r} (type {typ:#x}): only code and data sections"
                       " (.text*, .data*, .rodata*, .bss*) may hold the agent's code and data")


def build(dst: Path, solve_c: Path, candidate: bool) -> Path:
    """Build the pristine harness with SOLVE_C in DST; the candidate's build runs jailed,
    with only DST writable, and its solve.o must pass section_check."""
    shutil.rmtree(dst, ignore_errors=True)
    dst.mkdir(parents=True)
    for f in HARNESS:
        shutil.copy(Path("/orig") / f, dst / f)
    if not solve_c.is_file() or solve_c.is_symlink():
        raise Fail(f"{solve_c} is missing or not a regular file")
    shutil.copyfile(solve_c, dst / "solve.c")
    argv = ["make", "-s", "-C", str(dst), "prog"]
    if candidate:
        r = run_jailed(argv, 300, writable=(dst,), env={**os.environ, "TMPDIR": str(dst)})
    else:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise Fail(f"{solve_c} does not build with the fixed Makefile: {(r.stderr or r.stdout).strip()[-600:]}")
    if candidate:
        section_check(dst / "solve.o")
    return dst / "prog"


def read_output(path: Path, dtype: str) -> np.ndarray:
    """The array a check run wrote to PATH (a regular file, never through a link), else empty."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return np.zeros(0, dtype)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return np.zeros(0, dtype)
        return np.frombuffer(f.read(), dtype=dtype)


def fresh_dir(d: Path) -> Path:
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    return d


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
    """The input is written where no jailed run can write; the output goes to a fresh folder,
    the only one the candidate's run may write to."""
    inp, out = fresh_dir(W / "in") / "in.bin", fresh_dir(W / f"out_{tag}") / "out.bin"
    with open(inp, "wb") as f:
        np.array([w, h, passes], "<i4").tofile(f)
        kernel.astype("<f4").tofile(f)
        img.astype("<f4").tofile(f)
    try:
        r = run_jailed([str(prog), "check", str(inp), str(out)], 60, writable=(out.parent,))
    except subprocess.TimeoutExpired:
        raise Fail(f"{w}x{h} image, {passes} passes: timed out after 60 s") from None
    if r.returncode != 0:
        raise Fail(f"{w}x{h} image, {passes} passes: exit status {r.returncode}: {r.stderr.strip()[-300:]}")
    res = read_output(out, "<f4")
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
    """One run on the timing image: "run" (the pristine baseline only) writes TARGET, "bench"
    (read-only, jailed) compares with it."""
    cmd = [str(prog), mode, str(seed), str(W_T), str(H_T), str(PASSES_T), str(target)]
    try:
        if mode == "run":
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        else:
            r = run_jailed(cmd, timeout)
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
    shutil.rmtree(W, ignore_errors=True)
    W.mkdir(parents=True)
    setup_jail()
    base = build(W / "base", Path("/orig/solve.c"), candidate=False)
    cand = build(W / "cand", Path("/app/solve.c"), candidate=True)
    log("built baseline and candidate")
    check_cases(base, cand, np.random.default_rng(int.from_bytes(os.urandom(8), "little")))
    seed = int.from_bytes(os.urandom(8), "little")
    expected = W / "expected.bin"
    tb = run_timed(base, "run", seed, expected, 120)
    tc = run_timed(cand, "bench", seed, expected, 40)
    log(f"candidate blurs the {W_T}x{H_T} timing image correctly ({tc:.3f} s; baseline {tb:.3f} s)")
    # /orig/run_timed.sh runs W/{base,cand}/prog bench with these arguments, jailed
    (W / "timing.args").write_text(f"{seed} {W_T} {H_T} {PASSES_T} {expected}\n")
    result = {"reward": 0.0, "correct": True, "width": W_T, "height": H_T, "passes": PASSES_T, "jailed": jailed}
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
