/* Count the primes p < n. Baseline: trial division. */
long count_primes(long n) {
    long count = 0;
    for (long k = 2; k < n; k++) {
        int prime = 1;
        if (k > 2 && k % 2 == 0) continue;
        for (long d = 3; d * d <= k; d += 2) {
            if (k % d == 0) { prime = 0; break; }
        }
        if (prime) count++;
    }
    return count;
}
