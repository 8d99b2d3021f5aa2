"""BM25 top-k search -- reference solution.

1. One inverted index for the whole corpus, built with numpy: the (term, doc)
   pair of every token is packed into one int64 key, the keys are sorted, and
   runs of equal keys give each posting's term frequency. Postings are grouped
   by term (CSR: term_ptr), so a query term's postings are one slice.
2. The BM25 weight of every posting (idf * tf * (k1 + 1) / (tf + k1 * (1 - b +
   b * dl / avgdl))) is computed once, vectorized, with the same float
   operations in the same order as the baseline, so scores match bit for bit.
3. A query adds its terms' weight slices into a dense score array (a posting
   list never repeats a document, so fancy-index += is exact), and the top k
   come from argpartition plus a small lexsort that applies the tie rule
   (higher score first, then smaller doc id).
"""

from __future__ import annotations

import numpy as np

K1 = 1.2
B = 0.75


def bm25_topk(doc_tokens, doc_offsets, vocab_size, queries, k):
    offsets = np.asarray(doc_offsets, dtype=np.int64)
    tokens = np.asarray(doc_tokens, dtype=np.int64)
    n_docs = len(offsets) - 1
    if n_docs == 0 or k <= 0:
        return [[] for _ in queries]
    lengths = np.diff(offsets)
    avgdl = int(lengths.sum()) / n_docs

    doc_of_token = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
    keys = tokens * n_docs + doc_of_token
    keys.sort()
    if len(keys):
        first = np.empty(len(keys), dtype=bool)
        first[0] = True
        np.not_equal(keys[1:], keys[:-1], out=first[1:])
        starts = np.flatnonzero(first)
    else:
        starts = np.zeros(0, dtype=np.int64)
    tf = np.diff(np.append(starts, len(keys))).astype(np.float64)
    ukeys = keys[starts]
    terms = ukeys // n_docs
    docs = ukeys - terms * n_docs
    df = np.bincount(terms, minlength=vocab_size).astype(np.float64)
    term_ptr = np.zeros(vocab_size + 1, dtype=np.int64)
    np.cumsum(np.bincount(terms, minlength=vocab_size), out=term_ptr[1:])
    idf = np.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))
    norm = K1 * (1.0 - B + B * lengths / avgdl)
    weights = idf[terms] * tf * (K1 + 1.0) / (tf + norm[docs])

    results = []
    scores = np.zeros(n_docs, dtype=np.float64)
    for query in queries:
        touched = []
        for t in query:
            if not 0 <= t < vocab_size:
                continue
            s, e = term_ptr[t], term_ptr[t + 1]
            if s == e:
                continue
            d = docs[s:e]
            scores[d] += weights[s:e]
            touched.append(d)
        if not touched:
            results.append([])
            continue
        cand = np.unique(np.concatenate(touched)) if len(touched) > 1 else touched[0]
        cs = scores[cand]
        if len(cand) > k:
            kth = np.partition(cs, len(cs) - k)[len(cs) - k]
            keep = cs >= kth
            cand, cs = cand[keep], cs[keep]
        order = np.lexsort((cand, -cs))[:k]
        results.append([(int(cand[i]), float(cs[i])) for i in order])
        for d in touched:
            scores[d] = 0.0
    return results
