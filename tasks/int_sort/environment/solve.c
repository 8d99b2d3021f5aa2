/* solve.c -- the baseline: the C library's qsort with a comparison callback.
 * This is the file you optimize. */
#include <stdlib.h>

#include "solve.h"

static int cmp_u32(const void *pa, const void *pb) {
    uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
    return (a > b) - (a < b);
}

void sort_u32(uint32_t *a, size_t n) {
    qsort(a, n, sizeof a[0], cmp_u32);
}
