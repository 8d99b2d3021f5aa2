/* harness.c -- the fixed driver of the levenshtein_batch task (not editable).
 *
 * usage: lev_bench SEED N MINLEN MAXLEN
 *        lev_bench --file PATH
 * The first form generates N string pairs from SEED: string a has a length
 * drawn uniformly from [MINLEN, MAXLEN] over an alphabet of 2, 4, 20 or 64
 * letters chosen per pair, and b is a copy of a with a random fraction (0 to
 * 30%) of substitutions, insertions and deletions, or, for one pair in eight,
 * an unrelated string. It calls lev_batch() once and prints
 *     pairs <N>
 *     sum <sum of the distances>
 *     checksum <16 hex digits: FNV-1a 64 over the distances as little-endian uint32>
 * The second form reads the pairs from PATH ("LV01", uint64 N, then per pair
 * uint32 alen, uint32 blen, alen bytes, blen bytes; little-endian) and prints
 * one distance per line.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lev.h"

static uint64_t rng_state;

static inline uint64_t next64(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static inline uint32_t below(uint32_t n) { /* uniform-enough in [0, n) */
    return (uint32_t)(((next64() >> 32) * (uint64_t)n) >> 32);
}

static void *xmalloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "lev_bench: out of memory\n");
        exit(3);
    }
    return p;
}

static unsigned long long parse(const char *s, const char *what) {
    char *end;
    unsigned long long v = strtoull(s, &end, 0);
    if (*s == '\0' || *end != '\0') {
        fprintf(stderr, "lev_bench: bad %s: %s\n", what, s);
        exit(2);
    }
    return v;
}

static const uint8_t ALPHA64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const uint32_t ALPHA_SIZES[4] = {2, 4, 20, 64};

static void random_string(uint8_t *dst, uint32_t len, uint32_t alpha) {
    uint64_t bits = 0;
    for (uint32_t i = 0; i < len; i++) {
        if ((i & 7) == 0) bits = next64();
        dst[i] = ALPHA64[((bits & 0xFF) * alpha) >> 8];
        bits >>= 8;
    }
}

static int run_generated(uint64_t seed, size_t n, uint32_t minlen, uint32_t maxlen) {
    rng_state = seed;
    lev_pair_t *pairs = xmalloc(n * sizeof(lev_pair_t));
    uint32_t *lens = xmalloc(2 * n * sizeof(uint32_t));
    uint32_t *alphas = xmalloc(n * sizeof(uint32_t));
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        lens[2 * i] = minlen + below(maxlen - minlen + 1);
        alphas[i] = ALPHA_SIZES[below(4)];
        total += 3 * (size_t)lens[2 * i] + 1;
    }
    uint8_t *buf = xmalloc(total), *p = buf;
    for (size_t i = 0; i < n; i++) {
        uint32_t alen = lens[2 * i], alpha = alphas[i];
        uint8_t *a = p, *b = p + alen;
        random_string(a, alen, alpha);
        uint32_t blen = 0;
        if (below(8) == 0) {
            blen = minlen + below(maxlen - minlen + 1);
            if (blen > 2 * alen + 1) blen = 2 * alen + 1;
            random_string(b, blen, alpha);
        } else {
            uint32_t rate = below(1u << 16) * 3 / 10; /* edit probability, 0..30%, in 1/65536 */
            for (uint32_t k = 0; k < alen; k++) {
                uint64_t r = next64();
                uint32_t u = (uint32_t)(r & 0xFFFF), op = (uint32_t)(r >> 16) & 3;
                uint8_t c = ALPHA64[(((r >> 24) & 0xFF) * alpha) >> 8];
                if (u >= rate || op == 0) {
                    b[blen++] = a[k]; /* keep */
                } else if (op == 1) {
                    b[blen++] = c; /* substitute */
                } else if (op == 2) {
                    /* delete */
                } else {
                    b[blen++] = c; /* insert, then keep */
                    b[blen++] = a[k];
                }
            }
        }
        pairs[i].a = a;
        pairs[i].b = b;
        pairs[i].alen = alen;
        pairs[i].blen = blen;
        p = b + blen;
    }
    uint32_t *out = xmalloc(n * sizeof(uint32_t));
    lev_batch(pairs, n, out);
    uint64_t sum = 0, h = 0xCBF29CE484222325ULL;
    for (size_t i = 0; i < n; i++) {
        sum += out[i];
        for (int k = 0; k < 4; k++) {
            h ^= (out[i] >> (8 * k)) & 0xFF;
            h *= 0x100000001B3ULL;
        }
    }
    printf("pairs %zu\nsum %" PRIu64 "\nchecksum %016" PRIx64 "\n", n, sum, h);
    return 0;
}

static void read_or_die(FILE *f, void *p, size_t bytes, const char *path) {
    if (bytes && fread(p, 1, bytes, f) != bytes) {
        fprintf(stderr, "lev_bench: %s: truncated\n", path);
        exit(2);
    }
}

static int run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 2;
    }
    char magic[4];
    uint64_t n;
    read_or_die(f, magic, 4, path);
    read_or_die(f, &n, 8, path);
    if (memcmp(magic, "LV01", 4) != 0 || n > (1ULL << 28)) {
        fprintf(stderr, "lev_bench: %s: not a pairs file\n", path);
        return 2;
    }
    lev_pair_t *pairs = xmalloc(n * sizeof(lev_pair_t));
    for (uint64_t i = 0; i < n; i++) {
        uint32_t len[2];
        read_or_die(f, len, 8, path);
        if (len[0] > (1u << 24) || len[1] > (1u << 24)) {
            fprintf(stderr, "lev_bench: %s: string too long\n", path);
            return 2;
        }
        uint8_t *a = xmalloc(len[0]), *b = xmalloc(len[1]);
        read_or_die(f, a, len[0], path);
        read_or_die(f, b, len[1], path);
        pairs[i] = (lev_pair_t){a, b, len[0], len[1]};
    }
    fclose(f);
    uint32_t *out = xmalloc(n * sizeof(uint32_t));
    lev_batch(pairs, n, out);
    for (uint64_t i = 0; i < n; i++) printf("%" PRIu32 "\n", out[i]);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--file") == 0) return run_file(argv[2]);
    if (argc != 5) {
        fprintf(stderr, "usage: %s SEED N MINLEN MAXLEN\n       %s --file PATH\n", argv[0], argv[0]);
        return 2;
    }
    uint64_t seed = parse(argv[1], "SEED");
    size_t n = parse(argv[2], "N");
    unsigned long long minlen = parse(argv[3], "MINLEN"), maxlen = parse(argv[4], "MAXLEN");
    if (minlen > maxlen || maxlen > 100000) {
        fprintf(stderr, "lev_bench: need MINLEN <= MAXLEN <= 100000\n");
        return 2;
    }
    return run_generated(seed, n, (uint32_t)minlen, (uint32_t)maxlen);
}
