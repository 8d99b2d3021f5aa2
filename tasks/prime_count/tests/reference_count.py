"""Exact prime counts with a numpy sieve (the verifier's reference): python3 reference_count.py N..."""

import sys

import numpy as np


def prime_counts(ns: list[int]) -> list[int]:
    top = max([*ns, 2])
    sieve = np.ones(top, dtype=bool)
    sieve[:2] = False
    for p in range(2, int(top**0.5) + 1):
        if sieve[p]:
            sieve[p * p :: p] = False
    cum = np.concatenate([[0], np.cumsum(sieve)])
    return [int(cum[n]) for n in ns]


if __name__ == "__main__":
    print(" ".join(map(str, prime_counts([int(x) for x in sys.argv[1:]]))))
