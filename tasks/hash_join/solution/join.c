/* join.c -- reference solution of the hash_join task.
 *
 * 1. Build: R's rows go into an open-addressing table (linear probing, power-of-
 *    two capacity >= 2*NR, 8-byte slots holding key and payload side by side).
 *    The key 0xFFFFFFFF marks an empty slot; R rows with that key live in a side
 *    list, so every key value still joins.
 * 2. Filter: a register-blocked Bloom filter (one 64-bit word per key, 3 bits,
 *    8 bits per R row) that sits in L2 rejects most S rows that have no partner
 *    with one cache-resident load.
 * 3. Probe in batches: hashes for 32 S rows are computed first and their Bloom
 *    words prefetched, then the survivors' table slots are prefetched, then
 *    checked, so many cache misses are in flight at once instead of one.
 */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include "join.h"

#define EMPTY 0xFFFFFFFFu
#define BATCH 32

typedef struct {
    uint32_t key;
    uint32_t payload;
} slot_t;

static inline uint32_t hash32(uint32_t k) {
    return (uint32_t)(((uint64_t)k * 0x9E3779B97F4A7C15ULL) >> 32);
}

static inline uint64_t bloom_bits(uint32_t h) {
    /* three bit positions from the low 18 bits of the hash (the high bits pick the word) */
    return (1ULL << (h & 63)) | (1ULL << ((h >> 6) & 63)) | (1ULL << ((h >> 12) & 63));
}

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n, size);
    if (!p) {
        perror("calloc");
        exit(3);
    }
    return p;
}

join_result_t hash_join(const row_t *r, size_t nr, const row_t *s, size_t ns) {
    join_result_t res = {0, 0};
    size_t cap = 16;
    while (cap < 2 * nr) cap <<= 1;
    int shift = 32 - __builtin_ctzll(cap);
    size_t mask = cap - 1;
    slot_t *table = malloc(cap * sizeof(slot_t));
    if (!table) {
        perror("malloc");
        exit(3);
    }
    memset(table, 0xFF, cap * sizeof(slot_t));

    size_t nwords = 16;
    while (nwords * 64 < 8 * nr) nwords <<= 1;
    int bshift = 32 - __builtin_ctzll(nwords);
    uint64_t *bloom = xcalloc(nwords, sizeof(uint64_t));

    uint32_t *odd_payloads = NULL; /* R rows whose key is EMPTY */
    size_t n_odd = 0;

    for (size_t i = 0; i < nr; i++) {
        uint32_t k = r[i].key;
        uint32_t h = hash32(k);
        bloom[h >> bshift] |= bloom_bits(h);
        if (k == EMPTY) {
            if (!odd_payloads) odd_payloads = xcalloc(nr, sizeof(uint32_t));
            odd_payloads[n_odd++] = r[i].payload;
            continue;
        }
        size_t p = shift < 32 ? (h >> shift) : 0;
        while (table[p].key != EMPTY) p = (p + 1) & mask;
        table[p].key = k;
        table[p].payload = r[i].payload;
    }

    uint64_t pairs = 0, sum = 0;
    uint32_t hs[BATCH];
    uint32_t cand[BATCH];
    for (size_t j0 = 0; j0 < ns; j0 += BATCH) {
        size_t n = ns - j0 < BATCH ? ns - j0 : BATCH;
        const row_t *sb = s + j0;
        for (size_t t = 0; t < n; t++) {
            uint32_t h = hash32(sb[t].key);
            hs[t] = h;
            __builtin_prefetch(&bloom[h >> bshift]);
        }
        size_t nc = 0;
        for (size_t t = 0; t < n; t++) {
            uint32_t h = hs[t];
            uint64_t bits = bloom_bits(h);
            cand[nc] = (uint32_t)t;
            nc += (bloom[h >> bshift] & bits) == bits;
        }
        for (size_t c = 0; c < nc; c++) __builtin_prefetch(&table[hs[cand[c]] >> shift]);
        for (size_t c = 0; c < nc; c++) {
            size_t t = cand[c];
            uint32_t k = sb[t].key;
            uint32_t sp = sb[t].payload;
            if (k == EMPTY) {
                for (size_t q = 0; q < n_odd; q++) {
                    pairs++;
                    sum += pair_hash(odd_payloads[q], sp);
                }
                continue;
            }
            for (size_t p = hs[t] >> shift;; p = (p + 1) & mask) {
                uint32_t tk = table[p].key;
                if (tk == EMPTY) break;
                if (tk == k) {
                    pairs++;
                    sum += pair_hash(table[p].payload, sp);
                }
            }
        }
    }
    res.pairs = pairs;
    res.checksum = sum;
    free(table);
    free(bloom);
    free(odd_payloads);
    return res;
}
