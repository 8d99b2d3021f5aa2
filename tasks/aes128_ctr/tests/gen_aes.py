"""Trusted input generator of aes128_ctr: python3 gen_aes.py SEED PURPOSE INPUT_DIR EXPECTED_DIR.

PURPOSE "time": INPUT_DIR/args holds `SEED 100000007` for the pristine harness's own buffer
generator, a fresh seed each round; the answer is the pristine baseline's output on the same
arguments (run.toml: reference = "baseline"). "check-I": first the published FIPS-197 /
SP 800-38A vectors, then fresh keys, IVs and data (lengths 0 to 64 KiB; IVs that make the
128-bit counter carry across its 32- and 64-bit halves and wrap) as INPUT_DIR/in.bin
(key, IV, data), their ciphertext computed here by aes_ref into EXPECTED_DIR/out.bin; then
generated buffers of other sizes (args again, against the baseline).
"""

from __future__ import annotations

import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aes_ref  # noqa: E402

TIMING_LEN = 100_000_007  # bytes of the timed input
LENGTHS = [0, 1, 15, 16, 17, 31, 127, 128, 129, 1000, 4096, 65536]
GENERATED = [0, 5, 100_003, 3_000_000]


def fresh_iv(rng: random.Random, j: int) -> bytes:
    return [
        rng.randbytes(16),
        b"\xff" * 16,
        rng.randbytes(8) + b"\xff" * 7 + bytes([256 - rng.randrange(1, 40)]),
        rng.randbytes(4) + b"\xff" * 11 + bytes([256 - rng.randrange(1, 40)]),
        rng.randbytes(12) + b"\xff\xff\xff" + bytes([256 - rng.randrange(1, 40)]),
        rng.randbytes(15) + b"\xfa",
    ][j % 6]


def main() -> None:
    seed, purpose, inp, exp = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    rng = random.Random(seed)
    n_vec = len(aes_ref.VECTORS)
    total = n_vec + len(LENGTHS) + len(GENERATED)
    case = -1 if purpose == "time" else int(purpose.rpartition("-")[2]) % total
    if case < 0 or case >= n_vec + len(LENGTHS):
        length = TIMING_LEN if case < 0 else GENERATED[case - n_vec - len(LENGTHS)] + rng.randrange(16)
        with open(f"{inp}/args", "w") as fh:
            fh.write(f"{rng.randrange(1 << 62)} {length}\n")
        return
    if case < n_vec:
        aes_ref.self_test()
        key, iv, data = (bytes.fromhex(x) for x in aes_ref.VECTORS[case][:3])
    else:
        j = case - n_vec
        key, iv, data = rng.randbytes(16), fresh_iv(rng, j), rng.randbytes(LENGTHS[j] + (rng.randrange(16) if LENGTHS[j] > 4000 else 0))
    with open(f"{inp}/in.bin", "wb") as fh:
        fh.write(key + iv + data)
    with open(f"{exp}/out.bin", "wb") as fh:
        fh.write(aes_ref.ctr(key, iv, data))


if __name__ == "__main__":
    main()
