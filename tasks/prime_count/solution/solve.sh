#!/bin/bash
# Reference: an odd-only sieve of Eratosthenes, processed in cache-sized segments.
cat > /app/primes.c <<'C'
#include <stdlib.h>
#include <string.h>
#include <math.h>
long count_primes(long n) {
    if (n <= 2) return 0;
    long limit = (long)sqrt((double)n) + 1;
    /* small primes up to sqrt(n) */
    char *small = calloc(limit + 1, 1);
    long *primes = malloc(sizeof(long) * (limit + 1));
    long np = 0;
    for (long i = 3; i <= limit; i += 2) {
        if (!small[i]) { primes[np++] = i; for (long j = i * i; j <= limit; j += 2 * i) small[j] = 1; }
    }
    const long SEG = 1 << 16;  /* odd numbers per segment */
    char *seg = malloc(SEG);
    long count = 1;  /* the prime 2 */
    long nodd = (n - 1) / 2;  /* odd numbers 3,5,...,< n are indices 1..nodd-? : index i -> 2i+1 */
    for (long lo = 1; lo <= nodd; lo += SEG) {
        long hi = lo + SEG; if (hi > nodd + 1) hi = nodd + 1;
        memset(seg, 0, hi - lo);
        for (long k = 0; k < np; k++) {
            long p = primes[k];
            long start = p * p;
            if (start >= 2 * hi + 1) break;
            long lo_val = 2 * lo + 1;
            if (start < lo_val) { start = ((lo_val + p - 1) / p) * p; if (start % 2 == 0) start += p; }
            for (long v = start; v < 2 * hi + 1; v += 2 * p) seg[(v - 1) / 2 - lo] = 1;
        }
        for (long i = lo; i < hi; i++) if (!seg[i - lo] && 2 * i + 1 < n) count++;
    }
    free(seg); free(primes); free(small);
    return count;
}
C
make -s -C /app
