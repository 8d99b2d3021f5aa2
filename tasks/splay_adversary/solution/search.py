#!/usr/bin/env python3
"""Reference adversary: greedy deepest-node access with a one-step lookahead on the tree's depth.

At every step the 16 deepest keys are candidates; each is splayed on a copy of
the current tree, and the one maximizing (its rotations now) + 8 x (mean depth of
the tree after the access) is accessed for real. Deterministic (ties go to the
smaller key). Prints the 10000 keys, one per line.
"""

from __future__ import annotations

import sys

sys.path.insert(0, "/app")
from splay import M, N, SplayTree  # noqa: E402

CANDIDATES = 16
BETA = 8.0


def clone(t: SplayTree) -> SplayTree:
    c = SplayTree.__new__(SplayTree)
    c.n, c.root = t.n, t.root
    c.left, c.right, c.parent = t.left[:], t.right[:], t.parent[:]
    return c


def search(n: int = N, m: int = M) -> list[int]:
    tree = SplayTree(n)
    seq = []
    for _ in range(m):
        d = tree.depths()
        cands = sorted(range(1, n + 1), key=lambda k: -d[k])[:CANDIDATES]
        best_key, best_val = cands[0], None
        for k in cands:
            c = clone(tree)
            val = c.access(k) + BETA * sum(c.depths()) / n
            if best_val is None or val > best_val:
                best_key, best_val = k, val
        tree.access(best_key)
        seq.append(best_key)
    return seq


if __name__ == "__main__":
    print("\n".join(map(str, search())))
