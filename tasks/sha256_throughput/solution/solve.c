/* solve.c -- reference: SHA-256 with the x86 SHA extensions when the CPU has them,
 * an unrolled scalar compression otherwise. Both read whole 64-byte blocks
 * straight from the input (no per-byte copying); only the last partial block and
 * the padding go through a small stack buffer. See reference.md. */
#include <string.h>

#include "solve.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/* ---- portable path: unrolled rounds, big-endian word loads, 16-word schedule ---- */

static inline uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static inline uint32_t load_be32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return __builtin_bswap32(v);
}

#define S0(x) (rotr(x, 2) ^ rotr(x, 13) ^ rotr(x, 22))
#define S1(x) (rotr(x, 6) ^ rotr(x, 11) ^ rotr(x, 25))
#define s0(x) (rotr(x, 7) ^ rotr(x, 18) ^ ((x) >> 3))
#define s1(x) (rotr(x, 17) ^ rotr(x, 19) ^ ((x) >> 10))
#define CH(e, f, g) ((g) ^ ((e) & ((f) ^ (g))))
#define MAJ(a, b, c) (((a) & (b)) | ((c) & ((a) | (b))))

/* one round; the caller rotates the variable names instead of moving values */
#define ROUND(a, b, c, d, e, f, g, h, k, w)                \
    do {                                                  \
        uint32_t t1_ = (h) + S1(e) + CH(e, f, g) + (k) + (w); \
        (d) += t1_;                                       \
        (h) = t1_ + S0(a) + MAJ(a, b, c);                 \
    } while (0)

#define W16(t) (w[(t) & 15] += s1(w[((t) - 2) & 15]) + w[((t) - 7) & 15] + s0(w[((t) - 15) & 15]))

static void blocks_scalar(uint32_t st[8], const uint8_t *p, size_t nblocks) {
    for (; nblocks; nblocks--, p += 64) {
        uint32_t w[16];
        uint32_t a = st[0], b = st[1], c = st[2], d = st[3], e = st[4], f = st[5], g = st[6], h = st[7];
        for (int i = 0; i < 16; i++) w[i] = load_be32(p + 4 * i);
        for (int t = 0; t < 16; t += 8) {
            ROUND(a, b, c, d, e, f, g, h, K[t + 0], w[t + 0]);
            ROUND(h, a, b, c, d, e, f, g, K[t + 1], w[t + 1]);
            ROUND(g, h, a, b, c, d, e, f, K[t + 2], w[t + 2]);
            ROUND(f, g, h, a, b, c, d, e, K[t + 3], w[t + 3]);
            ROUND(e, f, g, h, a, b, c, d, K[t + 4], w[t + 4]);
            ROUND(d, e, f, g, h, a, b, c, K[t + 5], w[t + 5]);
            ROUND(c, d, e, f, g, h, a, b, K[t + 6], w[t + 6]);
            ROUND(b, c, d, e, f, g, h, a, K[t + 7], w[t + 7]);
        }
        for (int t = 16; t < 64; t += 8) {
            ROUND(a, b, c, d, e, f, g, h, K[t + 0], W16(t + 0));
            ROUND(h, a, b, c, d, e, f, g, K[t + 1], W16(t + 1));
            ROUND(g, h, a, b, c, d, e, f, K[t + 2], W16(t + 2));
            ROUND(f, g, h, a, b, c, d, e, K[t + 3], W16(t + 3));
            ROUND(e, f, g, h, a, b, c, d, K[t + 4], W16(t + 4));
            ROUND(d, e, f, g, h, a, b, c, K[t + 5], W16(t + 5));
            ROUND(c, d, e, f, g, h, a, b, K[t + 6], W16(t + 6));
            ROUND(b, c, d, e, f, g, h, a, K[t + 7], W16(t + 7));
        }
        st[0] += a; st[1] += b; st[2] += c; st[3] += d;
        st[4] += e; st[5] += f; st[6] += g; st[7] += h;
    }
}

/* ---- SHA-NI path (x86 SHA extensions: sha256rnds2 / sha256msg1 / sha256msg2) ---- */

#if defined(__x86_64__)
#define NI_TARGET __attribute__((target("sha,sse4.1,ssse3")))

/* four rounds of group g; cur holds W[4g..4g+3]; next/prev get their schedule updates */
#define NI_ROUNDS(g, cur)                                                           \
    msg = _mm_add_epi32(cur, _mm_loadu_si128((const __m128i *)&K[4 * (g)]));        \
    st1 = _mm_sha256rnds2_epu32(st1, st0, msg);                                     \
    msg = _mm_shuffle_epi32(msg, 0x0E);                                             \
    st0 = _mm_sha256rnds2_epu32(st0, st1, msg)
