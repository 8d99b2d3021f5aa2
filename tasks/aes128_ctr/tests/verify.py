"""Sealed correctness check of the aes128_ctr task, run by tests/test.sh in the verifier sandbox.

Checks the pure-Python reference against FIPS-197 / SP 800-38A first, then
runs the candidate aes_bench (built from the agent's aes.c with the pristine
harness) on those vectors and on fresh keys, IVs and buffers drawn from
/dev/urandom (lengths 0 to 64 KiB, IVs that make the 128-bit counter carry
across its 32- and 64-bit halves and wrap), each ciphertext compared byte for
byte with the Python reference; then on generated buffers and the full timing
input, compared with the pristine baseline. It leaves the timing input under
/tmp/aes128_ctr for the paired timer and writes /logs/verifier/reward.json.
Outside looplab (LOOPLAB_VERIFIER unset) it also times both programs and
scores them with the task's constants.
"""

from __future__ import annotations

import json
import math
import os
import random
import resource
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aes_ref  # noqa: E402

WORK = "/tmp/aes128_ctr"
REWARD = "/logs/verifier/reward.json"
TIMING_LEN = 100_000_007  # bytes of the timed input
BASELINE_S, REFERENCE_S = 2.15, 0.16  # task.toml's constants, for the plain-Harbor fallback only

# Every run of the agent's code goes through this nested sandbox: the whole file system
# read-only (but for an output folder where needed), a private PID namespace whose
# processes all die with it (the command is its PID 1, reaped by bwrap, so its CPU time
# shows in the caller's rusage), and a seccomp filter that refuses fork/vfork/clone of new
# processes (threads are allowed). So the candidate can change nothing this verifier,
# the reward, the timing input or the baseline depend on, leave nothing running, and
# hide no work from the CPU-time measurement in a process nobody waits for.
JAIL_ARGS = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
JAIL_ARGS += ["--unshare-pid", "--as-pid-1", "--die-with-parent", "--new-session"]
NOFORK_BPF = os.path.join(WORK, "nofork.bpf")
jailed = False


def nofork_filter() -> bytes:
    """A classic-BPF seccomp program (x86-64): fork, vfork and non-thread clone fail with EPERM;
    clone3 fails with ENOSYS so that libc falls back to clone; other architectures are killed."""
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, kill, eperm, enosys = 0x7FFF0000, 0x80000000, 0x00050001, 0x00050026
    prog = [
        (ld, 0, 0, 4), (jeq, 0, 11, 0xC000003E),  # arch must be x86-64
        (ld, 0, 0, 0), (jge, 7, 0, 0x40000000),  # no x32 system calls
        (jeq, 6, 0, 57), (jeq, 5, 0, 58), (jeq, 5, 0, 435),  # fork, vfork; clone3
        (jeq, 0, 2, 56), (ld, 0, 0, 16), (jset, 0, 1, 0x10000),  # clone: only CLONE_THREAD
        (ret, 0, 0, allow), (ret, 0, 0, eperm), (ret, 0, 0, enosys), (ret, 0, 0, kill),
    ]  # fmt: skip
    return b"".join(struct.pack("=HBBI", *ins) for ins in prog)


def run_jailed(
    argv: list[str], timeout: float, writable: tuple[str, ...] = ()
) -> subprocess.CompletedProcess:
    if not jailed:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    binds = [x for d in writable for x in ("--bind", d, d)]
    fd = os.open(NOFORK_BPF, os.O_RDONLY)
    try:
        cmd = [*JAIL_ARGS, *binds, "--seccomp", str(fd), "--", *argv]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, pass_fds=(fd,))
    finally:
        os.close(fd)


def setup_jail() -> None:
    """Probe the nested sandbox once; run_timed.sh uses it too when jail.ok exists."""
    global jailed
    with open(NOFORK_BPF, "wb") as f:
        f.write(nofork_filter())
    jailed = True
    try:
        jailed = run_jailed(["true"], 30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        jailed = False
    if jailed:
        open(os.path.join(WORK, "jail.ok"), "w").close()


class Failure(Exception):
    pass


def write_reward(data: dict) -> None:
    os.makedirs(os.path.dirname(REWARD), exist_ok=True)
    tmp = REWARD + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, REWARD)


def run(binary: str, args: list[str], timeout: float, writable: tuple[str, ...] = ()) -> str:
    try:
        p = run_jailed([binary, *args], timeout, writable)
    except subprocess.TimeoutExpired:
        raise Failure(f"aes_bench {' '.join(args)}: no answer within {timeout:.0f} s") from None
    if p.returncode != 0:
        raise Failure(f"aes_bench {' '.join(args)}: exit {p.returncode}: {p.stderr.strip()[-300:]}")
    return p.stdout


