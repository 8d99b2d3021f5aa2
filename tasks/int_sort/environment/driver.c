/* driver.c -- the fixed driver (not editable).
 *
 *   prog check IN OUT   read IN (raw little-endian uint32 values), sort them with
 *                       sort_u32, write the result to OUT
 *   prog bench SEED N   generate N pseudo-random uint32 values from SEED, sort them
 *                       with sort_u32 and print
 *                           n <N>
 *                           checksum <16 hex digits>
 *                       where the checksum is an order-dependent 64-bit hash of the
 *                       sorted array (equal to the pristine baseline's only if the
 *                       output is the sorted input)
 *
 * The verifier times whole runs of this program (the CPU time of every process the
 * run starts, generating and hashing included) and compares each timed run's output
 * with the pristine baseline's on the same fresh SEED.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "solve.h"

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Page-aligned anonymous memory (ordinary pages: the cost of faulting them in is steady). */
static uint32_t *alloc_u32(size_t n) {
    void *p = mmap(NULL, n * 4 + 64, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        fprintf(stderr, "driver: out of memory\n");
        exit(2);
    }
    return p;
}

static int run_check(const char *in, const char *out) {
    int fd = open(in, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_size % 4 != 0) {
        fprintf(stderr, "driver: cannot read %s (or its size is not a multiple of 4)\n", in);
        return 2;
    }
    size_t n = (size_t)st.st_size / 4;
    uint32_t *a = alloc_u32(n);
    for (size_t got = 0; got < n * 4;) {
        ssize_t r = read(fd, (char *)a + got, n * 4 - got);
        if (r <= 0) {
            fprintf(stderr, "driver: short read on %s\n", in);
            return 2;
        }
        got += (size_t)r;
    }
    close(fd);
    sort_u32(a, n);
    FILE *f = fopen(out, "wb");
    if (!f || fwrite(a, 4, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "driver: cannot write %s\n", out);
        return 2;
    }
    return 0;
}

static int run_bench(const char *seed_s, const char *n_s) {
    uint64_t seed = strtoull(seed_s, NULL, 0);
    size_t n = (size_t)strtoull(n_s, NULL, 0);
    uint32_t *a = alloc_u32(n);
    uint64_t s = mix64(seed ^ 0x5851f42d4c957f2dull);
    for (size_t i = 0; i < n; i++) {
        s += 0x9e3779b97f4a7c15ull;
        a[i] = (uint32_t)(mix64(s) >> 32);
    }
    sort_u32(a, n);
    uint64_t h = 0x243F6A8885A308D3ull ^ n;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ a[i]) * 0x9E3779B97F4A7C15ull;
        h ^= h >> 29;
    }
    printf("n %zu\nchecksum %016" PRIx64 "\n", n, mix64(h));
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "check") == 0) return run_check(argv[2], argv[3]);
    if (argc == 4 && strcmp(argv[1], "bench") == 0) return run_bench(argv[2], argv[3]);
    fprintf(stderr, "usage: %s check IN OUT | %s bench SEED N\n", argv[0], argv[0]);
    return 2;
}
