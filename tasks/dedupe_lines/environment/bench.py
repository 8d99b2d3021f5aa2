"""Time dedupe() on N generated lines: python3 bench.py MODULE_DIR N SEED.

Prints the SHA-256 of the output, then the seconds dedupe() took on the last line.
"""
import hashlib
import random
import sys
import time

sys.path.insert(0, sys.argv[1])
from dedupe import dedupe  # noqa: E402

n, seed = int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
lines = [f"line-{rng.randrange(n // 2)}" for _ in range(n)]
t0 = time.perf_counter()
out = dedupe(lines)
dt = time.perf_counter() - t0
print(hashlib.sha256(chr(10).join(out).encode()).hexdigest())
print(f"{dt:.6f}")
