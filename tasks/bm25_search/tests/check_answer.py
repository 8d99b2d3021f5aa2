"""Trusted check of bm25_search: python3 check_answer.py SRC_DIR CORPUS ANSWER [PURPOSE_FILE REFERENCE_ANSWER].

(`check_answer.py --imports SRC_DIR`: only the import rule, run.toml's screen step.)

Refuses a search.py (in SRC_DIR) that imports anything beyond numpy and the standard
library, then checks the answer the pristine driver wrote (JSON). On a timed input
with the pristine baseline's answer to the same corpus (REFERENCE_ANSWER) an answer
that lists the same documents with the same scores (within tolerance) is right, with
no index to build; anything else (a tie broken the other way, a wrong hit) and every
correctness input go to check_bm25's independent BM25. Never imports search.py.
Exit 0 when right; otherwise one line on stdout says what is wrong.
"""

from __future__ import annotations

import ast
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, "/orig")
import bench  # noqa: E402  (the pristine corpus reader)
import check_bm25  # noqa: E402

BANNED_STDLIB = {"ctypes", "subprocess", "multiprocessing", "concurrent", "threading", "_thread", "socket"}


class Failure(Exception):
    pass


def check_imports(path: str) -> None:
    try:
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError) as exc:
        raise Failure(f"search.py cannot be parsed: {exc}") from None
    allowed = set(sys.stdlib_module_names) - BANNED_STDLIB | {"numpy", "__future__"}
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            if name.split(".")[0] not in allowed:
                raise Failure(f"search.py imports {name}: only numpy and the standard library are allowed")


def same_as_reference(answer: list, reference: list) -> bool:
    """Every query lists exactly the reference's documents, in its order, with its scores."""
    if not isinstance(answer, list) or len(answer) != len(reference):
        return False
    for hits, ref in zip(answer, reference, strict=True):
        if not isinstance(hits, list) or len(hits) != len(ref):
            return False
        for hit, (doc, score) in zip(hits, ref, strict=True):
            if not (isinstance(hit, list) and len(hit) == 2 and hit[0] == doc):
                return False
            if not isinstance(hit[1], float) or not check_bm25.close(hit[1], score):
                return False
    return True


def main() -> None:
    if sys.argv[1] == "--imports":  # the screen step: the import rule alone, before any run
        check_imports(os.path.join(sys.argv[2], "search.py"))
        return
    src, corpus_path, answer_path = sys.argv[1:4]
    check_imports(os.path.join(src, "search.py"))
    try:
        with open(answer_path) as f:
            answer = json.load(f)
    except (OSError, ValueError) as exc:
        raise Failure(f"no readable answer: {exc}") from None
    purpose_file = sys.argv[4] if len(sys.argv) > 4 else ""
    ref_path = sys.argv[5] if len(sys.argv) > 5 else ""
    timed = False
    if os.path.isfile(purpose_file):
        with open(purpose_file) as f:
            timed = f.read().strip() == "time"
    if timed and os.path.isfile(ref_path):
        with open(ref_path) as f:
            if same_as_reference(answer, json.load(f)):
                return
    corpus = bench.load_corpus(corpus_path)
    terms = {t for q in corpus["queries"] for t in q}
    index = check_bm25.Bm25(corpus["doc_tokens"], corpus["doc_offsets"], terms)
    problem = check_bm25.compare(index, corpus["queries"], corpus["k"], answer)
    if problem:
        raise Failure(problem)


if __name__ == "__main__":
    try:
        main()
    except Failure as exc:
        print(exc)
        sys.exit(1)