def check_file(cand: str, key: bytes, iv: bytes, data: bytes, name: str) -> None:
    outdir = os.path.join(WORK, "out")
    os.makedirs(outdir, exist_ok=True)
    src, dst = os.path.join(WORK, "in.bin"), os.path.join(outdir, "out.bin")
    with open(src, "wb") as f:
        f.write(key + iv + data)
    if os.path.exists(dst):
        os.unlink(dst)
    run(cand, ["--file", src, dst], 30, writable=(outdir,))
    with open(dst, "rb") as f:
        got = f.read()
    want = aes_ref.ctr(key, iv, data)
    if got != want:
        where = next(
            (i for i in range(min(len(got), len(want))) if got[i] != want[i]), min(len(got), len(want))
        )
        raise Failure(
            f"{name} (key {key.hex()}, iv {iv.hex()}, {len(data)} bytes): "
            f"ciphertext differs from AES-128-CTR from byte {where} on (got {len(got)} bytes)"
        )


def harbor_reward() -> dict:
    """Plain-Harbor fallback: three alternating runs each, the best CPU times, the task's fixed s_ref."""
    times: dict[str, list[float]] = {"base": [], "cand": []}
    for _ in range(3):
        for side in ("base", "cand"):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            r = subprocess.run(["bash", "/orig/run_timed.sh", side], capture_output=True, timeout=120)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            times[side].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
            if r.returncode != 0:
                raise Failure(f"timed {side} run failed")
    s = min(times["base"]) / max(min(times["cand"]), 1e-3)
    reward = max(0.0, min(1.0, 0.5 * math.log(s) / math.log(BASELINE_S / REFERENCE_S)))
    return {
        "reward": reward,
        "time_s": min(times["cand"]),
        "baseline_time_s": min(times["base"]),
        "speedup": s,
    }


def main() -> None:
    setup_jail()
    aes_ref.self_test()
    cand = os.path.join(WORK, "cand", "aes_bench")
    base = os.path.join(WORK, "base", "aes_bench")
    seed = int.from_bytes(os.urandom(8), "little") >> 1
    rng = random.Random(seed)
    ncases = 0
    # 1. the published vectors
    for i, (key, iv, pt, _) in enumerate(aes_ref.VECTORS):
        check_file(cand, bytes.fromhex(key), bytes.fromhex(iv), bytes.fromhex(pt), f"test vector {i + 1}")
        ncases += 1
    # 2. fresh keys, IVs and data; IVs near every carry boundary of the 128-bit counter
    ivs = [
        rng.randbytes(16),
        b"\xff" * 16,
        rng.randbytes(8) + b"\xff" * 7 + bytes([256 - rng.randrange(1, 40)]),
        rng.randbytes(4) + b"\xff" * 11 + bytes([256 - rng.randrange(1, 40)]),
        rng.randbytes(12) + b"\xff\xff\xff" + bytes([256 - rng.randrange(1, 40)]),
        rng.randbytes(15) + b"\xfa",
    ]
    lengths = [
        0,
        1,
        15,
        16,
        17,
        31,
        127,
        128,
        129,
        1000,
        4096 + rng.randrange(1, 16),
        65536 + rng.randrange(0, 16),
    ]
    for i, length in enumerate(lengths):
        for iv in ivs if length in (129, 1000) else [ivs[i % len(ivs)]]:
            check_file(cand, rng.randbytes(16), iv, rng.randbytes(length), f"fresh case {ncases}")
            ncases += 1
    # 3. generated buffers (the harness's generator) against the pristine baseline
    for length in (0, 5, 100_003, 3_000_000 + rng.randrange(16)):
        args = [str(rng.randrange(1 << 62)), str(length)]
        want, got = run(base, args, 60), run(cand, args, 60)
        if got != want:
            raise Failure(f"aes_bench {' '.join(args)}: expected {want.split()} but got {got.split()[:4]}")
        ncases += 1
    # 4. the timing input
    targs = [str(rng.randrange(1 << 62)), str(TIMING_LEN)]
    want, got = run(base, targs, 120), run(cand, targs, 120)
    if got != want:
        raise Failure(f"aes_bench {' '.join(targs)}: expected {want.split()} but got {got.split()[:4]}")
    ncases += 1
    with open(os.path.join(WORK, "timing.args"), "w") as f:
        f.write(" ".join(targs) + "\n")
    with open(os.path.join(WORK, "timing.expected"), "w") as f:
        f.write(want.rstrip("\n") + "\n")
    result = {"reward": 0.0, "correct": True, "cases": ncases, "check_seed": seed, "jailed": jailed}
    if not os.environ.get("LOOPLAB_VERIFIER"):
        result.update(harbor_reward())
    write_reward(result)


if __name__ == "__main__":
    try:
        main()
    except Failure as exc:
        write_reward({"reward": 0.0, "correct": False, "reason": str(exc)})
    except Exception as exc:  # the verifier must always leave a reward behind
        write_reward({"reward": 0.0, "correct": False, "reason": f"verifier error: {exc!r}"[:500]})
