#!/usr/bin/env python3
"""Connect-3 on a 5-column x 4-row board: the rules, an exact solver, and the labelled position set.

Two players drop stones in turn into one of 5 columns (a stone falls to the lowest
empty cell of its column; a full column is not a legal move). Three stones of one
player in a row -- horizontally, vertically or diagonally -- win; a full board
with no line is a draw.

Every move is scored by perfect play with a preference for speed: completing a
line with the s-th stone on the board is worth ``21 - s`` to the player who did
it (faster wins are worth more), the same amount negated to the other player (so
a lost player prefers to lose later), and a draw is worth 0. The value of a move
for the player making it is what that move leads to when both sides then play
perfectly (negamax with memoization over every reachable position: about
308,000 positions, a second or two). The optimal moves of a position are the
legal moves of maximal value.

``build_dataset`` lists every reachable position where the game is not over
(no line yet, board not full), in a fixed order, as planes from the point of
view of the player to move: ``boards[i, 0]`` = that player's stones,
``boards[i, 1]`` = the opponent's, ``boards[i, :, r, c]`` = row ``r`` (0 = bottom)
and column ``c`` (0 = left). A position is *scored* when its legal moves do not all
have the same value (otherwise every move is right and it says nothing).

    python3 connect3.py --out /data/connect3.npz     # write the dataset
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

COLS, ROWS = 5, 4
CELLS = COLS * ROWS
HP = ROWS + 1  # bits per column in a bitboard (one spare bit on top)
ILLEGAL = -128  # value stored for a full column


def _wins(bits: int) -> bool:
    for shift in (1, HP, HP - 1, HP + 1):  # vertical, horizontal, two diagonals
        m = bits & (bits >> shift)
        if m & (m >> shift):
            return True
    return False


def solve() -> dict[tuple[int, int], tuple[int, ...]]:
    """Every reachable non-terminal position -> the value of each of its 5 moves (ILLEGAL if full).

    A position is the pair (stones of the player to move, all stones) as bitboards:
    bit ``c * HP + r`` is column ``c``, row ``r``.
    """
    sys.setrecursionlimit(10_000)
    memo: dict[tuple[int, int], tuple[int, ...]] = {}

    def best(cur: int, mask: int, n: int) -> int:
        key = (cur, mask)
        vals = memo.get(key)
        if vals is None:
            out = []
            for c in range(COLS):
                if mask & (1 << (c * HP + ROWS - 1)):
                    out.append(ILLEGAL)
                    continue
                new_mask = mask | (mask + (1 << (c * HP)))
                mine = cur | (new_mask ^ mask)
                if _wins(mine):
                    out.append(CELLS + 1 - (n + 1))
                elif n + 1 == CELLS:
                    out.append(0)
                else:
                    out.append(-best(cur ^ mask, new_mask, n + 1))
            vals = tuple(out)
            memo[key] = vals
        return max(vals)

    best(0, 0, 0)
    return memo


def _planes(bits: np.ndarray) -> np.ndarray:
    """(N,) int64 bitboards -> (N, ROWS, COLS) uint8 occupancy."""
    out = np.zeros((len(bits), ROWS, COLS), np.uint8)
    for c in range(COLS):
        for r in range(ROWS):
            out[:, r, c] = (bits >> (c * HP + r)) & 1
    return out


def build_dataset() -> dict[str, np.ndarray]:
    """All non-terminal reachable positions, sorted by (all stones, own stones), with their labels."""
    memo = solve()
    keys = sorted(memo, key=lambda k: (k[1], k[0]))
    cur = np.array([k[0] for k in keys], np.int64)
    mask = np.array([k[1] for k in keys], np.int64)
    values = np.array([memo[k] for k in keys], np.int16)
    legal = values != ILLEGAL
    best = np.where(legal, values, -1000).max(axis=1, keepdims=True)
    optimal = legal & (values == best)
    boards = np.stack([_planes(cur), _planes(cur ^ mask)], axis=1)
    scored = optimal.sum(axis=1) < legal.sum(axis=1)
    return {
        "boards": boards,
        "legal": legal,
        "optimal": optimal,
        "values": values.astype(np.int8),
        "scored": scored,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="where to write the .npz dataset")
    args = ap.parse_args()
    data = build_dataset()
    with open(args.out, "wb") as fh:
        np.savez_compressed(fh, **data)
    n, s = len(data["boards"]), int(data["scored"].sum())
    print(f"{n} positions, {s} scored, written to {args.out}")


if __name__ == "__main__":
    main()
