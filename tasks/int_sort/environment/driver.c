/* driver.c -- the fixed harness (not editable).
 *
 *   prog check IN OUT   read IN (raw little-endian uint32 values), sort them with
 *                       sort_u32, write the result to OUT
 *   prog bench SEED N   generate N pseudo-random uint32 values from SEED, sort them
 *                       with sort_u32, and verify the result (ascending, same
 *                       multiset of values); exit status 3 if it is wrong
 *
 * sort_u32 runs in a guarded child process (harness.h). bench ends its stdout with
 * the line {"seconds": T}: T is the CPU time (user + system) of that child as the
 * kernel reports it to this process, which is the time the verifier compares, run against the
 * pristine baseline in interleaved pairs. Generating and verifying are not timed.
 */
#include "harness.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "solve.h"

struct job {
    uint32_t *a;
    size_t n;
};

static void call_sort(void *arg) {
    struct job *j = arg;
    sort_u32(j->a, j->n);
}

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int run_check(const char *in, const char *out) {
    int fd = open(in, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_size % 4 != 0) {
        fprintf(stderr, "driver: cannot read %s (or its size is not a multiple of 4)\n", in);
        return 2;
    }
    struct job j = {NULL, (size_t)st.st_size / 4};
    j.a = shared_alloc(j.n * 4);
    for (size_t got = 0; got < j.n * 4;) {
        ssize_t r = read(fd, (char *)j.a + got, j.n * 4 - got);
        if (r <= 0) {
            fprintf(stderr, "driver: short read on %s\n", in);
            return 2;
        }
        got += (size_t)r;
    }
    close(fd);
    double secs = 0, wall = 0;
    if (run_guarded(call_sort, &j, &secs, &wall) != 0) return 3;
    FILE *f = fopen(out, "wb");
    if (!f || fwrite(j.a, 4, j.n, f) != j.n || fclose(f) != 0) {
        fprintf(stderr, "driver: cannot write %s\n", out);
        return 2;
    }
    fprintf(stderr, "sort_u32: n=%zu, %.4f s CPU, %.4f s wall\n", j.n, secs, wall);
    return 0;
}

static int run_bench(const char *seed_s, const char *n_s) {
    uint64_t seed = strtoull(seed_s, NULL, 0);
    struct job j = {NULL, (size_t)strtoull(n_s, NULL, 0)};
    j.a = shared_alloc(j.n * 4);
    uint64_t s = mix64(seed ^ 0x5851f42d4c957f2dull), fp = 0, sum = 0;
    for (size_t i = 0; i < j.n; i++) {
        s += 0x9e3779b97f4a7c15ull;
        uint32_t v = (uint32_t)(mix64(s) >> 32);
        j.a[i] = v;
        fp += mix64(v);
        sum += v;
    }
    double secs = 0, wall = 0;
    if (run_guarded(call_sort, &j, &secs, &wall) != 0) return 3;
    uint64_t fp2 = 0, sum2 = 0;
    int sorted = 1;
    for (size_t i = 0; i < j.n; i++) {
        fp2 += mix64(j.a[i]);
        sum2 += j.a[i];
        if (i && j.a[i - 1] > j.a[i]) sorted = 0;
    }
    if (!sorted || fp2 != fp || sum2 != sum) {
        fprintf(stderr, "sort_u32: WRONG RESULT (%s)\n", sorted ? "values changed" : "not sorted");
        return 3;
    }
    fprintf(stderr, "sort_u32: n=%zu, %.4f s CPU, %.4f s wall, ok\n", j.n, secs, wall);
    report_seconds(secs);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "check") == 0) return run_check(argv[2], argv[3]);
    if (argc == 4 && strcmp(argv[1], "bench") == 0) return run_bench(argv[2], argv[3]);
    fprintf(stderr, "usage: %s check IN OUT | %s bench SEED N\n", argv[0], argv[0]);
    return 2;
}
