/* solve.h -- the interface the fixed driver calls (not editable). */
#ifndef SOLVE_H
#define SOLVE_H
#include <stddef.h>
#include <stdint.h>

/* Sort a[0..n) into ascending order, in place. */
void sort_u32(uint32_t *a, size_t n);

#endif
