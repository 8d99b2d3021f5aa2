/* aes.c -- reference solution of the aes128_ctr task.
 *
 * Two paths, chosen once at run time with cpuid (__builtin_cpu_supports):
 *  - AES-NI: the key schedule with AESKEYGENASSIST, then eight counter blocks
 *    encrypted in parallel (AESENC has several cycles of latency but issues
 *    every cycle, so eight independent blocks keep the unit busy), the counter
 *    kept as a 128-bit big-endian number with the carry handled exactly.
 *  - T-tables (any x86-64 without AES-NI): the four 1 KiB tables that fuse
 *    SubBytes, ShiftRows and MixColumns into four lookups and XORs per column,
 *    built once from the S-box at first use.
 * Both produce the FIPS-197 / SP 800-38A keystream byte for byte.
 */
#include <string.h>
#include <immintrin.h>
#include "aes.h"

/* ---------- counter helpers ---------- */

static inline void load_ctr(const uint8_t iv[16], uint64_t *hi, uint64_t *lo) {
    uint64_t h, l;
    memcpy(&h, iv, 8);
    memcpy(&l, iv + 8, 8);
    *hi = __builtin_bswap64(h);
    *lo = __builtin_bswap64(l);
}

static inline void store_ctr(uint8_t out[16], uint64_t hi, uint64_t lo) {
    uint64_t h = __builtin_bswap64(hi), l = __builtin_bswap64(lo);
    memcpy(out, &h, 8);
    memcpy(out + 8, &l, 8);
}

/* ---------- AES-NI path ---------- */

#define AESNI __attribute__((target("aes,sse4.1")))

AESNI static inline __m128i key_step(__m128i key, __m128i gen) {
    gen = _mm_shuffle_epi32(gen, 0xff);
    key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
    key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
    key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
    return _mm_xor_si128(key, gen);
}

AESNI static void expand_ni(const uint8_t key[16], __m128i rk[11]) {
    rk[0] = _mm_loadu_si128((const __m128i *)key);
    rk[1] = key_step(rk[0], _mm_aeskeygenassist_si128(rk[0], 0x01));
    rk[2] = key_step(rk[1], _mm_aeskeygenassist_si128(rk[1], 0x02));
    rk[3] = key_step(rk[2], _mm_aeskeygenassist_si128(rk[2], 0x04));
    rk[4] = key_step(rk[3], _mm_aeskeygenassist_si128(rk[3], 0x08));
    rk[5] = key_step(rk[4], _mm_aeskeygenassist_si128(rk[4], 0x10));
    rk[6] = key_step(rk[5], _mm_aeskeygenassist_si128(rk[5], 0x20));
    rk[7] = key_step(rk[6], _mm_aeskeygenassist_si128(rk[6], 0x40));
    rk[8] = key_step(rk[7], _mm_aeskeygenassist_si128(rk[7], 0x80));
    rk[9] = key_step(rk[8], _mm_aeskeygenassist_si128(rk[8], 0x1b));
    rk[10] = key_step(rk[9], _mm_aeskeygenassist_si128(rk[9], 0x36));
}

AESNI static inline __m128i ctr_block(uint64_t hi, uint64_t lo) {
    /* big-endian 128-bit counter as bytes: byte-swap the (hi, lo) pair */
    const __m128i swap = _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    return _mm_shuffle_epi8(_mm_set_epi64x((long long)hi, (long long)lo), swap);
}

AESNI static void ctr_ni(const uint8_t key[16], const uint8_t iv[16], const uint8_t *in, uint8_t *out, size_t len) {
    __m128i rk[11];
    expand_ni(key, rk);
    uint64_t hi, lo;
    load_ctr(iv, &hi, &lo);
    size_t off = 0;
    for (; off + 128 <= len; off += 128) {
        __m128i b[8];
        if (__builtin_expect(lo <= UINT64_MAX - 7, 1)) {
            for (int i = 0; i < 8; i++) b[i] = ctr_block(hi, lo + (uint64_t)i);
            lo += 8;
            if (lo == 0) hi++; /* lo was exactly 2^64 - 8 */
        } else {
            for (int i = 0; i < 8; i++) {
                b[i] = ctr_block(hi, lo);
                if (++lo == 0) hi++;
            }
        }
        for (int i = 0; i < 8; i++) b[i] = _mm_xor_si128(b[i], rk[0]);
        for (int r = 1; r < 10; r++)
            for (int i = 0; i < 8; i++) b[i] = _mm_aesenc_si128(b[i], rk[r]);
        for (int i = 0; i < 8; i++) {
            b[i] = _mm_aesenclast_si128(b[i], rk[10]);
            __m128i d = _mm_loadu_si128((const __m128i *)(in + off + 16 * i));
            _mm_storeu_si128((__m128i *)(out + off + 16 * i), _mm_xor_si128(d, b[i]));
        }
    }
    for (; off < len; off += 16) {
        __m128i b = _mm_xor_si128(ctr_block(hi, lo), rk[0]);
        for (int r = 1; r < 10; r++) b = _mm_aesenc_si128(b, rk[r]);
        b = _mm_aesenclast_si128(b, rk[10]);
        uint8_t ks[16];
        _mm_storeu_si128((__m128i *)ks, b);
        size_t n = len - off < 16 ? len - off : 16;
        for (size_t i = 0; i < n; i++) out[off + i] = in[off + i] ^ ks[i];
        if (++lo == 0) hi++;
    }
}

