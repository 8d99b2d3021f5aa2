"""Exact prime counts with a numpy sieve (the verifier's reference)."""
import sys

import numpy as np

ns = [int(x) for x in sys.argv[1:]]
top = max(ns + [2])
sieve = np.ones(top, dtype=bool)
sieve[:2] = False
for p in range(2, int(top**0.5) + 1):
    if sieve[p]:
        sieve[p * p :: p] = False
cum = np.concatenate([[0], np.cumsum(sieve)])
print(" ".join(str(int(cum[n])) for n in ns))
