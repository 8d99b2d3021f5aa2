"""Trusted input generator of bm25_search: python3 gen_bm25.py SEED PURPOSE INPUT_DIR EXPECTED_DIR.

Writes INPUT_DIR/corpus.npz (the `bench.py --corpus` format). PURPOSE "time": the
timed corpus (10,000 documents, 50,000 terms, 250 queries, k = 10) from the pristine
generator /orig/bench.py; "check-I": the I-th correctness case: three generated
corpora of other shapes, then hand-made corpora aimed at the spec's edge cases
(exact ties, an empty document, unknown terms, an empty query, k above the matches).
The answer is checked by check_answer.py against check_bm25's independent BM25.
"""

from __future__ import annotations

import random
import sys

import numpy as np

sys.path.insert(0, "/orig")
import bench  # noqa: E402  (the pristine generator)

TIMING = (10000, 50000, 250, 10)  # docs, vocab, queries, k
GENERATED = [(400, 2000, 150, 10), (3000, 50000, 200, 1), (1500, 300, 120, 50)]


def handmade(rng: random.Random) -> list[tuple[dict, int]]:
    """Small corpora built to hit the edge cases of the spec."""
    cases = []
    # duplicate documents (exact ties), an empty document, unknown terms, an empty query, k > matches
    base_docs = [[rng.randrange(40) for _ in range(rng.randrange(1, 30))] for _ in range(60)]
    docs = base_docs + [list(d) for d in base_docs[:20]] + [[]] + [list(base_docs[3])] * 5
    rng.shuffle(docs)
    queries = [[rng.randrange(45) for _ in range(1)] for _ in range(30)]
    queries += [list(dict.fromkeys(rng.randrange(45) for _ in range(rng.randrange(2, 8)))) for _ in range(60)]
    queries += [[], [44], [43, 42], list(range(40))]
    cases.append(({"docs": docs, "queries": queries, "vocab": 45}, 7))
    cases.append(({"docs": docs, "queries": queries, "vocab": 45}, 100))
    # one document; every term everywhere; k = 1
    cases.append(({"docs": [[0, 1, 1, 2]], "queries": [[1], [3], [0, 2], [2, 1, 0]], "vocab": 4}, 3))
    uniform = [[t for t in range(8) for _ in range(rng.randrange(1, 4))] for _ in range(50)]
    cases.append(({"docs": uniform, "queries": [[0], [1, 2], list(range(8))], "vocab": 8}, 1))
    out = []
    for c, k in cases:
        offsets = np.zeros(len(c["docs"]) + 1, dtype=np.int64)
        np.cumsum([len(d) for d in c["docs"]], out=offsets[1:])
        tokens = np.array([t for d in c["docs"] for t in d], dtype=np.int32)
        out.append(
            (
                {
                    "doc_tokens": tokens,
                    "doc_offsets": offsets,
                    "vocab_size": c["vocab"],
                    "queries": c["queries"],
                },
                k,
            )
        )
    return out


def save_npz(path: str, corpus: dict, k: int) -> None:
    qoff = np.zeros(len(corpus["queries"]) + 1, dtype=np.int64)
    np.cumsum([len(q) for q in corpus["queries"]], out=qoff[1:])
    qtok = np.array([t for q in corpus["queries"] for t in q], dtype=np.int32)
    np.savez(
        path, doc_tokens=corpus["doc_tokens"], doc_offsets=corpus["doc_offsets"],
        vocab_size=corpus["vocab_size"], query_tokens=qtok, query_offsets=qoff, k=k,
    )  # fmt: skip


def main() -> None:
    seed, purpose, inp, exp = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    with open(f"{exp}/purpose", "w") as fh:
        fh.write(purpose)
    rng = random.Random(seed)
    case = -1 if purpose == "time" else int(purpose.rpartition("-")[2]) % (len(GENERATED) + 4)
    if case < len(GENERATED):
        docs, vocab, queries, k = TIMING if case < 0 else GENERATED[case]
        corpus = bench.make_corpus(rng.randrange(1 << 62), docs, vocab, queries)
    else:
        corpus, k = handmade(rng)[case - len(GENERATED)]
    save_npz(f"{inp}/corpus.npz", corpus, k)


if __name__ == "__main__":
    main()