#define NI_NEXT(cur, prev, next) \
    next = _mm_sha256msg2_epu32(_mm_add_epi32(next, _mm_alignr_epi8(cur, prev, 4)), cur)
#define NI_PREV(cur, prev) prev = _mm_sha256msg1_epu32(prev, cur)

NI_TARGET static void blocks_ni(uint32_t st[8], const uint8_t *p, size_t nblocks) {
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i tmp = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&st[0]), 0xB1); /* CDAB */
    __m128i st1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&st[4]), 0x1B); /* EFGH */
    __m128i st0 = _mm_alignr_epi8(tmp, st1, 8);                                      /* ABEF */
    st1 = _mm_blend_epi16(st1, tmp, 0xF0);                                           /* CDGH */
    for (; nblocks; nblocks--, p += 64) {
        __m128i save0 = st0, save1 = st1, msg;
        __m128i m0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 0)), bswap);
        __m128i m1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16)), bswap);
        __m128i m2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 32)), bswap);
        __m128i m3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 48)), bswap);
        NI_ROUNDS(0, m0);
        NI_ROUNDS(1, m1); NI_PREV(m1, m0);
        NI_ROUNDS(2, m2); NI_PREV(m2, m1);
        NI_ROUNDS(3, m3); NI_NEXT(m3, m2, m0); NI_PREV(m3, m2);
        NI_ROUNDS(4, m0); NI_NEXT(m0, m3, m1); NI_PREV(m0, m3);
        NI_ROUNDS(5, m1); NI_NEXT(m1, m0, m2); NI_PREV(m1, m0);
        NI_ROUNDS(6, m2); NI_NEXT(m2, m1, m3); NI_PREV(m2, m1);
        NI_ROUNDS(7, m3); NI_NEXT(m3, m2, m0); NI_PREV(m3, m2);
        NI_ROUNDS(8, m0); NI_NEXT(m0, m3, m1); NI_PREV(m0, m3);
        NI_ROUNDS(9, m1); NI_NEXT(m1, m0, m2); NI_PREV(m1, m0);
        NI_ROUNDS(10, m2); NI_NEXT(m2, m1, m3); NI_PREV(m2, m1);
        NI_ROUNDS(11, m3); NI_NEXT(m3, m2, m0); NI_PREV(m3, m2);
        NI_ROUNDS(12, m0); NI_NEXT(m0, m3, m1); NI_PREV(m0, m3);
        NI_ROUNDS(13, m1); NI_NEXT(m1, m0, m2);
        NI_ROUNDS(14, m2); NI_NEXT(m2, m1, m3);
        NI_ROUNDS(15, m3);
        st0 = _mm_add_epi32(st0, save0);
        st1 = _mm_add_epi32(st1, save1);
    }
    tmp = _mm_shuffle_epi32(st0, 0x1B);                                   /* FEBA */
    st1 = _mm_shuffle_epi32(st1, 0xB1);                                   /* DCHG */
    _mm_storeu_si128((__m128i *)&st[0], _mm_blend_epi16(tmp, st1, 0xF0)); /* DCBA */
    _mm_storeu_si128((__m128i *)&st[4], _mm_alignr_epi8(st1, tmp, 8));    /* HGFE */
}

static int have_sha_ni(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int ssse3 = (c >> 9) & 1, sse41 = (c >> 19) & 1;
    if (__get_cpuid_max(0, 0) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return ssse3 && sse41 && ((b >> 29) & 1);
}
#endif

static void blocks(uint32_t st[8], const uint8_t *p, size_t nblocks) {
#if defined(__x86_64__)
    static int ni = -1;
    if (ni < 0) ni = have_sha_ni();
    if (ni) {
        blocks_ni(st, p, nblocks);
        return;
    }
#endif
    blocks_scalar(st, p, nblocks);
}

void sha256(const uint8_t *data, size_t len, uint8_t digest[32]) {
    uint32_t st[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                      0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    size_t full = len / 64;
    blocks(st, data, full);
    uint8_t tail[128] = {0};
    size_t rest = len - 64 * full;
    memcpy(tail, data + 64 * full, rest);
    tail[rest] = 0x80;
    size_t tl = rest < 56 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++) tail[tl - 1 - i] = (uint8_t)(bits >> (8 * i));
    blocks(st, tail, tl / 64);
    for (int i = 0; i < 8; i++) {
        digest[4 * i] = (uint8_t)(st[i] >> 24);
        digest[4 * i + 1] = (uint8_t)(st[i] >> 16);
        digest[4 * i + 2] = (uint8_t)(st[i] >> 8);
        digest[4 * i + 3] = (uint8_t)st[i];
    }
}
