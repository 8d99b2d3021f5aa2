"""Sealed correctness check of the bm25_search task, run by tests/test.sh in the verifier sandbox.

Refuses a search.py that imports anything beyond numpy and the standard library
(or the stdlib's process/FFI modules). Then, with a seed from /dev/urandom that
the agent never sees, runs the candidate (the agent's /app/search.py under the
pristine /orig/bench.py, in its own process) on generated corpora of several
shapes, on hand-made corpora full of edge cases (duplicate documents, empty
documents and queries, unknown terms, k beyond the number of matches), and on
the full timing corpus, and checks every answer with check_bm25's plain-Python
BM25. It leaves the timing input under /tmp/bm25_search for the paired timer
and writes /logs/verifier/reward.json. Outside looplab (LOOPLAB_VERIFIER unset)
it also times both programs and scores them with the task's constants.
"""

from __future__ import annotations

import ast
import json
import math
import os
import random
import resource
import struct
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, "/orig")
import check_bm25  # noqa: E402

import bench  # noqa: E402  (the pristine generator)

WORK = "/tmp/bm25_search"
REWARD = "/logs/verifier/reward.json"
CANDIDATE = "/app/search.py"
TIMING = {"docs": 10000, "vocab": 50000, "queries": 250, "k": 10}  # the timed input's shape
BASELINE_S, REFERENCE_S = 2.78, 0.28  # task.toml's constants, for the plain-Harbor fallback only
BANNED_STDLIB = {"ctypes", "subprocess", "multiprocessing", "concurrent", "threading", "_thread", "socket"}


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


def check_imports(path: str) -> None:
    try:
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError) as exc:
        raise Failure(f"search.py cannot be parsed: {exc}") from None
    allowed = set(sys.stdlib_module_names) - BANNED_STDLIB | {"numpy", "__future__"}
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            if name.split(".")[0] not in allowed:
                raise Failure(f"search.py imports {name}: only numpy and the standard library are allowed")


def run_candidate(args: list[str], what: str, timeout: float = 120) -> list:
    outdir = os.path.join(WORK, "out")
    os.makedirs(outdir, exist_ok=True)
    out = os.path.join(outdir, "answer.json")
    if os.path.exists(out):
        os.unlink(out)
    cmd = ["python3", "/orig/bench.py", "/app", *args, "--out", out]
    try:
        p = run_jailed(cmd, timeout, writable=(outdir,))
    except subprocess.TimeoutExpired:
        raise Failure(f"{what}: no answer within {timeout:.0f} s") from None
    if p.returncode != 0:
        raise Failure(f"{what}: bench.py exited {p.returncode}: {(p.stderr or p.stdout).strip()[-400:]}")
    try:
        with open(out) as f:
            return json.load(f)
    except (OSError, ValueError) as exc:
        raise Failure(f"{what}: no readable answer: {exc}") from None


def check(corpus: dict, k: int, answer: list, what: str) -> None:
    index = check_bm25.Bm25(corpus["doc_tokens"], corpus["doc_offsets"])
    problem = check_bm25.compare(index, corpus["queries"], k, answer)
    if problem:
        raise Failure(f"{what}: {problem}")


