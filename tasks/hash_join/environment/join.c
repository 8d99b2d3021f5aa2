/* join.c -- the baseline hash join (this is the file you optimize).
 *
 * A textbook chained hash table: as many buckets as R has rows (rounded up
 * to a prime), one malloc'd node per row of R, the bucket chosen by key modulo
 * that prime, and one chain walk per row of S.
 */
#include <stdlib.h>
#include <stdio.h>
#include "join.h"

typedef struct node {
    uint32_t key;
    uint32_t payload;
    struct node *next;
} node_t;

static size_t next_prime(size_t n) {
    if (n < 3) return 3;
    for (n |= 1;; n += 2) {
        int prime = 1;
        for (size_t d = 3; d * d <= n; d += 2) {
            if (n % d == 0) {
                prime = 0;
                break;
            }
        }
        if (prime) return n;
    }
}

join_result_t hash_join(const row_t *r, size_t nr, const row_t *s, size_t ns) {
    size_t nbuckets = next_prime(nr);
    node_t **buckets = calloc(nbuckets, sizeof(node_t *));
    if (!buckets) {
        perror("calloc");
        exit(3);
    }
    for (size_t i = 0; i < nr; i++) {
        node_t *n = malloc(sizeof(node_t));
        if (!n) {
            perror("malloc");
            exit(3);
        }
        n->key = r[i].key;
        n->payload = r[i].payload;
        size_t b = r[i].key % nbuckets;
        n->next = buckets[b];
        buckets[b] = n;
    }
    join_result_t res = {0, 0};
    for (size_t j = 0; j < ns; j++) {
        for (node_t *n = buckets[s[j].key % nbuckets]; n; n = n->next) {
            if (n->key == s[j].key) {
                res.pairs++;
                res.checksum += pair_hash(n->payload, s[j].payload);
            }
        }
    }
    for (size_t b = 0; b < nbuckets; b++) {
        node_t *n = buckets[b];
        while (n) {
            node_t *next = n->next;
            free(n);
            n = next;
        }
    }
    free(buckets);
    return res;
}
