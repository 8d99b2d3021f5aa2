#!/usr/bin/env python3
"""The splay-tree simulator of the splay_adversary task: how many rotations does a sequence cost?

The tree holds the keys 1..N (N = 1023) and starts perfectly balanced (the root is
the middle key, recursively). Accessing a key splays it to the root bottom-up
(Sleator and Tarjan, 1985): while the key is not the root, with p its parent and g
its grandparent, a *zig* (p is the root) rotates once, a *zig-zig* (key and p are
both left or both right children) rotates p over g and then the key over p, and a
*zig-zag* rotates the key over p and then over g. The cost of an access is the
number of single rotations, which equals the key's depth before the access. The
score of a sequence is the total over all its accesses. The verifier uses its own
pristine copy of this file.

Usage: python3 splay.py [SEQUENCE_FILE]   (reads standard input without a file)
"""

from __future__ import annotations

import sys

N = 1023  # keys 1..N
M = 10_000  # accesses in a sequence
MAX_OUTPUT_BYTES = 1 << 20


class SequenceError(Exception):
    """The sequence is malformed (wrong length, a token that is not a key)."""


class SplayTree:
    def __init__(self, n: int = N):
        self.n = n
        self.left = [0] * (n + 1)  # 0 = no child
        self.right = [0] * (n + 1)
        self.parent = [0] * (n + 1)
        self.root = self._build(1, n, 0)

    def _build(self, lo: int, hi: int, par: int) -> int:
        """Perfectly balanced subtree of keys lo..hi (iterative: no recursion limit)."""
        root = 0
        stack = [(lo, hi, par, 0)]  # (lo, hi, parent, side: 0 root, 1 left, 2 right)
        while stack:
            a, b, p, side = stack.pop()
            if a > b:
                continue
            m = (a + b) // 2
            self.parent[m] = p
            if side == 0:
                root = m
            elif side == 1:
                self.left[p] = m
            else:
                self.right[p] = m
            stack.append((a, m - 1, m, 1))
            stack.append((m + 1, b, m, 2))
        return root

    def _rotate(self, x: int) -> None:
        """Rotate x over its parent."""
        left, right, parent = self.left, self.right, self.parent
        p = parent[x]
        g = parent[p]
        if left[p] == x:
            b = right[x]
            left[p] = b
            right[x] = p
        else:
            b = left[x]
            right[p] = b
            left[x] = p
        if b:
            parent[b] = p
        parent[p] = x
        parent[x] = g
        if g:
            if left[g] == p:
                left[g] = x
            else:
                right[g] = x
        else:
            self.root = x

    def access(self, x: int) -> int:
        """Splay key x to the root; returns the number of rotations."""
        parent, left = self.parent, self.left
        rotations = 0
        while parent[x]:
            p = parent[x]
            g = parent[p]
            if not g:  # zig
                self._rotate(x)
                rotations += 1
            elif (left[g] == p) == (left[p] == x):  # zig-zig
                self._rotate(p)
                self._rotate(x)
                rotations += 2
            else:  # zig-zag
                self._rotate(x)
                self._rotate(x)
                rotations += 2
        return rotations

    def depths(self) -> list[int]:
        """depths()[k] = depth of key k (the root has depth 0); index 0 unused."""
        d = [0] * (self.n + 1)
        stack = [(self.root, 0)]
        while stack:
            x, k = stack.pop()
            d[x] = k
            if self.left[x]:
                stack.append((self.left[x], k + 1))
            if self.right[x]:
                stack.append((self.right[x], k + 1))
        return d


def parse_sequence(text: str, n: int = N, m: int = M) -> list[int]:
    """Exactly m whitespace-separated integers in 1..n, nothing else."""
    tokens = text.split()
    if len(tokens) != m:
        raise SequenceError(f"expected exactly {m} keys, got {len(tokens)} tokens")
    seq = []
    for i, tok in enumerate(tokens):
        if not tok.isdigit():
            raise SequenceError(f"token {i + 1} is not a key: {tok[:40]!r}")
        k = int(tok)
        if not 1 <= k <= n:
            raise SequenceError(f"token {i + 1}: key {k} outside 1..{n}")
        seq.append(k)
    return seq


def total_rotations(seq: list[int], n: int = N) -> int:
    tree = SplayTree(n)
    return sum(tree.access(x) for x in seq)


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        with open(argv[1], "rb") as fh:
            data = fh.read(MAX_OUTPUT_BYTES + 1)
    else:
        data = sys.stdin.buffer.read(MAX_OUTPUT_BYTES + 1)
    if len(data) > MAX_OUTPUT_BYTES:
        print(f"INVALID: the sequence is larger than {MAX_OUTPUT_BYTES} bytes")
        return 1
    try:
        seq = parse_sequence(data.decode("utf-8", errors="replace"))
    except SequenceError as exc:
        print(f"INVALID: {exc}")
        return 1
    rot = total_rotations(seq)
    print(f"OK: {len(seq)} accesses, {rot} rotations ({rot / len(seq):.3f} per access)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
