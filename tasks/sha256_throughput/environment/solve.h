/* solve.h -- the interface the fixed driver calls (not editable). */
#ifndef SOLVE_H
#define SOLVE_H
#include <stddef.h>
#include <stdint.h>

/* Write the SHA-256 digest (FIPS 180-4) of data[0..len) to digest[0..32). */
void sha256(const uint8_t *data, size_t len, uint8_t digest[32]);

#endif
