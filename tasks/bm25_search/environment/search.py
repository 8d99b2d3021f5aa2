"""BM25 top-k search -- the baseline (this is the file you optimize).

For every query it rescans every document: each document is kept as a Counter
of its terms, and the BM25 score of each document is summed term by term in
plain Python, then all matching documents are sorted.
"""

from __future__ import annotations

import math
from collections import Counter

K1 = 1.2
B = 0.75


def bm25_topk(doc_tokens, doc_offsets, vocab_size, queries, k):
    """Top-k documents per query as [(doc_id, score), ...], best first, ties by smaller doc_id."""
    n_docs = len(doc_offsets) - 1
    docs = [Counter(doc_tokens[doc_offsets[i] : doc_offsets[i + 1]].tolist()) for i in range(n_docs)]
    lengths = [int(doc_offsets[i + 1] - doc_offsets[i]) for i in range(n_docs)]
    avgdl = sum(lengths) / n_docs if n_docs else 0.0
    df = Counter()
    for d in docs:
        df.update(d.keys())
    results = []
    for query in queries:
        idf = {t: math.log(1.0 + (n_docs - df[t] + 0.5) / (df[t] + 0.5)) for t in query}
        scored = []
        for i, d in enumerate(docs):
            score = 0.0
            for t in query:
                tf = d.get(t, 0)
                if tf:
                    norm = K1 * (1.0 - B + B * lengths[i] / avgdl)
                    score += idf[t] * tf * (K1 + 1.0) / (tf + norm)
            if score > 0.0:
                scored.append((-score, i))
        scored.sort()
        results.append([(i, -s) for s, i in scored[:k]])
    return results
