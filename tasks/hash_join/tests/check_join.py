"""Independent checker of the hash_join task: regenerates the harness's tables with numpy and joins them.

The generator mirrors environment/harness.c exactly (counter-based splitmix64,
multiply-shift range reduction, murmur3's fmix32 on value XOR salt); the join is
a counting-sort directory of R plus a vectorized expansion over chunks of S,
so it shares no code or method with the C programs it checks.
"""

from __future__ import annotations

import numpy as np

M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def splitmix64_scalar(x: int) -> int:
    x = (x + GOLDEN) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def splitmix64(x: np.ndarray) -> np.ndarray:
    x = x + np.uint64(GOLDEN)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def fmix32(h: np.ndarray) -> np.ndarray:
    h = np.asarray(h, dtype=np.uint32)
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def fmix32_inverse(h: int) -> int:
    """The value v with fmix32(v) == h (used to plant chosen keys such as 0 and 0xFFFFFFFF)."""

    def unxorshift(x: int, s: int) -> int:
        y = x
        for _ in range(32 // s + 1):
            y = x ^ (y >> s)
        return y & 0xFFFFFFFF

    h = unxorshift(h, 16)
    h = (h * pow(0xC2B2AE35, -1, 1 << 32)) & 0xFFFFFFFF
    h = unxorshift(h, 13)
    h = (h * pow(0x85EBCA6B, -1, 1 << 32)) & 0xFFFFFFFF
    return unxorshift(h, 16)


def default_salt(seed: int) -> int:
    return splitmix64_scalar(seed ^ 0x5A17) & 0xFFFFFFFF


def gen_values(stream: int, start: int, n: int, domain: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows start..start+n-1 of one table: (key values before scrambling, payloads), both uint32.

    The harness's key is fmix32(value ^ salt), a bijection of the value, so two rows
    have equal keys exactly when they have equal values; the join runs on values.
    """
    with np.errstate(over="ignore"):
        x = splitmix64(np.arange(start, start + n, dtype=np.uint64) + np.uint64(stream))
    v = (((x >> np.uint64(32)) * np.uint64(domain)) >> np.uint64(32)).astype(np.int64)
    return v, (x & np.uint64(0xFFFFFFFF)).astype(np.uint32)


def keys_of(values: np.ndarray, salt: int) -> np.ndarray:
    """The harness's keys for these values (used by the tests to cross-check the value join)."""
    with np.errstate(over="ignore"):
        return fmix32(values.astype(np.uint32) ^ np.uint32(salt))


def pair_hash(rp: np.ndarray, sp: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        x = (rp.astype(np.uint64) << np.uint64(32)) | sp.astype(np.uint64)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def expected(seed: int, nr: int, ns: int, kr: int, ks: int, chunk: int = 4_000_000) -> str:
    """The exact stdout the harness must print for these arguments (any salt: the join is on values)."""
    base = splitmix64_scalar(seed)
    rv, rp = gen_values(base, 0, nr, kr)
    order = np.argsort(rv, kind="stable")
    rp = rp[order]
    count = np.bincount(rv, minlength=kr)
    first = np.cumsum(count) - count
    pairs = 0
    checksum = np.uint64(0)
    stream = (base + (1 << 40)) & M64
    for start in range(0, ns, chunk):
        sv, sp = gen_values(stream, start, min(chunk, ns - start), ks)
        inr = sv < kr
        sv, sp = sv[inr], sp[inr]
        cnt = count[sv]
        hit = cnt > 0
        lo, cnt, sp = first[sv[hit]], cnt[hit], sp[hit]
        total = int(cnt.sum())
        if total == 0:
            continue
        group_start = np.repeat(np.cumsum(cnt) - cnt, cnt)
        ridx = np.repeat(lo, cnt) + (np.arange(total) - group_start)
        with np.errstate(over="ignore"):
            checksum = checksum + pair_hash(rp[ridx], np.repeat(sp, cnt)).sum(dtype=np.uint64)
        pairs += total
    return f"pairs {pairs}\nchecksum {int(checksum):016x}\n"


def expected_tables(r: np.ndarray, s: np.ndarray) -> str:
    """The expected stdout for explicit tables (arrays of shape (n, 2): key, payload), joined on keys."""
    order = np.argsort(r[:, 0], kind="stable")
    rk, rp = r[order, 0], r[order, 1]
    lo = np.searchsorted(rk, s[:, 0], "left")
    cnt = np.searchsorted(rk, s[:, 0], "right") - lo
    hit = cnt > 0
    lo, cnt, sp = lo[hit], cnt[hit], s[hit, 1]
    total = int(cnt.sum())
    checksum = 0
    if total:
        group_start = np.repeat(np.cumsum(cnt) - cnt, cnt)
        ridx = np.repeat(lo, cnt) + (np.arange(total) - group_start)
        with np.errstate(over="ignore"):
            checksum = int(pair_hash(rp[ridx], np.repeat(sp, cnt)).sum(dtype=np.uint64))
    return f"pairs {total}\nchecksum {checksum:016x}\n"


def random_tables(
    rng: np.random.Generator, nr: int, ns: int, pool_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Tables with keys from a random pool that includes 0 and 0xFFFFFFFF; R uses a part of the pool."""
    extra = rng.integers(0, 1 << 32, pool_size, dtype=np.uint64).astype(np.uint32)
    pool = np.concatenate([np.array([0, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000], dtype=np.uint32), extra])
    r = np.empty((nr, 2), dtype=np.uint32)
    s = np.empty((ns, 2), dtype=np.uint32)
    r[:, 0] = pool[rng.integers(0, max(1, len(pool) * 2 // 3), nr)]
    s[:, 0] = pool[rng.integers(0, len(pool), ns)]
    r[:, 1] = rng.integers(0, 1 << 32, nr, dtype=np.uint64).astype(np.uint32)
    s[:, 1] = rng.integers(0, 1 << 32, ns, dtype=np.uint64).astype(np.uint32)
    return r, s


def write_tables(path: str, r: np.ndarray, s: np.ndarray) -> None:
    with open(path, "wb") as f:
        f.write(b"HJ01" + bytes(4))
        f.write(np.array([len(r), len(s)], dtype="<u8").tobytes())
        f.write(r.astype("<u4").tobytes())
        f.write(s.astype("<u4").tobytes())
