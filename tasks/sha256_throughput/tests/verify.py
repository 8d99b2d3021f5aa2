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
import re
import shutil
import struct
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


def fresh_dir(d: Path) -> Path:
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    return d


def messages(rng: random.Random) -> list[bytes]:
    lens = list(range(0, 130)) + [191, 192, 193, 255, 256, 257, 1000, 4095, 4096, 4097, 65535, 65536, 65537]
    lens += [rng.randrange(100_000, 2_000_000) for _ in range(3)] + [rng.randrange(30 << 20, 40 << 20)]
    out = [rng.randbytes(n) for n in lens]
    out += [b"\x00" * rng.randrange(1000, 5000), b"\xff" * rng.randrange(1000, 5000)]
    return out


def check_messages(prog: Path, rng: random.Random) -> None:
    todo = messages(rng)
    f = fresh_dir(W / "in") / "msg.bin"  # no jailed run can write there
    for m in todo:
        f.write_bytes(m)
        off = rng.randrange(64)
        try:
            r = run_jailed([str(prog), "check", str(f), str(off)], 60)
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
        r = run_jailed(cmd, timeout)  # read-only, like every timed run (/orig/run_timed.sh)
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
    shutil.rmtree(W, ignore_errors=True)
    W.mkdir(parents=True)
    setup_jail()
    base = build(W / "base", Path("/orig/solve.c"), candidate=False)
    cand = build(W / "cand", Path("/app/solve.c"), candidate=True)
    log("built baseline and candidate")
    check_messages(cand, random.Random(int.from_bytes(os.urandom(8), "little")))
    seed = int.from_bytes(os.urandom(8), "little")
    (W / "expected.hex").write_text(timing_digest(base, seed) + "\n")
    t = run_timed(cand, seed, 40)
    log(f"candidate hashes the {LEN_TIMING >> 20} MiB timing buffer correctly ({t:.3f} s)")
    # /orig/run_timed.sh runs W/{base,cand}/prog bench with these arguments, jailed
    (W / "timing.args").write_text(f"{seed} {LEN_TIMING} {W / 'expected.hex'}\n")
    result = {"reward": 0.0, "correct": True, "bytes": LEN_TIMING, "jailed": jailed}
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
