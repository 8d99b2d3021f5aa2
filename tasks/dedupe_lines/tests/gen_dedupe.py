"""Trusted input generator of dedupe_lines: python3 gen_dedupe.py SEED PURPOSE INPUT_DIR EXPECTED_DIR.

PURPOSE "time": the 20,000 timed lines (about 10,000 distinct); "check": a few hundred
to a few thousand lines with varied repetition and unusual characters. The expected
answer (first occurrences in order) is computed here, never by the program under test.
"""
import random
import sys

seed, purpose, inp, exp = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
rng = random.Random(seed)
if purpose == "time":
    n = 20_000
    lines = [f"line-{rng.randrange(n // 2)}" for _ in range(n)]
else:
    n = rng.randrange(1, 3000)
    alphabet = ["a", "b", "é", "ü", "\t", " ", "x" * 40, "ß", "0", ""]
    vocab = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 6))) for _ in range(max(1, n // rng.randrange(1, 8)))]
    lines = [rng.choice(vocab) for _ in range(n)]
with open(f"{inp}/lines.txt", "w", encoding="utf-8") as fh:
    fh.write("\n".join(lines))
with open(f"{exp}/lines.txt", "w", encoding="utf-8") as fh:
    fh.write("\n".join(dict.fromkeys(lines)))
