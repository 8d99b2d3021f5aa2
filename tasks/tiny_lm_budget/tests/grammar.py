#!/usr/bin/env python3
"""The hidden language of tiny_lm_budget: a probabilistic grammar over a lexicon drawn from a seed.

Every *language* has the same structure and a fresh vocabulary: ``Lexicon(seed)``
invents pseudo-words (syllables of consonant/vowel clusters) for every word class
-- function words included -- with Zipf-like frequencies (frequent words are
shorter; how many syllables the word of each rank has is the same in every
language, so languages differ in letters, not in length), and two-letter plural,
third-person-singular and past-tense suffixes. The grammar (fixed) then writes documents:

- a document is a paragraph of sentences on one line, ended by ``"\\n"``; it has a
  *tense* (present or past, for every verb in it) and a *topic* (a few nouns and
  adjectives that it mentions far more often than the rest);
- a sentence is a statement (``.``) or a question (``?``); clauses are joined by
  a conjunction after a comma; noun phrases take a determiner that agrees in number,
  adjectives, a prepositional phrase and subject or object relative clauses (so a
  verb can agree with a subject many words back); verbs are intransitive,
  transitive or the copula with an adjective; some clauses are negated.

``Language(seed).documents(rng, n_chars)`` yields documents until ``n_chars``
characters are written. The characters used are ``VOCAB``.

    python3 grammar.py --seed 1 --chars 2000000 --out train.txt
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Iterator

VOCAB = "\n .,?abcdefghijklmnopqrstuvwxyz"
SHAPE_SEED = 7  # fixes how many syllables each word rank has, in every language
ONSETS = ["b", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z",
          "br", "dr", "gr", "kl", "pl", "st", "tr", "sk", "sh", "ch", "th", "w", "y", "j", ""]  # fmt: skip
VOWELS = ["a", "e", "i", "o", "u", "a", "e", "o", "ai", "ou", "ea", "ie"]
CODAS = ["", "", "", "n", "r", "l", "s", "m", "k", "t", "nd", "rk", "st", "x"]

# how many words of each class a language has
SIZES = {
    "noun": 600, "name": 120, "adj": 250, "iverb": 150, "tverb": 250, "adv": 60, "prep": 12,
    "det_sg": 3, "det_pl": 3, "conj": 5, "rel": 2, "neg": 1, "cop_sg": 1, "cop_pl": 1,
    "aux_sg": 1, "aux_pl": 1, "cop_past_sg": 1, "cop_past_pl": 1, "aux_past": 1, "qword": 3,
}  # fmt: skip


def _zipf(n: int, s: float = 1.0) -> list[float]:
    return [1.0 / (i + 1) ** s for i in range(n)]


class Lexicon:
    """The words of one language (every class), drawn from ``seed``."""

    def __init__(self, seed: int):
        rng = random.Random(seed)
        used: set[str] = set()

        def word(syllables: int) -> str:
            while True:
                w = "".join(
                    rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS) for _ in range(syllables)
                )
                if 2 <= len(w) <= 12 and w not in used:
                    used.add(w)
                    return w

        self.words: dict[str, list[str]] = {}
        self.weights: dict[str, list[float]] = {}
        shape = random.Random(SHAPE_SEED)  # word lengths: the same in every language
        for cls, n in SIZES.items():
            short = cls not in ("noun", "name", "adj", "iverb", "tverb", "adv")
            lengths = sorted(
                (1 if short and shape.random() < 0.8 else shape.choice([1, 2, 2, 2, 3, 3, 4]))
                for _ in range(n)
            )
            self.words[cls] = [word(k) for k in lengths]  # frequent (first) words are the shorter ones
            self.weights[cls] = _zipf(n)
        self.plural = rng.choice(["en", "ar", "is", "ou"])
        self.third = rng.choice(["et", "az", "ul", "ir"])
        self.past = rng.choice(["ed", "ok", "um", "it"])


class Language:
    """Lexicon + the fixed grammar; ``documents`` generates text."""

    def __init__(self, seed: int):
        self.lex = Lexicon(seed)

    # ---- words ----
    def _pick(self, rng: random.Random, cls: str, boost: dict[str, list[int]] | None = None) -> str:
        words = self.lex.words[cls]
        if boost and cls in boost and rng.random() < 0.5:
            return words[rng.choice(boost[cls])]
        return rng.choices(words, self.lex.weights[cls])[0]

    def _noun(self, rng: random.Random, plural: bool, doc: dict) -> str:
        w = self._pick(rng, "noun", doc["topic"])
        return w + self.lex.plural if plural else w

    def _verb(self, rng: random.Random, cls: str, plural: bool, doc: dict, base: bool = False) -> str:
        w = self._pick(rng, cls, doc["topic"])
        if base:
            return w
        if doc["past"]:
            return w + self.lex.past
        return w if plural else w + self.lex.third

    # ---- phrases ----
    def _np(self, rng: random.Random, plural: bool, doc: dict, depth: int) -> list[str]:
        if not plural and rng.random() < 0.15:
            return [self._pick(rng, "name")]
        out = [self._pick(rng, "det_pl" if plural else "det_sg")]
        r = rng.random()
        if r < 0.35:
            out.append(self._pick(rng, "adj", doc["topic"]))
            if r < 0.08:
                out.append(self._pick(rng, "adj", doc["topic"]))
        out.append(self._noun(rng, plural, doc))
        if depth < 2 and rng.random() < 0.18:
            out += [self._pick(rng, "prep")] + self._np(rng, rng.random() < 0.4, doc, depth + 1)
        if depth < 2 and rng.random() < 0.15:
            out.append(self._pick(rng, "rel"))
            if rng.random() < 0.6:  # subject relative: verb agrees with this noun
                out += self._vp(rng, plural, doc, depth + 1)
            else:  # object relative: a new subject, its own agreement
                sub_pl = rng.random() < 0.4
                out += self._np(rng, sub_pl, doc, depth + 1) + [self._verb(rng, "tverb", sub_pl, doc)]
        return out

    def _copula(self, rng: random.Random, plural: bool, doc: dict) -> str:
        if doc["past"]:
            return self._pick(rng, "cop_past_pl" if plural else "cop_past_sg")
        return self._pick(rng, "cop_pl" if plural else "cop_sg")

    def _vp(self, rng: random.Random, plural: bool, doc: dict, depth: int) -> list[str]:
        r = rng.random()
        if r < 0.2:
            out = [self._copula(rng, plural, doc)]
            if rng.random() < 0.15:
                out.append(self._pick(rng, "neg"))
            return out + [self._pick(rng, "adj", doc["topic"])]
        if r < 0.5:
            out = [self._verb(rng, "iverb", plural, doc)]
        else:
            out = [self._verb(rng, "tverb", plural, doc)] + self._np(rng, rng.random() < 0.4, doc, depth + 1)
        if rng.random() < 0.2:
            out.append(self._pick(rng, "adv"))
        if depth < 2 and rng.random() < 0.1:
            out += [self._pick(rng, "prep")] + self._np(rng, rng.random() < 0.4, doc, depth + 1)
        return out

    def _clause(self, rng: random.Random, doc: dict) -> list[str]:
        plural = rng.random() < 0.4
        return self._np(rng, plural, doc, 0) + self._vp(rng, plural, doc, 0)

    def _question(self, rng: random.Random, doc: dict) -> list[str]:
        plural = rng.random() < 0.4
        if doc["past"]:
            aux = self._pick(rng, "aux_past")
        else:
            aux = self._pick(rng, "aux_pl" if plural else "aux_sg")
        out = [aux] + self._np(rng, plural, doc, 0)
        if rng.random() < 0.5:
            out.append(self._verb(rng, "iverb", plural, doc, base=True))
        else:
            out += [self._verb(rng, "tverb", plural, doc, base=True)] + self._np(
                rng, rng.random() < 0.4, doc, 1
            )
        if rng.random() < 0.3:
            out = [self._pick(rng, "qword")] + out
        return out

    def sentence(self, rng: random.Random, doc: dict) -> str:
        if rng.random() < 0.15:
            return " ".join(self._question(rng, doc)) + "?"
        words = self._clause(rng, doc)
        while rng.random() < 0.25:
            words[-1] += ","
            words += [self._pick(rng, "conj")] + self._clause(rng, doc)
        return " ".join(words) + "."

    def document(self, rng: random.Random) -> str:
        lex = self.lex
        doc = {
            "past": rng.random() < 0.4,
            "topic": {
                "noun": rng.sample(range(len(lex.words["noun"])), 4),
                "adj": rng.sample(range(len(lex.words["adj"])), 3),
                "tverb": rng.sample(range(len(lex.words["tverb"])), 2),
                "iverb": rng.sample(range(len(lex.words["iverb"])), 2),
            },
        }
        n = rng.randint(4, 12)
        return " ".join(self.sentence(rng, doc) for _ in range(n)) + "\n"

    def documents(self, rng: random.Random, n_chars: int) -> Iterator[str]:
        written = 0
        while written < n_chars:
            d = self.document(rng)
            written += len(d)
            yield d


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, required=True, help="the language (lexicon) seed")
    ap.add_argument("--text-seed", type=int, default=None, help="the sampling seed (default: --seed + 1)")
    ap.add_argument("--chars", type=int, required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    lang = Language(args.seed)
    rng = random.Random(args.seed + 1 if args.text_seed is None else args.text_seed)
    with open(args.out, "w") as fh:
        for d in lang.documents(rng, args.chars):
            fh.write(d)


if __name__ == "__main__":
    main()
