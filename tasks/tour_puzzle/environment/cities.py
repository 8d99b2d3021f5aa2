"""Generate the fixed instance: 120 cities in the unit square (seeded, deterministic)."""
import random
import sys

rng = random.Random(20261123)
pts = [(rng.random(), rng.random()) for _ in range(120)]
with open(sys.argv[1] if len(sys.argv) > 1 else "cities.txt", "w") as fh:
    for x, y in pts:
        fh.write(f"{x:.6f} {y:.6f}\n")
