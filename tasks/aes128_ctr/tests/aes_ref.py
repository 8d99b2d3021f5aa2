"""Independent checker of the aes128_ctr task: AES-128 and CTR mode in pure Python.

The S-box is computed from its definition (multiplicative inverse in GF(2^8)
followed by the affine map), not copied from a table, and the cipher follows
FIPS-197 section 5.1 literally on a 4x4 byte state. ``self_test`` checks the
FIPS-197 appendix examples and the SP 800-38A CTR-AES128 vector before any
candidate is judged by it.
"""

from __future__ import annotations


def _gmul(a: int, b: int) -> int:
    p = 0
    while b:
        if b & 1:
            p ^= a
        a = ((a << 1) ^ 0x11B) if a & 0x80 else (a << 1)
        b >>= 1
    return p


def _sbox() -> list[int]:
    box = []
    for x in range(256):
        inv = 0 if x == 0 else next(y for y in range(1, 256) if _gmul(x, y) == 1)
        s = inv
        for k in range(1, 5):
            s ^= ((inv << k) | (inv >> (8 - k))) & 0xFF
        box.append(s ^ 0x63)
    return box


SBOX = _sbox()
MUL2 = [_gmul(x, 2) for x in range(256)]
MUL3 = [_gmul(x, 3) for x in range(256)]


def expand_key(key: bytes) -> list[list[int]]:
    """The 11 round keys, each 16 bytes in column-major order (FIPS-197 5.2)."""
    assert len(key) == 16
    w = [list(key[i : i + 4]) for i in range(0, 16, 4)]
    rcon = 1
    for i in range(4, 44):
        t = list(w[i - 1])
        if i % 4 == 0:
            t = [SBOX[b] for b in t[1:] + t[:1]]
            t[0] ^= rcon
            rcon = _gmul(rcon, 2)
        w.append([a ^ b for a, b in zip(w[i - 4], t, strict=True)])
    return [sum(w[4 * r : 4 * r + 4], []) for r in range(11)]


def encrypt_block(round_keys: list[list[int]], block: bytes) -> bytes:
    s = [b ^ k for b, k in zip(block, round_keys[0], strict=True)]  # s[r + 4c]
    for rnd in range(1, 11):
        s = [SBOX[b] for b in s]
        s = [s[r + 4 * ((c + r) % 4)] for c in range(4) for r in range(4)]
        if rnd < 10:
            out = []
            for c in range(4):
                a0, a1, a2, a3 = s[4 * c : 4 * c + 4]
                out += [
                    MUL2[a0] ^ MUL3[a1] ^ a2 ^ a3,
                    a0 ^ MUL2[a1] ^ MUL3[a2] ^ a3,
                    a0 ^ a1 ^ MUL2[a2] ^ MUL3[a3],
                    MUL3[a0] ^ a1 ^ a2 ^ MUL2[a3],
                ]
            s = out
        s = [b ^ k for b, k in zip(s, round_keys[rnd], strict=True)]
    return bytes(s)


def ctr(key: bytes, iv: bytes, data: bytes) -> bytes:
    """AES-128-CTR with a 128-bit big-endian counter starting at ``iv`` (SP 800-38A)."""
    rk = expand_key(key)
    counter = int.from_bytes(iv, "big")
    out = bytearray()
    for off in range(0, len(data), 16):
        ks = encrypt_block(rk, counter.to_bytes(16, "big"))
        chunk = data[off : off + 16]
        out += bytes(a ^ b for a, b in zip(chunk, ks, strict=False))
        counter = (counter + 1) % (1 << 128)
    return bytes(out)


# (key, counter block / iv, plaintext, ciphertext)
VECTORS = [
    # FIPS-197 Appendix B (one block: CTR over a zero block yields AES_k(iv))
    (
        "2b7e151628aed2a6abf7158809cf4f3c",
        "3243f6a8885a308d313198a2e0370734",
        "00" * 16,
        "3925841d02dc09fbdc118597196a0b32",
    ),
    # FIPS-197 Appendix C.1
    (
        "000102030405060708090a0b0c0d0e0f",
        "00112233445566778899aabbccddeeff",
        "00" * 16,
        "69c4e0d86a7b0430d8cdb78070b4c55a",
    ),
    # SP 800-38A F.5.1 CTR-AES128.Encrypt
    (
        "2b7e151628aed2a6abf7158809cf4f3c",
        "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
        "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
        "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710",
        "874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff"
        "5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee",
    ),
]


def self_test() -> None:
    for key, iv, pt, ct in VECTORS:
        got = ctr(bytes.fromhex(key), bytes.fromhex(iv), bytes.fromhex(pt))
        if got != bytes.fromhex(ct):
            raise AssertionError(f"aes_ref self-test failed for key {key}")
