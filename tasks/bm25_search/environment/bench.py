"""The fixed driver of the bm25_search task (not editable).

usage: python3 bench.py IMPL_DIR SEED [--docs N] [--vocab V] [--queries Q] [--k K] [--out FILE]
       python3 bench.py IMPL_DIR --corpus FILE.npz [--out FILE]

Builds a corpus, either generated from SEED (a Zipfian vocabulary, document
lengths from a log-normal, queries of 1 to 6 distinct terms) or read from an
.npz file, imports ``search.py`` from IMPL_DIR, calls its
``bm25_topk(doc_tokens, doc_offsets, vocab_size, queries, k)`` once and checks
the shape of the answer and that no disallowed module was loaded. With --out it writes the answer as JSON (one list of
[doc_id, score] per query); it always prints the number of queries and hits and
a digest of the exact answer.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np

# numpy and the standard library only: no compiled accelerators, no helper processes
FORBIDDEN_MODULES = (
    "torch", "scipy", "numba", "jax", "tensorflow", "sklearn", "pandas", "polars", "pyarrow", "cupy",
    "Cython", "cffi", "subprocess", "multiprocessing", "concurrent", "_posixsubprocess",
)  # fmt: skip


def make_corpus(seed: int, n_docs: int, vocab: int, n_queries: int) -> dict:
    """A deterministic corpus: doc_tokens (int32), doc_offsets (int64, n_docs + 1), vocab_size, queries."""
    rng = np.random.default_rng(seed)
    ranks = np.arange(vocab, dtype=np.float64)
    p = 1.0 / (ranks + 2.7) ** 1.07
    p /= p.sum()
    term_of_rank = rng.permutation(vocab).astype(np.int32)  # term ids are not sorted by frequency
    lengths = np.clip(np.rint(rng.lognormal(4.4, 0.6, n_docs)), 1, 2000).astype(np.int64)
    offsets = np.zeros(n_docs + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    cdf = np.cumsum(p)
    cdf[-1] = 1.0
    tokens = term_of_rank[np.searchsorted(cdf, rng.random(int(offsets[-1])), side="right")]
    q = 1.0 / (ranks + 10.0) ** 0.8  # queries lean towards mid-frequency terms
    q /= q.sum()
    qcdf = np.cumsum(q)
    qcdf[-1] = 1.0
    sizes = rng.integers(1, 7, n_queries)
    draws = term_of_rank[np.searchsorted(qcdf, rng.random((n_queries, 24)), side="right")]
    queries = []
    for size, row in zip(sizes.tolist(), draws.tolist(), strict=True):
        query: list[int] = []
        for t in row:  # the first `size` distinct terms of the row
            if t not in query:
                query.append(t)
                if len(query) == size:
                    break
        queries.append(query)
    return {"doc_tokens": tokens, "doc_offsets": offsets, "vocab_size": vocab, "queries": queries}


def load_corpus(path: str) -> dict:
    z = np.load(path)
    qoff = z["query_offsets"]
    qtok = z["query_tokens"]
    queries = [[int(t) for t in qtok[qoff[i] : qoff[i + 1]]] for i in range(len(qoff) - 1)]
    return {
        "doc_tokens": z["doc_tokens"].astype(np.int32),
        "doc_offsets": z["doc_offsets"].astype(np.int64),
        "vocab_size": int(z["vocab_size"]),
        "queries": queries,
        "k": int(z["k"]),
    }


def load_impl(impl_dir: str):  # noqa: ANN201
    path = Path(impl_dir) / "search.py"
    spec = importlib.util.spec_from_file_location("search", path)
    if spec is None or spec.loader is None:
        sys.exit(f"bench.py: cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["search"] = module
    spec.loader.exec_module(module)
    return module


def normalize(answer: object, n_queries: int, k: int, n_docs: int) -> list[list[list]]:
    """The answer as plain lists, or exit with a message naming what is wrong with it."""
    try:
        answer = list(answer)  # type: ignore[arg-type]
    except TypeError:
        sys.exit("bench.py: bm25_topk must return a list")
    if len(answer) != n_queries:
        sys.exit(f"bench.py: bm25_topk returned {len(answer)} result lists for {n_queries} queries")
    out = []
    for qi, hits in enumerate(answer):
        row = []
        for hit in list(hits):
            doc, score = hit
            doc, score = int(doc), float(score)
            if not (0 <= doc < n_docs) or not math.isfinite(score):
                sys.exit(f"bench.py: query {qi}: bad hit {hit!r}")
            row.append([doc, score])
        if len(row) > k:
            sys.exit(f"bench.py: query {qi}: {len(row)} hits, more than k={k}")
        out.append(row)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("impl_dir")
    ap.add_argument("seed", nargs="?", type=int)
    ap.add_argument("--docs", type=int, default=10000)
    ap.add_argument("--vocab", type=int, default=50000)
    ap.add_argument("--queries", type=int, default=250)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--corpus")
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.corpus:
        corpus = load_corpus(args.corpus)
        k = corpus.pop("k")
    elif args.seed is not None:
        corpus = make_corpus(args.seed, args.docs, args.vocab, args.queries)
        k = args.k
    else:
        ap.error("give SEED or --corpus")
    impl = load_impl(args.impl_dir)
    answer = impl.bm25_topk(
        corpus["doc_tokens"], corpus["doc_offsets"], corpus["vocab_size"], corpus["queries"], k
    )
    result = normalize(answer, len(corpus["queries"]), k, len(corpus["doc_offsets"]) - 1)
    used = sorted(m for m in FORBIDDEN_MODULES if m in sys.modules)
    if used:
        sys.exit(f"bench.py: search.py used modules the task does not allow: {', '.join(used)}")
    text = json.dumps(result)
    if args.out:
        Path(args.out).write_text(text)
    print(f"queries {len(result)}")
    print(f"hits {sum(len(r) for r in result)}")
    print(f"digest {hashlib.sha256(text.encode()).hexdigest()[:32]}")


if __name__ == "__main__":
    main()
