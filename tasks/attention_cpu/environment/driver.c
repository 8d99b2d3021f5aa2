/* driver.c -- the fixed harness (not editable).
 *
 *   prog check IN OUT                 IN: int32 n, d, causal, then Q, K, V (n*d floats
 *                                     each, row-major, little-endian); OUT: O (n*d floats)
 *   prog run SEED N HEADS OUT         for each of HEADS heads of random n x 64 Q, K, V
 *                                     generated from SEED: attention(causal = 0), then
 *                                     attention(causal = 1); write all outputs to OUT
 *   prog bench SEED N HEADS EXPECTED  the same, then compare with the floats in file
 *                                     EXPECTED: exit status 3 if any output differs by
 *                                     more than 1e-4
 *
 * attention runs in a guarded child process (harness.h). run and bench end their
 * stdout with the line {"seconds": T}: T is the CPU time (user + system) of that
 * child (all 2 x HEADS calls) as the kernel reports it to this process, which is
 * the time the verifier compares, run against the pristine baseline in interleaved pairs.
 * Generating the inputs and comparing the result are not timed.
 */
#include "harness.h"

#include <fcntl.h>
#include <math.h>
#include <sys/stat.h>

#include "solve.h"

#define D 64
#define TOLERANCE 1e-4f

struct job {
    const float *q, *k, *v; /* heads * n * d each */
    float *o;               /* 2 * heads * n * d, shared with the parent */
    int n, d, heads, mode; /* mode: -1 = both modes for every head, else one call with causal = mode */
};

static void call_attention(void *arg) {
    struct job *j = arg;
    size_t hs = (size_t)j->n * j->d;
    if (j->mode >= 0) {
        attention(j->q, j->k, j->v, j->o, j->n, j->d, j->mode);
        return;
    }
    for (int h = 0; h < j->heads; h++)
        for (int c = 0; c < 2; c++)
            attention(j->q + h * hs, j->k + h * hs, j->v + h * hs, j->o + ((size_t)c * j->heads + h) * hs, j->n, j->d, c);
}

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
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
    float *qkv = malloc(3 * sz * sizeof(float) + 4);
    if (fread(qkv, sizeof(float), 3 * sz, f) != 3 * sz) {
        fprintf(stderr, "driver: %s is too short\n", in);
        return 2;
    }
    fclose(f);
    struct job j = {qkv, qkv + sz, qkv + 2 * sz, shared_alloc(sz * sizeof(float)), hdr[0], hdr[1], 1, hdr[2] != 0};
    double secs = 0, wall = 0;
    if (run_guarded(call_attention, &j, &secs, &wall) != 0) return 3;
    fprintf(stderr, "attention: n=%d d=%d causal=%d, %.4f s CPU, %.4f s wall\n", j.n, j.d, j.mode, secs, wall);
    return write_file(out, j.o, sz * sizeof(float));
}

static int run_generated(char **argv, int compare) {
    uint64_t s = mix64(strtoull(argv[2], NULL, 0) ^ 0x85ebca6bu);
    int n = atoi(argv[3]), heads = atoi(argv[4]);
    if (n < 1 || heads < 1) {
        fprintf(stderr, "driver: bad n or heads\n");
        return 2;
    }
    size_t sz = (size_t)heads * n * D;
    float *qkv = malloc(3 * sz * sizeof(float));
    for (size_t i = 0; i < 3 * sz; i++) {
        s += 0x9e3779b97f4a7c15ull;
        qkv[i] = (float)(mix64(s) >> 40) * (4.0f / 16777216.0f) - 2.0f; /* uniform in [-2, 2) */
    }
    struct job j = {qkv, qkv + sz, qkv + 2 * sz, shared_alloc(2 * sz * sizeof(float)), n, D, heads, -1};
    double secs = 0, wall = 0;
    if (run_guarded(call_attention, &j, &secs, &wall) != 0) return 3;
    if (!compare) {
        int rc = write_file(argv[5], j.o, 2 * sz * sizeof(float));
        if (rc) return rc;
    } else {
        /* the expected outputs are read only now, so the child never had them in memory */
        float *want = malloc(2 * sz * sizeof(float));
        FILE *f = fopen(argv[5], "rb");
        if (!f || fread(want, sizeof(float), 2 * sz, f) != 2 * sz) {
            fprintf(stderr, "driver: cannot read %zu expected floats from %s\n", 2 * sz, argv[5]);
            return 2;
        }
        fclose(f);
        float worst = 0;
        for (size_t i = 0; i < 2 * sz; i++) {
            float d = fabsf(j.o[i] - want[i]);
            if (!(d <= worst)) worst = d; /* also catches NaN */
        }
        if (!(worst <= TOLERANCE)) {
            fprintf(stderr, "attention: WRONG RESULT (max abs error %g > %g)\n", worst, TOLERANCE);
            return 3;
        }
    }
    fprintf(stderr, "attention: n=%d d=%d, %d heads x (non-causal + causal), %.4f s CPU, %.4f s wall%s\n", n, D, heads, secs, wall,
            compare ? ", ok" : "");
    report_seconds(secs);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "check") == 0) return run_check(argv[2], argv[3]);
    if (argc == 6 && strcmp(argv[1], "run") == 0) return run_generated(argv, 0);
    if (argc == 6 && strcmp(argv[1], "bench") == 0) return run_generated(argv, 1);
    fprintf(stderr, "usage: %s check IN OUT | %s run SEED N HEADS OUT | %s bench SEED N HEADS EXPECTED\n", argv[0],
            argv[0], argv[0]);
    return 2;
}
