/* lev.h -- the fixed interface of the levenshtein_batch task (not editable).
 *
 * lev_batch() computes, for every pair i, the Levenshtein distance between the
 * byte strings pairs[i].a (alen bytes) and pairs[i].b (blen bytes): the least
 * number of single-byte insertions, deletions and substitutions that turn one
 * into the other. Strings are arbitrary bytes (0..255, NUL included; they are
 * not NUL-terminated) and may be empty. The answer for pair i goes to out[i].
 */
#ifndef LEV_H
#define LEV_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const uint8_t *a;
    const uint8_t *b;
    uint32_t alen;
    uint32_t blen;
} lev_pair_t;

void lev_batch(const lev_pair_t *pairs, size_t n, uint32_t *out);

#endif
