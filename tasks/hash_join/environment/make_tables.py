"""Write a hash_join table file (the `join_bench --file` format) with arbitrary keys.

usage: python3 make_tables.py OUT SEED NR NS
Keys are drawn from a small random pool of 32-bit values that always includes
0 and 0xFFFFFFFF, so duplicates and extreme keys appear on both sides.
"""

import sys

import numpy as np


def main() -> None:
    out, seed, nr, ns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    rng = np.random.default_rng(seed)
    pool = np.concatenate([[0, 0xFFFFFFFF, 1, 0x80000000], rng.integers(0, 1 << 32, 60, dtype=np.uint64)])
    pool = pool.astype(np.uint32)
    r_keys = pool[rng.integers(0, len(pool) // 2, nr)]
    s_keys = pool[rng.integers(0, len(pool), ns)]

    def rows(keys: np.ndarray) -> np.ndarray:
        t = np.empty((len(keys), 2), dtype="<u4")
        t[:, 0] = keys
        t[:, 1] = rng.integers(0, 1 << 32, len(keys), dtype=np.uint64).astype(np.uint32)
        return t

    with open(out, "wb") as f:
        f.write(b"HJ01" + bytes(4))
        f.write(np.array([nr, ns], dtype="<u8").tobytes())
        f.write(rows(r_keys).tobytes())
        f.write(rows(s_keys).tobytes())


if __name__ == "__main__":
    main()
