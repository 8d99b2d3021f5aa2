"""Trusted input generator of prime_count: python3 gen_n.py SEED PURPOSE INPUT_DIR EXPECTED_DIR.

Writes INPUT_DIR/args (the values of n the program gets on its command line) and
EXPECTED_DIR/counts (their prime counts from reference_count's numpy sieve, one a line).
PURPOSE "time": one n drawn from 3,500,000 to 4,500,000, fresh each round; "check-0": the
edge cases 0-3 and one n from each of [4, 1e3), [1e3, 1e5), [1e5, 3e6), [3e6, 2e7);
"check-1" on: one n of the timing range.
"""

import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_count import prime_counts  # noqa: E402


def main() -> None:
    seed, purpose, inp, exp = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    r = random.Random(seed)
    if purpose == "check-0":
        bounds = [(4, 1000), (1000, 10**5), (10**5, 3 * 10**6), (3 * 10**6, 2 * 10**7)]
        ns = [0, 1, 2, 3, *(r.randrange(lo, hi) for lo, hi in bounds)]
    else:
        ns = [r.randrange(3_500_000, 4_500_001)]
    with open(f"{inp}/args", "w") as fh:
        fh.write(" ".join(map(str, ns)) + "\n")
    with open(f"{exp}/counts", "w") as fh:
        fh.write("".join(f"{c}\n" for c in prime_counts(ns)))


if __name__ == "__main__":
    main()
