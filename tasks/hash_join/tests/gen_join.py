"""Trusted input generator of hash_join: python3 gen_join.py SEED PURPOSE INPUT_DIR EXPECTED_DIR.

PURPOSE "time": INPUT_DIR/args holds `SEED 1000000 40000000 500000 8000000` for the
pristine harness's own generator (harness.c), a fresh seed each round; the answer is
the pristine baseline's output on the same arguments (run.toml: reference = "baseline").
PURPOSE "check-0" .. "check-6": generated tables of other shapes (empty sides, one row,
few keys, many duplicates, a 3,000,000-row S), "check-7" .. "check-10": table files with
arbitrary keys (0 and 0xFFFFFFFF among them); for both, check_join's independent numpy
join writes the exact expected stdout to EXPECTED_DIR/stdout.
"""

import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_join  # noqa: E402

TIMING = (1_000_000, 40_000_000, 500_000, 8_000_000)  # NR NS KR KS of the timed input
GENERATED = [  # NR NS KR KS
    (0, 1000, 10, 100),
    (1000, 0, 10, 100),
    (1, 5000, 1, 2),
    (7000, 300_000, 3500, 56_000),
    (300, 60_000, 3, 6),
    (20_000, 400_000, 10_000, 10_000),
    (200_000, 3_000_000, 100_000, 1_600_000),
]
FILES = [(0, 50, 5), (50, 0, 5), (2000, 80_000, 40), (30_000, 200_000, 20_000)]  # NR NS key pool


def main() -> None:
    seed, purpose, inp, exp = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    rng = random.Random(seed)
    case = -1 if purpose == "time" else int(purpose.rpartition("-")[2]) % (len(GENERATED) + len(FILES))
    if case < len(GENERATED):
        shape = TIMING if case < 0 else GENERATED[case]
        s = rng.randrange(1 << 62)
        with open(f"{inp}/args", "w") as fh:
            fh.write(" ".join(map(str, (s, *shape))) + "\n")
        if case >= 0:
            with open(f"{exp}/stdout", "w") as fh:
                fh.write(check_join.expected(s, *shape))
        return
    nr, ns, pool = FILES[case - len(GENERATED)]
    r, s_rows = check_join.random_tables(check_join.np.random.default_rng(seed), nr, ns, pool)
    check_join.write_tables(f"{inp}/tables.bin", r, s_rows)
    with open(f"{exp}/stdout", "w") as fh:
        fh.write(check_join.expected_tables(r, s_rows))


if __name__ == "__main__":
    main()
