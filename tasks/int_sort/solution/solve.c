/* Reference: LSD radix sort, 3 passes of 11 bits (the top pass has 10 bits).
 * One read pass builds all three histograms; each scatter pass reads the source
 * sequentially and writes to 2048 bucket cursors; passes whose keys all fall in a
 * single bucket are skipped. Small arrays use insertion sort. */
#include <stdlib.h>
#include <string.h>

#include "solve.h"

#define RBITS 11
#define RSIZE (1u << RBITS)
#define RMASK (RSIZE - 1)

static void insertion_sort(uint32_t *a, size_t n) {
    for (size_t i = 1; i < n; i++) {
        uint32_t v = a[i];
        size_t j = i;
        while (j > 0 && a[j - 1] > v) { a[j] = a[j - 1]; j--; }
        a[j] = v;
    }
}

void sort_u32(uint32_t *a, size_t n) {
    if (n < 64) { insertion_sort(a, n); return; }
    uint32_t *tmp = malloc(n * sizeof *tmp);
    if (!tmp) {  /* no memory for the scratch buffer: fall back to a slow but in-place sort */
        insertion_sort(a, n);
        return;
    }
    static size_t hist[3][RSIZE];
    memset(hist, 0, sizeof hist);
    for (size_t i = 0; i < n; i++) {
        uint32_t v = a[i];
        hist[0][v & RMASK]++;
        hist[1][(v >> RBITS) & RMASK]++;
        hist[2][v >> (2 * RBITS)]++;
    }
    uint32_t *src = a, *dst = tmp;
    for (int p = 0; p < 3; p++) {
        size_t *h = hist[p];
        int shift = p * RBITS;
        /* skip a pass where every key has the same digit */
        uint32_t d0 = (src[0] >> shift) & RMASK;
        if (h[d0] == n) continue;
        size_t sum = 0;
        for (unsigned b = 0; b < RSIZE; b++) { size_t c = h[b]; h[b] = sum; sum += c; }
        for (size_t i = 0; i < n; i++) {
            uint32_t v = src[i];
            dst[h[(v >> shift) & RMASK]++] = v;
        }
        uint32_t *t = src; src = dst; dst = t;
    }
    if (src != a) memcpy(a, src, n * sizeof *a);
    free(tmp);
}
