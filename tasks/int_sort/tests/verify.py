"""Sealed correctness check for int_sort (runs inside the verifier sandbox as /tests/verify.py).

Both programs are compiled before any input exists; then a seed from /dev/urandom
draws the inputs. The candidate must sort every case exactly like numpy and pass
the self-verifying full-size run; the timing seed is then left in /tmp/lb for the
harness, whose timed runs go through /tests/run_timed.sh. Writes
/logs/verifier/reward.json in every case.

Every run of the agent's code (the build, each case, each timed run) happens in the
nested jail of tests/run_timed.sh: the file system read-only but for one scratch
folder, /logs and /tests hidden, /tmp private, its own PID namespace. Under looplab
the verifier refuses to run without it. The candidate's object may only have the
sections a C function needs (SECTION_OK): code in .init/.fini, .preinit_array and
the like would run in the driver's own process, outside the guard around sort_u32.
"""

import json
import math
import os
import re
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
RUN_TIMED = "/tests/run_timed.sh"
LOOPLAB = os.environ.get("LOOPLAB_VERIFIER") == "1"
# the sections gcc makes of a C file (and their relocations); nothing the loader or libc runs by itself
SECTION_OK = re.compile(
    r"(\.rela?)?\.(text|data|bss|rodata|tdata|tbss|ldata|lbss|lrodata|data\.rel\.ro|eh_frame|debug_\w+)(\..*)?"
    r"|\.comment|\.note\.GNU-stack|\.note\.gnu\.property|\.group|\.symtab|\.strtab|\.shstrtab"
)
TYPE_OK = {"PROGBITS", "NOBITS", "NOTE", "RELA", "REL", "SYMTAB", "STRTAB", "GROUP", "X86_64_UNWIND"}
jailed = False


class Fail(Exception):
    pass


def log(msg: str) -> None:
    LOG.append(msg)
    print(msg, flush=True)


def run_jailed(argv: list[str], timeout: float, rw: Path | None = None) -> subprocess.CompletedProcess:
    """Run argv in the nested jail of run_timed.sh (with ``rw`` writable)."""
    extra = ["--rw", str(rw)] if rw else []
    return subprocess.run(
        ["bash", RUN_TIMED, "jail", *extra, *argv], capture_output=True, text=True, timeout=timeout
    )


def setup_jail() -> None:
    """Probe the nested jail once; run_timed.sh uses it when jail.ok exists. Required under looplab."""
    global jailed
    for d in ("base", "cand"):
        (W / d).mkdir(parents=True, exist_ok=True)
    (W / "jail.ok").touch()
    try:
        p = run_jailed(["true"], 30)
        jailed, err = p.returncode == 0, p.stderr.strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        jailed, err = False, str(exc)
    if not jailed:
        (W / "jail.ok").unlink()
        if LOOPLAB:
            raise Fail(f"the nested jail (bwrap) does not start: {err[-300:]}")


def section_check(obj: Path) -> None:
    """Only the sections of plain C functions and data: no code the loader or libc would run."""
    p = run_jailed(["readelf", "-SW", str(obj)], 60)
    if p.returncode != 0:
        raise Fail(f"readelf cannot read {obj.name}: {p.stderr.strip()[-300:]}")
    for m in re.finditer(r"^\s*\[\s*[1-9]\d*\]\s+(\S+)\s+(\S+)", p.stdout, re.M):  # [0] is the null entry
        name, typ = m.groups()
        if not SECTION_OK.fullmatch(name) or typ not in TYPE_OK:
            raise Fail(
                f"solve.c has a section {name} ({typ}): only code and data sections are allowed, "
                "nothing that runs outside the driver's call of sort_u32 (.init, .fini, init arrays, ...)"
            )


def build(dst: Path, solve_c: Path) -> Path:
    shutil.rmtree(dst, ignore_errors=True)
    dst.mkdir(parents=True)
    for f in HARNESS:
        shutil.copy(Path("/orig") / f, dst / f)
    if not solve_c.is_file() or solve_c.is_symlink():
        raise Fail(f"{solve_c} is missing or not a regular file")
    shutil.copyfile(solve_c, dst / "solve.c")
    r = run_jailed(["make", "-s", "-C", str(dst), "prog"], 300, rw=dst)
    if r.returncode != 0:
        raise Fail(
            f"{solve_c} does not build with the fixed Makefile: {(r.stderr or r.stdout).strip()[-600:]}"
        )
    section_check(dst / "solve.o")
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
    io = W / "io"
    for name, arr in todo:
        shutil.rmtree(io, ignore_errors=True)
        io.mkdir()
        inp, out = io / "in.bin", io / "out.bin"
        arr.astype("<u4").tofile(inp)
        try:
            r = run_jailed([str(prog), "check", str(inp), str(out)], 60, rw=io)
        except subprocess.TimeoutExpired:
            raise Fail(f"case '{name}': timed out after 60 s") from None
        if r.returncode != 0:
            raise Fail(f"case '{name}': exit status {r.returncode}: {r.stderr.strip()[-300:]}")
        if out.is_symlink() or (out.exists() and not out.is_file()):
            raise Fail(f"case '{name}': the output is not a plain file")
        got = np.fromfile(out, dtype="<u4") if out.exists() else np.zeros(0, np.uint32)
        if got.size != arr.size or not np.array_equal(got, np.sort(arr)):
            raise Fail(f"case '{name}' (n={arr.size}): output is not the sorted input")
    log(f"correct on {len(todo)} cases")


def run_timed(side: str, timeout: float) -> float:
    """One timed run exactly as the harness makes it (run_timed.sh base|cand, jailed)."""
    try:
        r = subprocess.run(["bash", RUN_TIMED, side], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Fail(f"{side} bench: took longer than {timeout:.0f} s on the timing input") from None
    if r.returncode != 0:
        raise Fail(f"{side} bench: exit status {r.returncode}: {r.stderr.strip()[-300:]}")
    return float(json.loads(r.stdout.strip().splitlines()[-1])["seconds"])


def self_time() -> dict:
    """Plain-Harbor fallback: 3 alternating runs each, median ratio, AutoLab-style reward."""
    tb, tc = [], []
    for _ in range(3):
        tb.append(run_timed("base", 120))
        tc.append(run_timed("cand", 120))
    s = sorted(tb)[1] / sorted(tc)[1]
    reward = min(1.0, max(0.0, 0.5 * math.log(s) / math.log(S_REF_FALLBACK)))
    return {"reward": reward, "time_s": sorted(tc)[1], "baseline_time_s": sorted(tb)[1], "speedup": s}


def main() -> dict:
    shutil.rmtree(W, ignore_errors=True)
    W.mkdir(parents=True)
    setup_jail()
    build(W / "base", Path("/orig/solve.c"))
    cand = build(W / "cand", Path("/app/solve.c"))
    log(f"built baseline and candidate ({'jailed' if jailed else 'not jailed: no nested sandbox'})")
    seed = int.from_bytes(os.urandom(8), "little")
    check_cases(cand, np.random.default_rng(seed))
    timing_seed = int.from_bytes(os.urandom(8), "little")
    (W / "timing.seed").write_text(f"{timing_seed}\n")
    t = run_timed("cand", 40)
    log(f"candidate sorts the timing input correctly ({t:.3f} s)")
    result = {"reward": 0.0, "correct": True, "n": N_TIMING, "jailed": jailed}
    if not LOOPLAB:
        result.update(self_time())
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
