/* Count the primes below N: trial division by every d with d*d <= n (the baseline). */
#include <stdio.h>
#include <stdlib.h>
static int is_prime(long n) {
    if (n < 2) return 0;
    for (long d = 2; d * d <= n; d++)
        if (n % d == 0) return 0;
    return 1;
}
int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 0, count = 0;
    for (long i = 0; i < n; i++) count += is_prime(i);
    printf("%ld\n", count);
    return 0;
}
