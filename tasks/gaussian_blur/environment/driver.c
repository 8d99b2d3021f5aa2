/* driver.c -- the fixed harness (not editable).
 *
 *   prog check IN OUT                      IN: int32 width, height, passes, then the
 *                                          17x17 float kernel, then width*height float
 *                                          pixels (little-endian); OUT: the blurred pixels
 *   prog run SEED W H PASSES OUT           blur the W x H image generated from SEED with
 *                                          the sigma-3 Gaussian kernel, write it to OUT
 *   prog bench SEED W H PASSES EXPECTED    the same, then compare with the pixels in file
 *                                          EXPECTED: exit status 3 if any pixel differs by
 *                                          more than 1e-4
 *
 * gaussian_blur runs in a guarded child process (harness.h). run and bench end their
 * stdout with the line {"seconds": T}: T is the CPU time (user + system) of that
 * child as the kernel reports it to this process, which is the time the verifier compares, run
 * against the pristine baseline in interleaved pairs. Generating the image and
 * comparing the result are not timed.
 */
#include "harness.h"

#include <fcntl.h>
#include <math.h>
#include <sys/stat.h>

#include "solve.h"

#define TOLERANCE 1e-4f

struct job {
    const float *src;
    float *dst; /* shared with the parent */
    int w, h, passes;
    const float *kernel;
};

static void call_blur(void *arg) {
    struct job *j = arg;
    gaussian_blur(j->src, j->dst, j->w, j->h, j->kernel, j->passes);
}

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
    struct job j = {src, shared_alloc(npix * sizeof(float)), hdr[0], hdr[1], hdr[2], kernel};
    double secs = 0, wall = 0;
    if (run_guarded(call_blur, &j, &secs, &wall) != 0) return 3;
    fprintf(stderr, "gaussian_blur: %dx%d, %d passes, %.4f s CPU, %.4f s wall\n", j.w, j.h, j.passes, secs, wall);
    return write_file(out, j.dst, npix * sizeof(float));
}

static int run_generated(int argc, char **argv, int compare) {
    uint64_t s = mix64(strtoull(argv[2], NULL, 0) ^ 0x1b873593u);
    int w = atoi(argv[3]), h = atoi(argv[4]), passes = atoi(argv[5]);
    if (w < 1 || h < 1 || passes < 0) {
        fprintf(stderr, "driver: bad size or passes\n");
        return 2;
    }
    (void)argc;
    size_t npix = (size_t)w * (size_t)h;
    float *src = malloc(npix * sizeof(float));
    float kernel[KSIZE * KSIZE];
    gaussian_kernel(kernel, 3.0);
    for (size_t i = 0; i < npix; i++) {
        s += 0x9e3779b97f4a7c15ull;
        src[i] = (float)(mix64(s) >> 40) * (1.0f / 16777216.0f); /* uniform in [0, 1) */
    }
    struct job j = {src, shared_alloc(npix * sizeof(float)), w, h, passes, kernel};
    double secs = 0, wall = 0;
    if (run_guarded(call_blur, &j, &secs, &wall) != 0) return 3;
    if (!compare) {
        int rc = write_file(argv[6], j.dst, npix * sizeof(float));
        if (rc) return rc;
    } else {
        /* the expected pixels are read only now, so the child never had them in memory */
        float *want = malloc(npix * sizeof(float));
        FILE *f = fopen(argv[6], "rb");
        if (!f || fread(want, sizeof(float), npix, f) != npix) {
            fprintf(stderr, "driver: cannot read %zu expected pixels from %s\n", npix, argv[6]);
            return 2;
        }
        fclose(f);
        float worst = 0;
        for (size_t i = 0; i < npix; i++) {
            float d = fabsf(j.dst[i] - want[i]);
            if (!(d <= worst)) worst = d; /* also catches NaN */
        }
        if (!(worst <= TOLERANCE)) {
            fprintf(stderr, "gaussian_blur: WRONG RESULT (max abs error %g > %g)\n", worst, TOLERANCE);
            return 3;
        }
    }
    fprintf(stderr, "gaussian_blur: %dx%d, %d passes, %.4f s CPU, %.4f s wall%s\n", w, h, passes, secs, wall, compare ? ", ok" : "");
    report_seconds(secs);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "check") == 0) return run_check(argv[2], argv[3]);
    if (argc == 7 && strcmp(argv[1], "run") == 0) return run_generated(argc, argv, 0);
    if (argc == 7 && strcmp(argv[1], "bench") == 0) return run_generated(argc, argv, 1);
    fprintf(stderr, "usage: %s check IN OUT | %s run SEED W H PASSES OUT | %s bench SEED W H PASSES EXPECTED\n",
            argv[0], argv[0], argv[0]);
    return 2;
}