/* ---------- T-table path ---------- */

static const uint8_t SBOX[256] = {
    0x63, 0x7c, 0x77, 0x7b, 0xf2, 0x6b, 0x6f, 0xc5, 0x30, 0x01, 0x67, 0x2b, 0xfe, 0xd7, 0xab, 0x76,
    0xca, 0x82, 0xc9, 0x7d, 0xfa, 0x59, 0x47, 0xf0, 0xad, 0xd4, 0xa2, 0xaf, 0x9c, 0xa4, 0x72, 0xc0,
    0xb7, 0xfd, 0x93, 0x26, 0x36, 0x3f, 0xf7, 0xcc, 0x34, 0xa5, 0xe5, 0xf1, 0x71, 0xd8, 0x31, 0x15,
    0x04, 0xc7, 0x23, 0xc3, 0x18, 0x96, 0x05, 0x9a, 0x07, 0x12, 0x80, 0xe2, 0xeb, 0x27, 0xb2, 0x75,
    0x09, 0x83, 0x2c, 0x1a, 0x1b, 0x6e, 0x5a, 0xa0, 0x52, 0x3b, 0xd6, 0xb3, 0x29, 0xe3, 0x2f, 0x84,
    0x53, 0xd1, 0x00, 0xed, 0x20, 0xfc, 0xb1, 0x5b, 0x6a, 0xcb, 0xbe, 0x39, 0x4a, 0x4c, 0x58, 0xcf,
    0xd0, 0xef, 0xaa, 0xfb, 0x43, 0x4d, 0x33, 0x85, 0x45, 0xf9, 0x02, 0x7f, 0x50, 0x3c, 0x9f, 0xa8,
    0x51, 0xa3, 0x40, 0x8f, 0x92, 0x9d, 0x38, 0xf5, 0xbc, 0xb6, 0xda, 0x21, 0x10, 0xff, 0xf3, 0xd2,
    0xcd, 0x0c, 0x13, 0xec, 0x5f, 0x97, 0x44, 0x17, 0xc4, 0xa7, 0x7e, 0x3d, 0x64, 0x5d, 0x19, 0x73,
    0x60, 0x81, 0x4f, 0xdc, 0x22, 0x2a, 0x90, 0x88, 0x46, 0xee, 0xb8, 0x14, 0xde, 0x5e, 0x0b, 0xdb,
    0xe0, 0x32, 0x3a, 0x0a, 0x49, 0x06, 0x24, 0x5c, 0xc2, 0xd3, 0xac, 0x62, 0x91, 0x95, 0xe4, 0x79,
    0xe7, 0xc8, 0x37, 0x6d, 0x8d, 0xd5, 0x4e, 0xa9, 0x6c, 0x56, 0xf4, 0xea, 0x65, 0x7a, 0xae, 0x08,
    0xba, 0x78, 0x25, 0x2e, 0x1c, 0xa6, 0xb4, 0xc6, 0xe8, 0xdd, 0x74, 0x1f, 0x4b, 0xbd, 0x8b, 0x8a,
    0x70, 0x3e, 0xb5, 0x66, 0x48, 0x03, 0xf6, 0x0e, 0x61, 0x35, 0x57, 0xb9, 0x86, 0xc1, 0x1d, 0x9e,
    0xe1, 0xf8, 0x98, 0x11, 0x69, 0xd9, 0x8e, 0x94, 0x9b, 0x1e, 0x87, 0xe9, 0xce, 0x55, 0x28, 0xdf,
    0x8c, 0xa1, 0x89, 0x0d, 0xbf, 0xe6, 0x42, 0x68, 0x41, 0x99, 0x2d, 0x0f, 0xb0, 0x54, 0xbb, 0x16,
};

static uint32_t T0[256], T1[256], T2[256], T3[256];
static int tables_ready;

static uint8_t xtime(uint8_t x) { return (uint8_t)((x << 1) ^ ((x >> 7) * 0x1b)); }

/* little-endian words: byte 0 of a column is the low byte */
static void build_tables(void) {
    for (int i = 0; i < 256; i++) {
        uint8_t s = SBOX[i], s2 = xtime(s), s3 = s2 ^ s;
        uint32_t t = (uint32_t)s2 | ((uint32_t)s << 8) | ((uint32_t)s << 16) | ((uint32_t)s3 << 24);
        T0[i] = t;
        T1[i] = (t << 8) | (t >> 24);
        T2[i] = (t << 16) | (t >> 16);
        T3[i] = (t << 24) | (t >> 8);
    }
    tables_ready = 1;
}

