/* join.h -- the fixed interface of the hash_join task (not editable).
 *
 * hash_join() computes the inner equi-join of a small table R and a large
 * table S on their `key` columns: every pair (r, s) with r.key == s.key is one
 * joined row. It returns the number of joined rows and the order-independent
 * checksum  sum over all joined rows of pair_hash(r.payload, s.payload)
 * (mod 2^64). Keys may repeat in R and in S.
 */
#ifndef JOIN_H
#define JOIN_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t key;
    uint32_t payload;
} row_t;

typedef struct {
    uint64_t pairs;    /* number of (r, s) pairs with r.key == s.key */
    uint64_t checksum; /* sum of pair_hash(r.payload, s.payload) over those pairs, mod 2^64 */
} join_result_t;

/* The hash of one joined row (splitmix64's finalizer on the two payloads). */
static inline uint64_t pair_hash(uint32_t r_payload, uint32_t s_payload) {
    uint64_t x = ((uint64_t)r_payload << 32) | s_payload;
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBULL;
    x ^= x >> 31;
    return x;
}

join_result_t hash_join(const row_t *r, size_t nr, const row_t *s, size_t ns);

#endif
