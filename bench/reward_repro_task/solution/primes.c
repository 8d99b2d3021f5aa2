/* Reference: skip multiples of 2 and 3 (a 6k+-1 wheel), about 3x fewer divisions. */
#include <stdio.h>
#include <stdlib.h>
static int is_prime(long n) {
    if (n < 4) return n >= 2;
    if (n % 2 == 0 || n % 3 == 0) return 0;
    for (long d = 5; d * d <= n; d += 6)
        if (n % d == 0 || n % (d + 2) == 0) return 0;
    return 1;
}
int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 0, count = 0;
    for (long i = 0; i < n; i++) count += is_prime(i);
    printf("%ld\n", count);
    return 0;
}