static void expand_tt(const uint8_t key[16], uint32_t rk[44]) {
    memcpy(rk, key, 16);
    uint8_t rcon = 1;
    for (int i = 4; i < 44; i++) {
        uint32_t t = rk[i - 1];
        if (i % 4 == 0) {
            t = (t >> 8) | (t << 24); /* RotWord on little-endian bytes */
            t = (uint32_t)SBOX[t & 0xff] | ((uint32_t)SBOX[(t >> 8) & 0xff] << 8) |
                ((uint32_t)SBOX[(t >> 16) & 0xff] << 16) | ((uint32_t)SBOX[t >> 24] << 24);
            t ^= rcon;
            rcon = xtime(rcon);
        }
        rk[i] = rk[i - 4] ^ t;
    }
}

static void encrypt_tt(const uint32_t rk[44], const uint8_t in[16], uint8_t out[16]) {
    uint32_t s0, s1, s2, s3, t0, t1, t2, t3;
    memcpy(&s0, in, 4);
    memcpy(&s1, in + 4, 4);
    memcpy(&s2, in + 8, 4);
    memcpy(&s3, in + 12, 4);
    s0 ^= rk[0];
    s1 ^= rk[1];
    s2 ^= rk[2];
    s3 ^= rk[3];
    for (int r = 1; r < 10; r++) {
        const uint32_t *k = rk + 4 * r;
        t0 = T0[s0 & 0xff] ^ T1[(s1 >> 8) & 0xff] ^ T2[(s2 >> 16) & 0xff] ^ T3[s3 >> 24] ^ k[0];
        t1 = T0[s1 & 0xff] ^ T1[(s2 >> 8) & 0xff] ^ T2[(s3 >> 16) & 0xff] ^ T3[s0 >> 24] ^ k[1];
        t2 = T0[s2 & 0xff] ^ T1[(s3 >> 8) & 0xff] ^ T2[(s0 >> 16) & 0xff] ^ T3[s1 >> 24] ^ k[2];
        t3 = T0[s3 & 0xff] ^ T1[(s0 >> 8) & 0xff] ^ T2[(s1 >> 16) & 0xff] ^ T3[s2 >> 24] ^ k[3];
        s0 = t0;
        s1 = t1;
        s2 = t2;
        s3 = t3;
    }
#define LAST(a, b, c, d)                                                                        \
    ((uint32_t)SBOX[(a) & 0xff] | ((uint32_t)SBOX[((b) >> 8) & 0xff] << 8) |                   \
     ((uint32_t)SBOX[((c) >> 16) & 0xff] << 16) | ((uint32_t)SBOX[(d) >> 24] << 24))
    t0 = LAST(s0, s1, s2, s3) ^ rk[40];
    t1 = LAST(s1, s2, s3, s0) ^ rk[41];
    t2 = LAST(s2, s3, s0, s1) ^ rk[42];
    t3 = LAST(s3, s0, s1, s2) ^ rk[43];
    memcpy(out, &t0, 4);
    memcpy(out + 4, &t1, 4);
    memcpy(out + 8, &t2, 4);
    memcpy(out + 12, &t3, 4);
}

static void ctr_tt(const uint8_t key[16], const uint8_t iv[16], const uint8_t *in, uint8_t *out, size_t len) {
    if (!tables_ready) build_tables();
    uint32_t rk[44];
    expand_tt(key, rk);
    uint64_t hi, lo;
    load_ctr(iv, &hi, &lo);
    uint8_t ctr[16], ks[16];
    for (size_t off = 0; off < len; off += 16) {
        store_ctr(ctr, hi, lo);
        encrypt_tt(rk, ctr, ks);
        size_t n = len - off < 16 ? len - off : 16;
        if (n == 16) {
            uint64_t a, b, x, y;
            memcpy(&a, in + off, 8);
            memcpy(&b, in + off + 8, 8);
            memcpy(&x, ks, 8);
            memcpy(&y, ks + 8, 8);
            a ^= x;
            b ^= y;
            memcpy(out + off, &a, 8);
            memcpy(out + off + 8, &b, 8);
        } else {
            for (size_t i = 0; i < n; i++) out[off + i] = in[off + i] ^ ks[i];
        }
        if (++lo == 0) hi++;
    }
}

void aes128_ctr(const uint8_t key[16], const uint8_t iv[16], const uint8_t *in, uint8_t *out, size_t len) {
#ifndef AES_FORCE_TTABLE /* defined only to test the fallback */
    __builtin_cpu_init();
    if (__builtin_cpu_supports("aes") && __builtin_cpu_supports("sse4.1"))
#else
    if (0)
#endif
        ctr_ni(key, iv, in, out, len);
    else
        ctr_tt(key, iv, in, out, len);
}
