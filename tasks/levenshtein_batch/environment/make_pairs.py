"""Write a levenshtein_batch pairs file (the `lev_bench --file` format) with assorted edge cases.

usage: python3 make_pairs.py OUT SEED N
Includes empty strings, lengths around multiples of 64, NUL and 0xFF bytes.
"""

import random
import struct
import sys


def main() -> None:
    out, seed, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(seed)
    pairs = [(b"", b""), (b"", b"abc"), (b"\x00\x00", b"\x00"), (b"kitten", b"sitting")]
    while len(pairs) < n:
        alphabet = rng.choice([b"ab", b"ACGT", bytes(range(256))])
        length = rng.choice([rng.randrange(0, 70), 63, 64, 65, 128, 129, rng.randrange(0, 600)])
        a = bytes(rng.choice(alphabet) for _ in range(length))
        b = bytearray()
        for c in a:
            r = rng.random()
            if r < 0.8:
                b.append(c)
            elif r < 0.87:
                b.append(rng.choice(alphabet))
            elif r < 0.94:
                b += bytes([rng.choice(alphabet), c])
        pairs.append((a, bytes(b)))
    with open(out, "wb") as f:
        f.write(b"LV01" + struct.pack("<Q", len(pairs)))
        for a, b in pairs:
            f.write(struct.pack("<II", len(a), len(b)) + a + b)


if __name__ == "__main__":
    main()
