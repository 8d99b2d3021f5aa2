/* solve.h -- the interface the fixed driver calls (not editable). */
#ifndef SOLVE_H
#define SOLVE_H

#define KSIZE 17   /* the kernel is KSIZE x KSIZE */
#define KRADIUS 8  /* (KSIZE - 1) / 2 */

/* Blur the width x height single-channel image src (row-major floats) `passes`
 * times with the KSIZE x KSIZE kernel (row-major, kernel[(dy+8)*KSIZE + (dx+8)])
 * and write the result to dst. One pass computes, for every pixel (x, y),
 *     out(x, y) = sum over dy, dx in [-8, 8] of kernel(dy, dx) * in(clamp(x+dx), clamp(y+dy))
 * where clamp() clamps coordinates into the image (borders are replicated). The
 * next pass reads this pass's output. src and dst do not overlap. */
void gaussian_blur(const float *src, float *dst, int width, int height, const float *kernel, int passes);

#endif