def handmade(rng: random.Random) -> list[tuple[dict, int]]:
    """Small corpora built to hit the edge cases of the spec."""
    cases = []
    # duplicate documents (exact ties), an empty document, unknown terms, an empty query, k > matches
    base_docs = [[rng.randrange(40) for _ in range(rng.randrange(1, 30))] for _ in range(60)]
    docs = base_docs + [list(d) for d in base_docs[:20]] + [[]] + [list(base_docs[3])] * 5
    rng.shuffle(docs)
    queries = [[rng.randrange(45) for _ in range(1)] for _ in range(30)]
    queries += [list(dict.fromkeys(rng.randrange(45) for _ in range(rng.randrange(2, 8)))) for _ in range(60)]
    queries += [[], [44], [43, 42], list(range(40))]
    cases.append(({"docs": docs, "queries": queries, "vocab": 45}, 7))
    cases.append(({"docs": docs, "queries": queries, "vocab": 45}, 100))
    # one document; every term everywhere; k = 1
    cases.append(({"docs": [[0, 1, 1, 2]], "queries": [[1], [3], [0, 2], [2, 1, 0]], "vocab": 4}, 3))
    uniform = [[t for t in range(8) for _ in range(rng.randrange(1, 4))] for _ in range(50)]
    cases.append(({"docs": uniform, "queries": [[0], [1, 2], list(range(8))], "vocab": 8}, 1))
    out = []
    for c, k in cases:
        offsets = np.zeros(len(c["docs"]) + 1, dtype=np.int64)
        np.cumsum([len(d) for d in c["docs"]], out=offsets[1:])
        tokens = np.array([t for d in c["docs"] for t in d], dtype=np.int32)
        out.append(
            (
                {
                    "doc_tokens": tokens,
                    "doc_offsets": offsets,
                    "vocab_size": c["vocab"],
                    "queries": c["queries"],
                },
                k,
            )
        )
    return out


def save_npz(path: str, corpus: dict, k: int) -> None:
    qoff = np.zeros(len(corpus["queries"]) + 1, dtype=np.int64)
    np.cumsum([len(q) for q in corpus["queries"]], out=qoff[1:])
    qtok = np.array([t for q in corpus["queries"] for t in q], dtype=np.int32)
    np.savez(
        path, doc_tokens=corpus["doc_tokens"], doc_offsets=corpus["doc_offsets"],
        vocab_size=corpus["vocab_size"], query_tokens=qtok, query_offsets=qoff, k=k,
    )  # fmt: skip


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
    os.makedirs(WORK, exist_ok=True)
    setup_jail()
    check_imports(CANDIDATE)
    seed = int.from_bytes(os.urandom(8), "little") >> 1
    rng = random.Random(seed)
    ncases = 0
    for docs, vocab, queries, k in [(400, 2000, 150, 10), (3000, 50000, 200, 1), (1500, 300, 120, 50)]:
        s = rng.randrange(1 << 62)
        corpus = bench.make_corpus(s, docs, vocab, queries)
        args = [str(s), "--docs", str(docs), "--vocab", str(vocab), "--queries", str(queries), "--k", str(k)]
        check(
            corpus,
            k,
            run_candidate(args, f"generated corpus (seed {s}, {docs} docs)"),
            f"generated corpus {s}",
        )
        ncases += 1
    for i, (corpus, k) in enumerate(handmade(rng)):
        path = os.path.join(WORK, f"corpus{i}.npz")
        save_npz(path, corpus, k)
        check(corpus, k, run_candidate(["--corpus", path], f"hand-made corpus {i}"), f"hand-made corpus {i}")
        ncases += 1
    s = rng.randrange(1 << 62)
    corpus = bench.make_corpus(s, TIMING["docs"], TIMING["vocab"], TIMING["queries"])
    targs = [
        str(s),
        "--docs",
        str(TIMING["docs"]),
        "--vocab",
        str(TIMING["vocab"]),
        "--queries",
        str(TIMING["queries"]),
    ]
    targs += ["--k", str(TIMING["k"])]
    answer = run_candidate(targs, "timing corpus")
    check(corpus, TIMING["k"], answer, "timing corpus")
    ncases += 1
    # the timed runs must reproduce this verified answer exactly: bench.py prints its digest
    digest = bench.hashlib.sha256(json.dumps(answer).encode()).hexdigest()[:32]
    with open(os.path.join(WORK, "timing.args"), "w") as f:
        f.write(" ".join(targs) + "\n")
    with open(os.path.join(WORK, "timing.digest"), "w") as f:
        f.write(digest + "\n")
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
