#!/bin/bash
# Reference solution: M. W. Green's 60-comparator network for 16 inputs (1969).
# The first 32 comparators are the four layers of a 4-d hypercube (wire i against
# wire i|b for b = 1, 2, 4, 8); the remaining 28 finish the sort. See reference.md.
set -euo pipefail
python3 - > /app/network.txt <<'PY'
print("# Green's 60-comparator sorting network for 16 inputs (depth 10)")
print("# layers 1-4: hypercube comparators i -- i|b for b = 1, 2, 4, 8")
for b in (1, 2, 4, 8):
    for i in range(16):
        if not i & b:
            print(i, i | b)
print("# layers 5-10: Green's 28 comparators that finish the sort")
tail = [
    [(5, 10), (6, 9), (3, 12), (13, 14), (7, 11), (1, 2), (4, 8)],
    [(1, 4), (7, 13), (2, 8), (11, 14), (5, 6), (9, 10)],
    [(2, 4), (11, 13), (3, 8), (7, 12)],
    [(6, 8), (10, 12), (3, 5), (7, 9)],
    [(3, 4), (5, 6), (7, 8), (9, 10), (11, 12)],
    [(6, 7), (8, 9)],
]
for layer in tail:
    for i, j in layer:
        print(i, j)
PY
python3 /app/checknet.py /app/network.txt
