"""Trusted input generator of levenshtein_batch: python3 gen_lev.py SEED PURPOSE INPUT_DIR EXPECTED_DIR.

PURPOSE "time": INPUT_DIR/args holds `SEED 100000 16 256` for the pristine harness's
own generator (harness.c: lengths 16..256, alphabets of 2, 4, 20 or 64 letters, 7 in 8
pairs a mutated copy), a fresh seed each round; the answer is the pristine baseline's
output on the same arguments (run.toml: reference = "baseline"). PURPOSE "check-0" and
"check-1": a pairs file (the `lev_bench --file` format) of check_lev's edge cases (empty
strings, word-boundary lengths, every byte value, long strings) with the distances
computed here, by check_lev's own Myers, into EXPECTED_DIR/distances; "check-2" on:
generated batches of other shapes (empty, tiny, medium, long strings), again against
the baseline's output.
"""

import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_lev  # noqa: E402

TIMING = (100_000, 16, 256)  # N MINLEN MAXLEN of the timed batch
FILES = [(600, 300), (150, 2000)]  # pairs files: count, longest string
GENERATED = [(0, 0, 10), (3000, 0, 8), (4000, 16, 256), (500, 60, 70), (60, 600, 1400)]


def main() -> None:
    seed, purpose, inp, exp = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    rng = random.Random(seed)
    case = -1 if purpose == "time" else int(purpose.rpartition("-")[2]) % (len(FILES) + len(GENERATED))
    if case < 0 or case >= len(FILES):
        shape = TIMING if case < 0 else GENERATED[case - len(FILES)]
        with open(f"{inp}/args", "w") as fh:
            fh.write(" ".join(map(str, (rng.randrange(1 << 62), *shape))) + "\n")
        return
    n, max_len = FILES[case]
    pairs = check_lev.random_pairs(rng, n, max_len)
    check_lev.write_pairs(f"{inp}/pairs.bin", pairs)
    with open(f"{exp}/distances", "w") as fh:
        fh.write("".join(f"{check_lev.distance(a, b)}\n" for a, b in pairs))


if __name__ == "__main__":
    main()
