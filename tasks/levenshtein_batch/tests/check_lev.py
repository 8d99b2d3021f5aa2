"""Independent checker of the levenshtein_batch task: distances in Python, and the pairs-file format.

``distance`` runs Myers' bit-vector recurrence on Python's unbounded integers
(one integer holds the whole column, so there is no block logic to get wrong);
``distance_dp`` is the plain two-row dynamic program the tests cross-check it
against. ``random_pairs`` draws the verifier's fresh pairs: empty strings,
lengths around the 64-bit word boundaries, long strings, all 256 byte values.
"""

from __future__ import annotations

import random
import struct


def distance(a: bytes, b: bytes) -> int:
    if len(a) > len(b):
        a, b = b, a
    m = len(a)
    if m == 0:
        return len(b)
    peq: dict[int, int] = {}
    for i, c in enumerate(a):
        peq[c] = peq.get(c, 0) | (1 << i)
    full = (1 << m) - 1
    high = 1 << (m - 1)
    pv, mv, score = full, 0, m
    for c in b:
        eq = peq.get(c, 0)
        xv = eq | mv
        xh = ((((eq & pv) + pv) & full) ^ pv) | eq
        ph = (mv | ~(xh | pv)) & full
        mh = pv & xh
        if ph & high:
            score += 1
        elif mh & high:
            score -= 1
        ph = ((ph << 1) | 1) & full
        mh = (mh << 1) & full
        pv = (mh | ~(xv | ph)) & full
        mv = ph & xv
    return score


def distance_dp(a: bytes, b: bytes) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
        prev = cur
    return prev[-1]


def mutate(rng: random.Random, a: bytes, rate: float, alphabet: bytes) -> bytes:
    out = bytearray()
    for c in a:
        if rng.random() >= rate:
            out.append(c)
            continue
        op = rng.randrange(3)
        if op == 0:
            out.append(rng.choice(alphabet))
        elif op == 1:
            out += bytes([rng.choice(alphabet), c])
        # op == 2: delete
    return bytes(out)


def random_pairs(rng: random.Random, n: int, max_len: int = 700) -> list[tuple[bytes, bytes]]:
    """Fresh pairs with edge cases first: empty strings, word-boundary lengths, every byte value."""
    everything = bytes(range(256))
    pairs: list[tuple[bytes, bytes]] = [
        (b"", b""),
        (b"", b"x"),
        (b"\x00", b""),
        (b"abc", b"abc"),
        (b"\x00\xff", b"\xff\x00"),
    ]
    for length in (1, 2, 31, 32, 33, 63, 64, 65, 127, 128, 129, 191, 192, 193, 255, 256, 257, 511, 512, 513):
        alphabet = rng.choice([b"ab", b"ACGT", everything])
        a = bytes(rng.choice(alphabet) for _ in range(length))
        pairs.append((a, mutate(rng, a, rng.random() * 0.3, alphabet)))
        pairs.append((mutate(rng, a, 0.1, alphabet), a))
        pairs.append((a, bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 2 * length + 2)))))
    while len(pairs) < n:
        alphabet = rng.choice([b"01", b"ACGT", b"abcdefghijklmnopqrst", everything])
        length = rng.choice([rng.randrange(0, 70), rng.randrange(0, 300), rng.randrange(0, max_len + 1)])
        a = bytes(rng.choice(alphabet) for _ in range(length))
        if rng.random() < 0.15:
            b = bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, max_len + 1)))
        else:
            b = mutate(rng, a, rng.random() * 0.4, alphabet)
        pairs.append((a, b) if rng.random() < 0.5 else (b, a))
    return pairs[:n]


def write_pairs(path: str, pairs: list[tuple[bytes, bytes]]) -> None:
    with open(path, "wb") as f:
        f.write(b"LV01" + struct.pack("<Q", len(pairs)))
        for a, b in pairs:
            f.write(struct.pack("<II", len(a), len(b)) + a + b)
