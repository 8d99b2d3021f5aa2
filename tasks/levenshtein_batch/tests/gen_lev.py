"""Trusted input generator of levenshtein_batch: python3 gen_lev.py SEED PURPOSE INPUT_DIR EXPECTED_DIR.

Writes INPUT_DIR/pairs.bin (the `lev_bench --file` format). PURPOSE "time": the timed
batch, 100,000 pairs with lengths 16..256 over alphabets of 2, 4, 20 or 64 letters,
7 in 8 of them a mutated copy (0-30% edits), the rest unrelated strings (the
workload harness.c generates); its answer is the pristine baseline's output on the
same file (run.toml: reference = "baseline"). PURPOSE "check": check_lev's edge
cases (empty strings, word-boundary lengths, every byte value, long strings) with
the distances computed here, by check_lev's own Myers, into EXPECTED_DIR/distances.
"""

import os
import random
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_lev  # noqa: E402

N, MINLEN, MAXLEN = 100_000, 16, 256
ALPHA64 = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", np.uint8)


def timed_pairs(seed: int) -> list[tuple[bytes, bytes]]:
    g = np.random.default_rng(seed)
    alen = g.integers(MINLEN, MAXLEN + 1, N)
    alpha = g.choice(np.array([2, 4, 20, 64], np.uint16), N)
    total = int(alen.sum())
    alpha_c = np.repeat(alpha, alen)
    a_all = ALPHA64[(g.integers(0, 256, total, np.uint16) * alpha_c) >> 8]
    rate = np.repeat((g.random(N, np.float32) * 0.3).astype(np.float32), alen)
    u, op = g.random(total, np.float32), g.integers(0, 4, total, np.uint8)
    c = ALPHA64[(g.integers(0, 256, total, np.uint16) * alpha_c) >> 8]
    edit = (u < rate) & (op != 0)
    count = np.where(edit & (op == 2), 0, np.where(edit & (op == 3), 2, 1)).astype(np.int32)
    first = np.cumsum(count, dtype=np.int64) - count
    b_all = np.empty(int(count.sum()), np.uint8)
    one = count >= 1
    b_all[first[one]] = np.where(edit & (op != 2), c, a_all)[one]
    two = count == 2
    b_all[first[two] + 1] = a_all[two]
    a_end = np.cumsum(alen)
    b_len = np.add.reduceat(count, a_end - alen).astype(np.int64)
    b_end = np.cumsum(b_len)
    unrelated = (g.integers(0, 8, N) == 0).tolist()
    u_len = np.minimum(g.integers(MINLEN, MAXLEN + 1, N), 2 * alen + 1)
    u_all = ALPHA64[(g.integers(0, 256, int(u_len.sum()), np.uint16) * np.repeat(alpha, u_len)) >> 8].tobytes()
    a_bytes, b_bytes = a_all.tobytes(), b_all.tobytes()
    a_hi, a_lo = a_end.tolist(), (a_end - alen).tolist()
    b_hi, b_lo = b_end.tolist(), (b_end - b_len).tolist()
    u_hi = np.cumsum(u_len)
    u_lo = (u_hi - u_len).tolist()
    u_hi = u_hi.tolist()
    pairs = []
    for i in range(N):
        b = u_all[u_lo[i] : u_hi[i]] if unrelated[i] else b_bytes[b_lo[i] : b_hi[i]]
        pairs.append((a_bytes[a_lo[i] : a_hi[i]], b))
    return pairs


def main() -> None:
    seed, purpose, inp, exp = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    if purpose == "time":
        check_lev.write_pairs(f"{inp}/pairs.bin", timed_pairs(seed))
        return
    rng = random.Random(seed)
    n, max_len = rng.choice([(600, 300), (150, 2000)])
    pairs = check_lev.random_pairs(rng, n, max_len)
    check_lev.write_pairs(f"{inp}/pairs.bin", pairs)
    with open(f"{exp}/distances", "w") as fh:
        fh.write("".join(f"{check_lev.distance(a, b)}\n" for a, b in pairs))


if __name__ == "__main__":
    main()
