#!/usr/bin/env python3
"""The hidden world of data_selection: a fixed classification problem and its noisy data pool.

The world (fixed by ``WORLD_SEED``, the same at build time and in the verifier)
has 6 classes in 24 observed dimensions. Each class is a mixture of 3 Gaussian
sub-clusters in a 6-dimensional latent space; an observation is a fixed linear map
of the latent point plus a fixed mild non-linearity plus noise.

*Clean* data (``clean``): classes balanced, sub-clusters equally likely, labels
true. That is the distribution the held-out set is drawn from.

A *pool* (``pool``) is what a scraper would collect:
- classes imbalanced (priors 0.35 .. 0.05) and, within a class, sub-clusters
  unequal (0.6 / 0.3 / 0.1);
- 25% of the in-distribution labels wrong: mostly swapped for one fixed
  "confusable" class, otherwise uniform;
- ~15% near-duplicates: 150 source points (half of them mislabelled) copied about
  20 times each with tiny jitter;
- ~10% off-distribution junk with random labels: broad noise, a far-away blob, and
  constant rows.
Rows are shuffled. ``sample(kind, n, seed)`` returns float32 X (n, 24) and int64 y.

    python3 world.py --pool-seed 1 --pool pool.npz --dev-seed 2 --dev dev.npz
"""

from __future__ import annotations

import argparse

import numpy as np

WORLD_SEED = 20261123
D, LATENT, K, SUB = 24, 6, 6, 3
POOL_SIZE = 20_000
DEV_SIZE = 300
POOL_PRIORS = np.array([0.35, 0.25, 0.15, 0.12, 0.08, 0.05])
SUB_PRIORS = np.array([0.6, 0.3, 0.1])
NOISE_RATE = 0.25
DUP_SOURCES, DUP_COPIES = 150, 20
JUNK_RATE = 0.10


class World:
    def __init__(self, seed: int = WORLD_SEED):
        rng = np.random.default_rng(seed)
        self.centers = rng.normal(0.0, 1.6, size=(K, SUB, LATENT))
        self.scales = rng.uniform(0.6, 1.0, size=(K, SUB))
        self.A = rng.normal(0.0, 1.0 / np.sqrt(LATENT), size=(LATENT, D))
        self.B = rng.normal(0.0, 1.0 / np.sqrt(LATENT), size=(LATENT, D))
        self.shift = rng.normal(0.0, 0.5, size=D)
        self.confusable = rng.permutation(K)
        while np.any(self.confusable == np.arange(K)):
            self.confusable = rng.permutation(K)
        self.blob = rng.normal(0.0, 4.0, size=D)

    def observe(self, z: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        x = z @ self.A + 0.8 * np.tanh(z @ self.B) + self.shift
        return x + rng.normal(0.0, 0.35, size=x.shape)

    def draw(self, n: int, class_p: np.ndarray, sub_p: np.ndarray, rng: np.random.Generator):
        y = rng.choice(K, size=n, p=class_p)
        s = rng.choice(SUB, size=n, p=sub_p)
        z = self.centers[y, s] + rng.normal(size=(n, LATENT)) * self.scales[y, s][:, None]
        return self.observe(z, rng), y

    def clean(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        x, y = self.draw(n, np.full(K, 1.0 / K), np.full(SUB, 1.0 / SUB), rng)
        return x.astype(np.float32), y.astype(np.int64)

    def _mislabel(self, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        y = y.copy()
        confuse = rng.random(len(y)) < 0.7
        y[confuse] = self.confusable[y[confuse]]
        other = ~confuse
        y[other] = (y[other] + rng.integers(1, K, size=int(other.sum()))) % K
        return y

    def pool(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        n_dup = DUP_SOURCES * DUP_COPIES
        n_junk = int(round(JUNK_RATE * n))
        n_main = n - n_dup - n_junk
        x, y = self.draw(n_main, POOL_PRIORS, SUB_PRIORS, rng)
        bad = rng.random(n_main) < NOISE_RATE
        y[bad] = self._mislabel(y[bad], rng)
        # near-duplicates: a few sources copied many times, half of them mislabelled
        sx, sy = self.draw(DUP_SOURCES, POOL_PRIORS, SUB_PRIORS, rng)
        flip = rng.random(DUP_SOURCES) < 0.5
        sy[flip] = self._mislabel(sy[flip], rng)
        dx = np.repeat(sx, DUP_COPIES, axis=0) + rng.normal(0.0, 0.01, size=(n_dup, D))
        dy = np.repeat(sy, DUP_COPIES)
        # junk: broad noise, a far blob, constant rows -- random labels
        kinds = rng.choice(3, size=n_junk, p=[0.5, 0.35, 0.15])
        jx = rng.normal(0.0, 3.0, size=(n_junk, D))
        blob = kinds == 1
        jx[blob] = self.blob + rng.normal(0.0, 0.7, size=(int(blob.sum()), D))
        jx[kinds == 2] = 0.0
        jy = rng.integers(0, K, size=n_junk)
        X = np.concatenate([x, dx, jx]).astype(np.float32)
        Y = np.concatenate([y, dy, jy]).astype(np.int64)
        order = rng.permutation(n)
        return X[order], Y[order]


def sample(kind: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``kind`` is "pool" (noisy) or "clean"; the world is always the fixed one."""
    world = World()
    rng = np.random.default_rng(seed)
    return world.pool(n, rng) if kind == "pool" else world.clean(n, rng)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pool-seed", type=int, required=True)
    ap.add_argument("--pool", required=True)
    ap.add_argument("--dev-seed", type=int, required=True)
    ap.add_argument("--dev", required=True)
    args = ap.parse_args()
    px, py = sample("pool", POOL_SIZE, args.pool_seed)
    dx, dy = sample("clean", DEV_SIZE, args.dev_seed)
    with open(args.pool, "wb") as fh:
        np.savez(fh, X=px, y=py)
    with open(args.dev, "wb") as fh:
        np.savez(fh, X=dx, y=dy)


if __name__ == "__main__":
    main()
