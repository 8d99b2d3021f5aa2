#!/usr/bin/env python3
"""Print the access sequence: exactly 10000 keys from 1..1023, one per line.

Starting point: uniformly random keys. The verifier runs this file and counts
the rotations the splay tree makes on what it prints to standard output.
"""

import random

N, M = 1023, 10_000
rng = random.Random(2024)
print("\n".join(str(rng.randint(1, N)) for _ in range(M)))
