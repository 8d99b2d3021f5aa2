/* driver.c -- the fixed driver (not editable).
 *
 *   prog check IN OUT                IN: int32 width, height, passes, then the
 *                                    17x17 float kernel, then width*height float
 *                                    pixels (little-endian); OUT: the blurred pixels
 *   prog run SEED W H PASSES OUT     blur the W x H image generated from SEED with
 *                                    the sigma-3 Gaussian kernel, write it to OUT
 *
 * The verifier times whole runs of `run` (the CPU time of every process the run
 * starts, generating the image and writing OUT included) and compares each timed
 * run's output with the pristine baseline's on the same fresh SEED.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "solve.h"

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* the sigma-3 Gaussian: kernel[i][j] = g[i] * g[j], g normalized to sum 1 */
static void gaussian_kernel(float *k, double sigma) {
    double g[KSIZE], sum = 0;
    for (int i = 0; i < KSIZE; i++) {
        g[i] = exp(-(double)((i - KRADIUS) * (i - KRADIUS)) / (2 * sigma * sigma));
        sum += g[i];
    }
    for (int i = 0; i < KSIZE; i++)
        for (int j = 0; j < KSIZE; j++) k[i * KSIZE + j] = (float)(g[i] / sum * (g[j] / sum));
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
    if (!f || fread(hdr, 4, 3, f) != 3 || hdr[0] < 1 || hdr[1] < 1 || hdr[2] < 0) {
        fprintf(stderr, "driver: cannot read a valid header from %s\n", in);
        return 2;
    }
    size_t npix = (size_t)hdr[0] * (size_t)hdr[1];
    float *kernel = malloc(sizeof(float) * KSIZE * KSIZE);
    float *src = malloc(npix * sizeof(float));
    if (fread(kernel, sizeof(float), KSIZE * KSIZE, f) != KSIZE * KSIZE || fread(src, sizeof(float), npix, f) != npix) {
        fprintf(stderr, "driver: %s is too short\n", in);
        return 2;
    }
    fclose(f);
    float *dst = alloc_floats(npix);
    gaussian_blur(src, dst, hdr[0], hdr[1], kernel, hdr[2]);
    return write_file(out, dst, npix * sizeof(float));
}

static int run_generated(char **argv) {
    uint64_t s = mix64(strtoull(argv[2], NULL, 0) ^ 0x1b873593u);
    int w = atoi(argv[3]), h = atoi(argv[4]), passes = atoi(argv[5]);
    if (w < 1 || h < 1 || passes < 0) {
        fprintf(stderr, "driver: bad size or passes\n");
        return 2;
    }
    size_t npix = (size_t)w * (size_t)h;
    float *src = malloc(npix * sizeof(float)), *dst = alloc_floats(npix);
    float kernel[KSIZE * KSIZE];
    gaussian_kernel(kernel, 3.0);
    for (size_t i = 0; i < npix; i++) {
        s += 0x9e3779b97f4a7c15ull;
        src[i] = (float)(mix64(s) >> 40) * (1.0f / 16777216.0f); /* uniform in [0, 1) */
    }
    gaussian_blur(src, dst, w, h, kernel, passes);
    return write_file(argv[6], dst, npix * sizeof(float));
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "check") == 0) return run_check(argv[2], argv[3]);
    if (argc == 7 && strcmp(argv[1], "run") == 0) return run_generated(argv);
    fprintf(stderr, "usage: %s check IN OUT | %s run SEED W H PASSES OUT\n", argv[0], argv[0]);
    return 2;
}
