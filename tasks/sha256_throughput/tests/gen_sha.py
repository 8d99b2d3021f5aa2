"""Trusted input generator of sha256_throughput: python3 gen_sha.py SEED PURPOSE INPUT_DIR EXPECTED_DIR.

PURPOSE "time": INPUT_DIR/args holds `SEED 805306368` for the pristine driver's own data generator
(`prog bench`, 768 MiB: a 64 MiB block repeated), a fresh seed each round; the answer is the pristine baseline's digest on
the same arguments (run.toml: reference = "baseline"). "check-0" to "check-3": messages as
INPUT_DIR/NNN.bin with INPUT_DIR/list naming each file and the buffer offset (0-63) to hash it
at, their hashlib digests in EXPECTED_DIR/digests, one a line: every length 0-129 (check-0);
lengths around 192, 256, 4096 and 65536 bytes, runs of 0x00 and 0xff (check-1); three of 100 kB
to 2 MB (check-2); one of 30 to 40 MiB (check-3). "check-4": `prog bench` on a fresh length of 1
to 5 MiB, against the baseline.
"""

from __future__ import annotations

import hashlib
import random
import sys

LEN_TIMING = 768 << 20


def messages(rng: random.Random, which: int) -> list[bytes]:
    if which == 0:
        lens = list(range(130))
    elif which == 1:
        lens = [191, 192, 193, 255, 256, 257, 1000, 4095, 4096, 4097, 65535, 65536, 65537]
    elif which == 2:
        lens = [rng.randrange(100_000, 2_000_000) for _ in range(3)]
    else:
        lens = [rng.randrange(30 << 20, 40 << 20)]
    out = [rng.randbytes(n) for n in lens]
    if which == 1:
        out += [b"\x00" * rng.randrange(1000, 5000), b"\xff" * rng.randrange(1000, 5000)]
    return out


def main() -> None:
    seed, purpose, inp, exp = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    rng = random.Random(seed)
    which = -1 if purpose == "time" else int(purpose.rpartition("-")[2]) % 5
    if which in (-1, 4):
        n = LEN_TIMING if which < 0 else rng.randrange(1 << 20, 5 << 20)
        with open(f"{inp}/args", "w") as fh:
            fh.write(f"{rng.randrange(1 << 62)} {n}\n")
        return
    listing, digests = [], []
    for i, m in enumerate(messages(rng, which)):
        with open(f"{inp}/{i:03d}.bin", "wb") as fh:
            fh.write(m)
        listing.append(f"{i:03d}.bin {rng.randrange(64)}\n")
        digests.append(hashlib.sha256(m).hexdigest() + "\n")
    with open(f"{inp}/list", "w") as fh:
        fh.writelines(listing)
    with open(f"{exp}/digests", "w") as fh:
        fh.writelines(digests)


if __name__ == "__main__":
    main()
