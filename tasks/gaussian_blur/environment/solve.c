/* solve.c -- the baseline: a direct 2-D convolution, 289 multiply-adds per pixel
 * per pass, with the border clamping done inside the innermost loop.
 * This is the file you optimize. */
#include <stdlib.h>
#include <string.h>

#include "solve.h"

static int clampi(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

void gaussian_blur(const float *src, float *dst, int width, int height, const float *kernel, int passes) {
    size_t npix = (size_t)width * (size_t)height;
    float *cur = malloc(npix * sizeof(float));
    float *next = malloc(npix * sizeof(float));
    memcpy(cur, src, npix * sizeof(float));
    for (int p = 0; p < passes; p++) {
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                float acc = 0.0f;
                for (int dy = -KRADIUS; dy <= KRADIUS; dy++) {
                    for (int dx = -KRADIUS; dx <= KRADIUS; dx++) {
                        int yy = clampi(y + dy, 0, height - 1);
                        int xx = clampi(x + dx, 0, width - 1);
                        acc += kernel[(dy + KRADIUS) * KSIZE + (dx + KRADIUS)] * cur[(size_t)yy * width + xx];
                    }
                }
                next[(size_t)y * width + x] = acc;
            }
        }
        float *t = cur;
        cur = next;
        next = t;
    }
    memcpy(dst, cur, npix * sizeof(float));
    free(cur);
    free(next);
}
