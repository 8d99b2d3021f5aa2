/* driver.c -- the fixed driver (not editable).
 *
 *   prog check IN OUT             IN: int32 n, d, causal, then Q, K, V (n*d floats
 *                                 each, row-major, little-endian); OUT: O (n*d floats)
 *   prog run SEED N HEADS OUT     for each of HEADS heads of random n x 64 Q, K, V
 *                                 generated from SEED: attention(causal = 0), then
 *                                 attention(causal = 1); write all outputs to OUT
 *                                 (the HEADS non-causal outputs, then the causal ones)
 *
 * The verifier times whole runs of `run` (the CPU time of every process the run
 * starts, generating the inputs and writing OUT included) and compares each timed
 * run's output with the pristine baseline's on the same fresh SEED.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "solve.h"

#define D 64

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Page-aligned, zero-filled memory (the output buffer's alignment is the same in every run). */
static float *alloc_floats(size_t n) {
    void *p = mmap(NULL, n * sizeof(float) + 64, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        fprintf(stderr, "driver: out of memory\n");
        exit(2);
    }
    return p;
}

static int write_file(const char *path, const void *data, size_t bytes) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, bytes, f) != bytes || fclose(f) != 0) {
        fprintf(stderr, "driver: cannot write %s\n", path);
        return 2;
    }
    return 0;
}

static int run_check(const char *in, const char *out) {
    FILE *f = fopen(in, "rb");
    int32_t hdr[3];
    if (!f || fread(hdr, 4, 3, f) != 3 || hdr[0] < 0 || hdr[1] < 1) {
        fprintf(stderr, "driver: cannot read a valid header from %s\n", in);
        return 2;
    }
    size_t sz = (size_t)hdr[0] * (size_t)hdr[1];
    float *qkv = malloc(3 * sz * sizeof(float) + 4), *o = alloc_floats(sz);
    if (fread(qkv, sizeof(float), 3 * sz, f) != 3 * sz) {
        fprintf(stderr, "driver: %s is too short\n", in);
        return 2;
    }
    fclose(f);
    attention(qkv, qkv + sz, qkv + 2 * sz, o, hdr[0], hdr[1], hdr[2] != 0);
    return write_file(out, o, sz * sizeof(float));
}

static int run_generated(char **argv) {
    uint64_t s = mix64(strtoull(argv[2], NULL, 0) ^ 0x85ebca6bu);
    int n = atoi(argv[3]), heads = atoi(argv[4]);
    if (n < 1 || heads < 1) {
        fprintf(stderr, "driver: bad n or heads\n");
        return 2;
    }
    size_t hs = (size_t)n * D, sz = (size_t)heads * hs;
    float *qkv = malloc(3 * sz * sizeof(float)), *o = alloc_floats(2 * sz);
    for (size_t i = 0; i < 3 * sz; i++) {
        s += 0x9e3779b97f4a7c15ull;
        qkv[i] = (float)(mix64(s) >> 40) * (4.0f / 16777216.0f) - 2.0f; /* uniform in [-2, 2) */
    }
    const float *q = qkv, *k = qkv + sz, *v = qkv + 2 * sz;
    for (int h = 0; h < heads; h++)
        for (int c = 0; c < 2; c++)
            attention(q + h * hs, k + h * hs, v + h * hs, o + ((size_t)c * heads + h) * hs, n, D, c);
    return write_file(argv[5], o, 2 * sz * sizeof(float));
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "check") == 0) return run_check(argv[2], argv[3]);
    if (argc == 6 && strcmp(argv[1], "run") == 0) return run_generated(argv);
    fprintf(stderr, "usage: %s check IN OUT | %s run SEED N HEADS OUT\n", argv[0], argv[0]);
    return 2;
}
