#include <stdio.h>
#include <stdlib.h>
long count_primes(long n);
int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: primes N [N...]\n"); return 2; }
    for (int i = 1; i < argc; i++) printf("%ld\n", count_primes(atol(argv[i])));
    return 0;
}
