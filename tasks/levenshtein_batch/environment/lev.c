/* lev.c -- the baseline batch Levenshtein distance (this is the file you optimize).
 *
 * The textbook dynamic program: for each pair, allocate the full
 * (alen+1) x (blen+1) matrix, fill it row by row, read the corner.
 */
#include <stdio.h>
#include <stdlib.h>
#include "lev.h"

static uint32_t min3(uint32_t x, uint32_t y, uint32_t z) {
    uint32_t m = x < y ? x : y;
    return m < z ? m : z;
}

static uint32_t levenshtein(const uint8_t *a, uint32_t n, const uint8_t *b, uint32_t m) {
    size_t cols = (size_t)m + 1;
    uint32_t *d = malloc(((size_t)n + 1) * cols * sizeof(uint32_t));
    if (!d) {
        perror("malloc");
        exit(3);
    }
    for (size_t j = 0; j <= m; j++) d[j] = (uint32_t)j;
    for (size_t i = 1; i <= n; i++) {
        d[i * cols] = (uint32_t)i;
        for (size_t j = 1; j <= m; j++) {
            uint32_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            d[i * cols + j] = min3(d[(i - 1) * cols + j] + 1,      /* delete a[i-1] */
                                   d[i * cols + j - 1] + 1,        /* insert b[j-1] */
                                   d[(i - 1) * cols + j - 1] + cost); /* substitute or keep */
        }
    }
    uint32_t result = d[(size_t)n * cols + m];
    free(d);
    return result;
}

void lev_batch(const lev_pair_t *pairs, size_t n, uint32_t *out) {
    for (size_t i = 0; i < n; i++) {
        out[i] = levenshtein(pairs[i].a, pairs[i].alen, pairs[i].b, pairs[i].blen);
    }
}
