#!/usr/bin/env python3
"""Check a 16-input comparator network: does it sort every input, and how big is it?

A network file has one comparator per line, ``i j`` with 0 <= i < j <= 15: the
comparator puts the smaller of the two values on wire i and the larger on wire j.
Blank lines and everything after a ``#`` are ignored. By the 0-1 principle a
comparator network sorts every input iff it sorts all 2^16 inputs of zeros and
ones, which this checker tests exhaustively and bit-parallel: wire k is one
65536-bit integer whose bit x is bit k of input x, a comparator is an AND (min)
and an OR (max), and the output is sorted iff no wire holds a 1 where the wire
above it holds a 0. The whole check takes a few milliseconds.

Usage: python3 checknet.py [network.txt]   (prints a summary, exits 1 if invalid)
"""

from __future__ import annotations

import json
import sys

WIRES = 16
MAX_COMPARATORS = 1000
MAX_FILE_BYTES = 100_000


class NetworkError(Exception):
    """The network file is malformed (message names the line)."""


def parse_network(text: str) -> list[tuple[int, int]]:
    comps: list[tuple[int, int]] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2:
            raise NetworkError(f"line {lineno}: expected two wire numbers 'i j', got {raw.strip()!r}")
        try:
            i, j = int(parts[0]), int(parts[1])
        except ValueError:
            raise NetworkError(f"line {lineno}: wire numbers must be integers, got {raw.strip()!r}") from None
        if not (0 <= i < WIRES and 0 <= j < WIRES):
            raise NetworkError(f"line {lineno}: wires must be in 0..{WIRES - 1}, got {i} {j}")
        if i >= j:
            raise NetworkError(f"line {lineno}: write the smaller wire first (i < j), got {i} {j}")
        comps.append((i, j))
        if len(comps) > MAX_COMPARATORS:
            raise NetworkError(f"more than {MAX_COMPARATORS} comparators")
    return comps


def _input_wires(n: int) -> list[int]:
    """Wire k as a 2^n-bit integer whose bit x is bit k of x (all 0/1 inputs at once)."""
    total = 1 << n
    wires = []
    for k in range(n):
        half = 1 << k
        v = ((1 << half) - 1) << half  # one period: 2^k zeros then 2^k ones
        size = 2 * half
        while size < total:
            v |= v << size
            size *= 2
        wires.append(v)
    return wires


def unsorted_count(comps: list[tuple[int, int]], n: int = WIRES) -> int:
    """How many of the 2^n 0/1 inputs the network leaves unsorted (0 = it sorts)."""
    w = _input_wires(n)
    for i, j in comps:
        a, b = w[i], w[j]
        w[i], w[j] = a & b, a | b
    bad = 0
    for k in range(n - 1):
        bad |= w[k] & ~w[k + 1]  # a 1 above a 0: this input is not sorted
    return bin(bad).count("1")


def depth(comps: list[tuple[int, int]], n: int = WIRES) -> int:
    """Number of parallel layers when every comparator is placed as early as possible."""
    level = [0] * n
    for i, j in comps:
        d = max(level[i], level[j]) + 1
        level[i] = level[j] = d
    return max(level, default=0)


def check_text(text: str) -> dict:
    """{"valid": bool, "comparators": int, "depth": int, "unsorted_inputs": int, "error": str|None}."""
    try:
        comps = parse_network(text)
    except NetworkError as exc:
        return {
            "valid": False,
            "comparators": None,
            "depth": None,
            "unsorted_inputs": None,
            "error": str(exc),
        }
    bad = unsorted_count(comps)
    return {
        "valid": bad == 0,
        "comparators": len(comps),
        "depth": depth(comps),
        "unsorted_inputs": bad,
        "error": None if bad == 0 else f"the network leaves {bad} of {1 << WIRES} 0/1 inputs unsorted",
    }


def check_file(path: str) -> dict:
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return {"valid": False, "comparators": None, "depth": None, "unsorted_inputs": None,
                "error": f"cannot read {path}: {exc.strerror}"}  # fmt: skip
    if len(data) > MAX_FILE_BYTES:
        return {"valid": False, "comparators": None, "depth": None, "unsorted_inputs": None,
                "error": f"{path} is larger than {MAX_FILE_BYTES} bytes"}  # fmt: skip
    return check_text(data.decode("utf-8", errors="replace"))


def main(argv: list[str]) -> int:
    path = argv[1] if len(argv) > 1 else "/app/network.txt"
    res = check_file(path)
    print(json.dumps(res))
    if res["valid"]:
        n = res["comparators"]
        reward = min(1.0, max(0.0, (80 - n) / (80 - 60)))
        print(f"OK: sorts all {1 << WIRES} 0/1 inputs; comparators={n} depth={res['depth']}; "
              f"expected reward {reward:.3f}")  # fmt: skip
        return 0
    print(f"INVALID: {res['error']}")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
