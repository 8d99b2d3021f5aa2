"""Independent checker of the bm25_search task: BM25 in plain Python, and the tolerant answer check.

``Bm25`` builds a dict-of-dicts inverted index and scores a query by walking
its terms' postings (no numpy in the scoring). ``compare`` accepts a candidate
answer when, position by position, its documents' true scores equal the best
possible scores within the stated tolerance and its reported scores equal its
documents' true scores: so the set and order are right up to ties, and ties
(scores within tolerance) may come in either order.
"""

from __future__ import annotations

import math
from collections import Counter

K1 = 1.2
B = 0.75
REL_TOL = 1e-9
ABS_TOL = 1e-12


class Bm25:
    """``terms``: index only these (the queries' terms), which is all a check scores."""

    def __init__(self, doc_tokens, doc_offsets, terms=None) -> None:  # noqa: ANN001
        offsets = [int(x) for x in doc_offsets]
        self.n_docs = len(offsets) - 1
        self.lengths = [offsets[i + 1] - offsets[i] for i in range(self.n_docs)]
        self.avgdl = sum(self.lengths) / self.n_docs if self.n_docs else 0.0
        self.postings: dict[int, dict[int, int]] = {}
        if terms is not None and hasattr(doc_tokens, "dtype"):
            # numpy only picks the queries' tokens out; counting and scoring stay plain Python
            import numpy as np

            keep = np.isin(doc_tokens, np.fromiter(terms, dtype=np.int64))
            pairs = zip(np.repeat(np.arange(self.n_docs), self.lengths)[keep].tolist(), doc_tokens[keep].tolist())
        else:
            owner = [d for d in range(self.n_docs) for _ in range(self.lengths[d])]
            pairs = zip(owner, (int(x) for x in doc_tokens))
        counts: Counter = Counter(pairs)
        for (d, t), tf in counts.items():
            self.postings.setdefault(t, {})[d] = tf

    def idf(self, t: int) -> float:
        df = len(self.postings.get(t, ()))
        return math.log(1.0 + (self.n_docs - df + 0.5) / (df + 0.5))

    def scores(self, query: list[int]) -> dict[int, float]:
        """Every matching document's exact score (terms summed in query order)."""
        out: dict[int, float] = {}
        for t in query:
            post = self.postings.get(t)
            if not post:
                continue
            idf = self.idf(t)
            for d, tf in post.items():
                norm = K1 * (1.0 - B + B * self.lengths[d] / self.avgdl)
                out[d] = out.get(d, 0.0) + idf * tf * (K1 + 1.0) / (tf + norm)
        return out

    def topk(self, query: list[int], k: int) -> list[tuple[int, float]]:
        s = self.scores(query)
        return sorted(s.items(), key=lambda x: (-x[1], x[0]))[:k]


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def compare(index: Bm25, queries: list[list[int]], k: int, answer: list) -> str | None:
    """None when ``answer`` is right, else a one-line description of the first problem."""
    if len(answer) != len(queries):
        return f"{len(answer)} result lists for {len(queries)} queries"
    for qi, (query, hits) in enumerate(zip(queries, answer, strict=True)):
        true = index.scores(query)
        best = sorted(true.values(), reverse=True)[:k]
        if len(hits) != len(best):
            return f"query {qi} {query}: {len(hits)} hits, expected {len(best)}"
        seen: set[int] = set()
        for pos, (doc, score) in enumerate(hits):
            if doc in seen:
                return f"query {qi}: document {doc} listed twice"
            seen.add(doc)
            if doc not in true:
                return f"query {qi}: document {doc} at rank {pos + 1} matches no query term"
            if not close(score, true[doc]):
                return f"query {qi}: document {doc} reported score {score!r}, true score {true[doc]!r}"
            if not close(true[doc], best[pos]):
                return (
                    f"query {qi} {query}: rank {pos + 1} holds document {doc} (score {true[doc]!r}) "
                    f"but the rank-{pos + 1} score is {best[pos]!r}"
                )
        # exact ties (bit-identical true scores) go by smaller doc id, also across the top-k cut
        last_of: dict[float, int] = {}
        for doc, _ in hits:
            t = true[doc]
            if t in last_of and last_of[t] > doc:
                return f"query {qi}: documents {last_of[t]} and {doc} tie exactly but are not in doc-id order"
            last_of[t] = doc
        if hits and len(hits) == k:
            cut = true[hits[-1][0]]
            skipped = [d for d, t in true.items() if t == cut and d not in seen]
            if skipped and min(skipped) < last_of[cut]:
                return (
                    f"query {qi}: document {min(skipped)} ties exactly with document {last_of[cut]} "
                    f"at the top-{k} cut and has the smaller id, so it belongs in the answer"
                )
    return None
