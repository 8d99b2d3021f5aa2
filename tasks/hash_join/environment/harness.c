/* harness.c -- the fixed driver of the hash_join task (not editable).
 *
 * usage: join_bench SEED NR NS KR KS
 *        join_bench --file PATH
 *        join_bench --write PATH SEED NR NS KR KS
 * The first form generates table R (NR rows, keys drawn from KR distinct
 * values) and table S (NS rows, keys drawn from KS distinct values, the first
 * KR of which are R's) from SEED; the second maps both tables from PATH
 * ("HJ01", uint32 0, uint64 NR, uint64 NS, then NR and NS rows of two
 * little-endian uint32: key, payload). Either way it calls hash_join() once and
 * prints
 *     pairs <decimal>
 *     checksum <16 hex digits>
 * The third form writes the generated tables to PATH in that format and joins
 * nothing (the verifier times the join on such a file, so that generating the
 * tables is not part of the time). Generation is a counter-based splitmix64
 * stream; keys are a bijective scramble of the drawn values, so they look like
 * arbitrary 32-bit numbers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "join.h"

static inline uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

/* murmur3's 32-bit finalizer: a bijection, so distinct values stay distinct keys. */
static inline uint32_t fmix32(uint32_t h) {
    h ^= h >> 16;
    h *= 0x85EBCA6BU;
    h ^= h >> 13;
    h *= 0xC2B2AE35U;
    h ^= h >> 16;
    return h;
}

static void fill(row_t *t, size_t n, uint64_t stream, uint32_t domain, uint32_t salt) {
    for (size_t i = 0; i < n; i++) {
        uint64_t x = splitmix64(stream + i);
        uint32_t v = (uint32_t)(((x >> 32) * (uint64_t)domain) >> 32);
        t[i].key = fmix32(v ^ salt);
        t[i].payload = (uint32_t)x;
    }
}

static row_t *alloc_rows(size_t n) {
    size_t bytes = (n ? n : 1) * sizeof(row_t);
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        fprintf(stderr, "join_bench: out of memory\n");
        exit(3);
    }
    return p;
}

static unsigned long long parse(const char *s, const char *what) {
    char *end;
    unsigned long long v = strtoull(s, &end, 0);
    if (*s == '\0' || *end != '\0') {
        fprintf(stderr, "join_bench: bad %s: %s\n", what, s);
        exit(2);
    }
    return v;
}

typedef struct {
    char magic[4];
    uint32_t zero;
    uint64_t nr, ns;
} file_header_t;

static int run_file(const char *path) {
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        perror(path);
        return 2;
    }
    file_header_t h;
    if ((size_t)st.st_size < sizeof h || pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h ||
        memcmp(h.magic, "HJ01", 4) != 0 || h.zero != 0 || h.nr > (1ULL << 32) || h.ns > (1ULL << 32) ||
        (uint64_t)st.st_size != sizeof h + (h.nr + h.ns) * sizeof(row_t)) {
        fprintf(stderr, "join_bench: %s: not a table file\n", path);
        return 2;
    }
    /* the tables are used in place, read-only, straight from the page cache */
    const uint8_t *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        perror(path);
        return 2;
    }
    close(fd);
    const row_t *r = (const row_t *)(map + sizeof h);
    join_result_t res = hash_join(r, h.nr, r + h.nr, h.ns);
    printf("pairs %" PRIu64 "\nchecksum %016" PRIx64 "\n", res.pairs, res.checksum);
    return 0;
}

static int write_file(const char *path, const row_t *r, size_t nr, const row_t *s, size_t ns) {
    FILE *f = fopen(path, "wb");
    file_header_t h = {{'H', 'J', '0', '1'}, 0, nr, ns};
    if (!f || fwrite(&h, sizeof h, 1, f) != 1 || fwrite(r, sizeof(row_t), nr, f) != nr ||
        fwrite(s, sizeof(row_t), ns, f) != ns || fclose(f) != 0) {
        perror(path);
        return 2;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--file") == 0) return run_file(argv[2]);
    const char *out = NULL;
    if (argc == 8 && strcmp(argv[1], "--write") == 0) {
        out = argv[2];
        argv += 2;
        argc -= 2;
    }
    if (argc != 6) {
        fprintf(stderr, "usage: %s SEED NR NS KR KS\n       %s --file PATH\n       %s --write PATH SEED NR NS KR KS\n",
                argv[0], argv[0], argv[0]);
        return 2;
    }
    uint64_t seed = parse(argv[1], "SEED");
    size_t nr = parse(argv[2], "NR"), ns = parse(argv[3], "NS");
    unsigned long long kr = parse(argv[4], "KR"), ks = parse(argv[5], "KS");
    if (kr < 1 || ks < kr || ks > 0xFFFFFFFFULL) {
        fprintf(stderr, "join_bench: need 1 <= KR <= KS < 2^32\n");
        return 2;
    }
    uint32_t salt = (uint32_t)splitmix64(seed ^ 0x5A17ULL);
    uint64_t base = splitmix64(seed);
    row_t *r = alloc_rows(nr);
    row_t *s = alloc_rows(ns);
    fill(r, nr, base, (uint32_t)kr, salt);
    fill(s, ns, base + (1ULL << 40), (uint32_t)ks, salt);
    if (out) return write_file(out, r, nr, s, ns);
    join_result_t res = hash_join(r, nr, s, ns);
    printf("pairs %" PRIu64 "\nchecksum %016" PRIx64 "\n", res.pairs, res.checksum);
    return 0;
}
