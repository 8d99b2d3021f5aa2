/* lev.c -- reference solution of the levenshtein_batch task.
 *
 * Myers' bit-parallel algorithm (1999) in Hyyro's blocked form: the shorter
 * string is the pattern, split into 64-bit blocks; each block keeps the
 * vertical +1/-1 delta vectors of one DP column as two bit masks, and one
 * character of the text advances all 64 cells of a block with a dozen word
 * operations. The horizontal delta leaving a block is carried into the next.
 * Patterns of at most 64 bytes (the common case) take a single-word path with
 * no block loop. The match masks (Peq) are built per pair by setting and then
 * clearing only the bytes the pattern uses, so no 256-entry table is cleared.
 * No allocation happens per pair.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lev.h"

static uint64_t *peq;   /* 256 x nblocks match masks, zero between pairs */
static size_t peq_blocks;
static uint64_t *pv_buf, *mv_buf;

static void ensure_blocks(size_t w) {
    if (w <= peq_blocks) return;
    free(peq);
    free(pv_buf);
    free(mv_buf);
    peq = calloc(256 * w, sizeof(uint64_t));
    pv_buf = malloc(w * sizeof(uint64_t));
    mv_buf = malloc(w * sizeof(uint64_t));
    if (!peq || !pv_buf || !mv_buf) {
        perror("calloc");
        exit(3);
    }
    peq_blocks = w;
}

/* pattern p (1 <= m <= 64), text t */
static uint32_t myers64(const uint8_t *p, uint32_t m, const uint8_t *t, uint32_t n) {
    uint64_t eqs[256];
    /* only the entries for bytes of p are read after being set; others are read as 0 */
    for (uint32_t i = 0; i < m; i++) eqs[p[i]] = 0;
    for (uint32_t j = 0; j < n; j++) eqs[t[j]] = 0;
    for (uint32_t i = 0; i < m; i++) eqs[p[i]] |= 1ULL << i;
    uint64_t pv = ~0ULL, mv = 0, high = 1ULL << (m - 1);
    uint32_t score = m;
    for (uint32_t j = 0; j < n; j++) {
        uint64_t eq = eqs[t[j]];
        uint64_t xv = eq | mv;
        uint64_t xh = (((eq & pv) + pv) ^ pv) | eq;
        uint64_t ph = mv | ~(xh | pv);
        uint64_t mh = pv & xh;
        score += (ph & high) != 0;
        score -= (mh & high) != 0;
        ph = (ph << 1) | 1;
        mh <<= 1;
        pv = mh | ~(xv | ph);
        mv = ph & xv;
    }
    return score;
}

/* pattern p (m > 64), text t: blocks of 64 pattern bytes */
static uint32_t myers_blocks(const uint8_t *p, uint32_t m, const uint8_t *t, uint32_t n) {
    size_t w = (m + 63) / 64;
    ensure_blocks(w);
    for (uint32_t i = 0; i < m; i++) peq[(size_t)p[i] * w + i / 64] |= 1ULL << (i % 64);
    for (size_t b = 0; b < w; b++) {
        pv_buf[b] = ~0ULL;
        mv_buf[b] = 0;
    }
    uint64_t high = 1ULL << ((m - 1) % 64);
    uint32_t score = m;
    for (uint32_t j = 0; j < n; j++) {
        const uint64_t *eqrow = peq + (size_t)t[j] * w;
        int hin = 1; /* row 0 of the DP grows by one per text byte */
        for (size_t b = 0; b < w; b++) {
            uint64_t pv = pv_buf[b], mv = mv_buf[b], eq = eqrow[b];
            uint64_t xv = eq | mv;
            if (hin < 0) eq |= 1;
            uint64_t xh = (((eq & pv) + pv) ^ pv) | eq;
            uint64_t ph = mv | ~(xh | pv);
            uint64_t mh = pv & xh;
            uint64_t top = b + 1 == w ? high : (1ULL << 63);
            int hout = (ph & top) ? 1 : ((mh & top) ? -1 : 0);
            ph <<= 1;
            mh <<= 1;
            if (hin < 0)
                mh |= 1;
            else if (hin > 0)
                ph |= 1;
            pv_buf[b] = mh | ~(xv | ph);
            mv_buf[b] = ph & xv;
            hin = hout;
        }
        score += hin;
    }
    for (uint32_t i = 0; i < m; i++) peq[(size_t)p[i] * w + i / 64] = 0;
    return score;
}

void lev_batch(const lev_pair_t *pairs, size_t n, uint32_t *out) {
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = pairs[i].a, *t = pairs[i].b;
        uint32_t m = pairs[i].alen, len = pairs[i].blen;
        if (m > len) { /* the shorter string is the pattern */
            const uint8_t *x = p;
            p = t;
            t = x;
            uint32_t y = m;
            m = len;
            len = y;
        }
        if (m == 0)
            out[i] = len;
        else if (m <= 64)
            out[i] = myers64(p, m, t, len);
        else
            out[i] = myers_blocks(p, m, t, len);
    }
}
