"""Sealed correctness check of the hash_join task, run by tests/test.sh inside the verifier sandbox.

Draws a seed from /dev/urandom (the agent never sees it), runs the candidate
join_bench (built from the agent's join.c with the pristine harness) on small
generated tables, on table files with arbitrary keys, and on the full timing
input, and compares every answer with check_join's independent numpy join.
It leaves the timing input under /tmp/hash_join for the paired timer and writes
/logs/verifier/reward.json. Outside looplab (LOOPLAB_VERIFIER unset) it also
times baseline and candidate itself and scores them with the task's constants.
"""

from __future__ import annotations

import json
import math
import os
import resource
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_join  # noqa: E402

WORK = "/tmp/hash_join"
REWARD = "/logs/verifier/reward.json"
TIMING = (1_000_000, 40_000_000, 500_000, 8_000_000)  # NR NS KR KS of the timed input
BASELINE_S, REFERENCE_S = 2.84, 0.54  # task.toml's constants, for the plain-Harbor fallback only

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
        raise Failure(f"join_bench {' '.join(args)}: no answer within {timeout:.0f} s") from None
    if p.returncode != 0:
        raise Failure(f"join_bench {' '.join(args)}: exit {p.returncode}: {p.stderr.strip()[-300:]}")
    return p.stdout


def check(binary: str, args: list[str], want: str, timeout: float = 30) -> None:
    got = run(binary, args, timeout)
    if got != want:
        raise Failure(f"join_bench {' '.join(args)}: expected {want.split()} but got {got.split()[:4]}")


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
    cand = os.path.join(WORK, "cand", "join_bench")
    base = os.path.join(WORK, "base", "join_bench")
    seed = int.from_bytes(os.urandom(8), "little") >> 1
    rng = check_join.np.random.default_rng(seed)
    ncases = 0
    generated = [  # (NR, NS, KR, KS)
        (0, 1000, 10, 100),
        (1000, 0, 10, 100),
        (1, 5000, 1, 2),
        (7000, 300_000, 3500, 56_000),
        (300, 60_000, 3, 6),
        (20_000, 400_000, 10_000, 10_000),
        (200_000, 3_000_000, 100_000, 1_600_000),
    ]
    for i, (nr, ns, kr, ks) in enumerate(generated):
        s = (seed + 7919 * (i + 1)) % (1 << 63)
        check(cand, [str(s), str(nr), str(ns), str(kr), str(ks)], check_join.expected(s, nr, ns, kr, ks))
        ncases += 1
    for i, (nr, ns, pool) in enumerate(
        [(0, 50, 5), (50, 0, 5), (2000, 80_000, 40), (30_000, 200_000, 20_000)]
    ):
        r, s = check_join.random_tables(rng, nr, ns, pool)
        path = os.path.join(WORK, f"tables{i}.bin")
        check_join.write_tables(path, r, s)
        check(cand, ["--file", path], check_join.expected_tables(r, s))
        ncases += 1
    # the timed input: tables written by the pristine program, joined from the file
    tseed = int(rng.integers(0, 1 << 62))
    tfile = os.path.join(WORK, "timing.bin")
    w = subprocess.run(
        [base, "--write", tfile, str(tseed), *map(str, TIMING)], capture_output=True, timeout=120
    )
    if w.returncode != 0:
        raise Failure(f"could not write the timing input: {w.stderr.decode(errors='replace')[-300:]}")
    targs = ["--file", tfile]
    want = check_join.expected(tseed, *TIMING)
    check(cand, targs, want, timeout=120)
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
