/* solve.c -- reference: separable Gaussian blur.
 *
 * The kernel is the outer product g gT of a 1-D Gaussian, so each pass is a
 * horizontal 17-tap pass into a scratch image followed by a vertical 17-tap pass
 * (34 multiply-adds per pixel instead of 289). Borders: each row is copied into a
 * padded buffer with replicated ends, and the vertical pass clamps row pointers,
 * so the inner loops have no branches. The inner loops run over x, 32 pixels at a
 * time in four independent AVX2 FMA accumulators when the CPU has AVX2+FMA
 * (checked at run time), with a portable scalar fallback. See reference.md. */
#include <stdlib.h>
#include <string.h>

#include "solve.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2,fma")))
#endif

static void hpass_scalar(const float *pad, float *out, int w, const float *g) {
    for (int x = 0; x < w; x++) {
        float acc = 0.0f;
        for (int j = 0; j < KSIZE; j++) acc += g[j] * pad[x + j];
        out[x] = acc;
    }
}

static void vpass_scalar(const float *const *rows, float *out, int w, const float *g) {
    for (int x = 0; x < w; x++) {
        float acc = 0.0f;
        for (int i = 0; i < KSIZE; i++) acc += g[i] * rows[i][x];
        out[x] = acc;
    }
}

#if defined(__x86_64__)
/* out[x] = sum_j g[j] * pad[x + j] */
AVX2 static void hpass_avx2(const float *pad, float *out, int w, const float *g) {
    __m256 gv[KSIZE];
    for (int j = 0; j < KSIZE; j++) gv[j] = _mm256_set1_ps(g[j]);
    int x = 0;
    for (; x + 32 <= w; x += 32) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int j = 0; j < KSIZE; j++) {
            const float *p = pad + x + j;
            a0 = _mm256_fmadd_ps(gv[j], _mm256_loadu_ps(p), a0);
            a1 = _mm256_fmadd_ps(gv[j], _mm256_loadu_ps(p + 8), a1);
            a2 = _mm256_fmadd_ps(gv[j], _mm256_loadu_ps(p + 16), a2);
            a3 = _mm256_fmadd_ps(gv[j], _mm256_loadu_ps(p + 24), a3);
        }
        _mm256_storeu_ps(out + x, a0);
        _mm256_storeu_ps(out + x + 8, a1);
        _mm256_storeu_ps(out + x + 16, a2);
        _mm256_storeu_ps(out + x + 24, a3);
    }
    for (; x + 8 <= w; x += 8) {
        __m256 a = _mm256_setzero_ps();
        for (int j = 0; j < KSIZE; j++) a = _mm256_fmadd_ps(gv[j], _mm256_loadu_ps(pad + x + j), a);
        _mm256_storeu_ps(out + x, a);
    }
    hpass_scalar(pad + x, out + x, w - x, g);
}

/* out[x] = sum_i g[i] * rows[i][x] */
AVX2 static void vpass_avx2(const float *const *rows, float *out, int w, const float *g) {
    __m256 gv[KSIZE];
    for (int i = 0; i < KSIZE; i++) gv[i] = _mm256_set1_ps(g[i]);
    int x = 0;
    for (; x + 32 <= w; x += 32) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int i = 0; i < KSIZE; i++) {
            const float *p = rows[i] + x;
            a0 = _mm256_fmadd_ps(gv[i], _mm256_loadu_ps(p), a0);
            a1 = _mm256_fmadd_ps(gv[i], _mm256_loadu_ps(p + 8), a1);
            a2 = _mm256_fmadd_ps(gv[i], _mm256_loadu_ps(p + 16), a2);
            a3 = _mm256_fmadd_ps(gv[i], _mm256_loadu_ps(p + 24), a3);
        }
        _mm256_storeu_ps(out + x, a0);
        _mm256_storeu_ps(out + x + 8, a1);
        _mm256_storeu_ps(out + x + 16, a2);
        _mm256_storeu_ps(out + x + 24, a3);
    }
    for (; x + 8 <= w; x += 8) {
        __m256 a = _mm256_setzero_ps();
        for (int i = 0; i < KSIZE; i++) a = _mm256_fmadd_ps(gv[i], _mm256_loadu_ps(rows[i] + x), a);
        _mm256_storeu_ps(out + x, a);
    }
    if (x < w) {
        const float *r[KSIZE];
        for (int i = 0; i < KSIZE; i++) r[i] = rows[i] + x;
        vpass_scalar(r, out + x, w - x, g);
    }
}
#endif

void gaussian_blur(const float *src, float *dst, int width, int height, const float *kernel, int passes) {
    size_t npix = (size_t)width * (size_t)height;
    /* 1-D weights: kernel = g gT and sum(g) = 1, so g is the kernel's column sums */
    float g[KSIZE];
    for (int j = 0; j < KSIZE; j++) {
        double s = 0;
        for (int i = 0; i < KSIZE; i++) s += kernel[i * KSIZE + j];
        g[j] = (float)s;
    }
    int avx2 = 0;
#if defined(__x86_64__)
    __builtin_cpu_init();
    avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    float *tmp = malloc(npix * sizeof(float));
    float *pad = malloc((size_t)(width + 2 * KRADIUS) * sizeof(float));
    if (passes <= 0) {
        memcpy(dst, src, npix * sizeof(float));
        free(tmp);
        free(pad);
        return;
    }
    const float *in = src;
    for (int p = 0; p < passes; p++) {
        /* horizontal: in -> tmp */
        for (int y = 0; y < height; y++) {
            const float *row = in + (size_t)y * width;
            for (int k = 0; k < KRADIUS; k++) {
                pad[k] = row[0];
                pad[KRADIUS + width + k] = row[width - 1];
            }
            memcpy(pad + KRADIUS, row, (size_t)width * sizeof(float));
            float *o = tmp + (size_t)y * width;
#if defined(__x86_64__)
            if (avx2) hpass_avx2(pad, o, width, g);
            else
#endif
                hpass_scalar(pad, o, width, g);
        }
        /* vertical: tmp -> dst (dst is never an input: the horizontal pass reads it first) */
        for (int y = 0; y < height; y++) {
            const float *rows[KSIZE];
            for (int i = 0; i < KSIZE; i++) {
                int yy = y + i - KRADIUS;
                yy = yy < 0 ? 0 : (yy >= height ? height - 1 : yy);
                rows[i] = tmp + (size_t)yy * width;
            }
            float *o = dst + (size_t)y * width;
#if defined(__x86_64__)
            if (avx2) vpass_avx2(rows, o, width, g);
            else
#endif
                vpass_scalar(rows, o, width, g);
        }
        in = dst;
    }
    free(tmp);
    free(pad);
}
