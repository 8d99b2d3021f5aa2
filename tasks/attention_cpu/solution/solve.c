/* solve.c -- reference: tiled attention with an online softmax (single-threaded).
 *
 * For d = 64 on CPUs with AVX2+FMA (checked at run time): K is transposed once so
 * that a 4-query x 16-key tile of scores is 8 independent FMA accumulators fed by
 * broadcast query values; scores are computed 64 keys at a time and folded into a
 * running max / running sum / running output per query ("online softmax", as in
 * FlashAttention), so no full score row is ever stored; exp() is a vectorized
 * polynomial; causal blocks above the diagonal are skipped and only the diagonal
 * block is masked. Other shapes and CPUs use a portable two-pass version.
 * See reference.md. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "solve.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2,fma")))
#endif

/* ---- portable path: per query, scores in blocks, exact two-pass softmax ---- */
static void attention_portable(const float *Q, const float *K, const float *V, float *O, int n, int d, int causal) {
    float scale = 1.0f / sqrtf((float)d);
    float *s = malloc((size_t)n * sizeof(float));
    for (int i = 0; i < n; i++) {
        int len = causal ? i + 1 : n;
        const float *q = Q + (size_t)i * d;
        float mx = -INFINITY;
        for (int j = 0; j < len; j++) {
            const float *k = K + (size_t)j * d;
            float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
            int t = 0;
            for (; t + 4 <= d; t += 4) {
                a0 += q[t] * k[t];
                a1 += q[t + 1] * k[t + 1];
                a2 += q[t + 2] * k[t + 2];
                a3 += q[t + 3] * k[t + 3];
            }
            for (; t < d; t++) a0 += q[t] * k[t];
            s[j] = (a0 + a1 + a2 + a3) * scale;
            if (s[j] > mx) mx = s[j];
        }
        float sum = 0;
        for (int j = 0; j < len; j++) sum += (s[j] = expf(s[j] - mx));
        float inv = 1.0f / sum;
        float *o = O + (size_t)i * d;
        memset(o, 0, (size_t)d * sizeof(float));
        for (int j = 0; j < len; j++) {
            const float *v = V + (size_t)j * d;
            float p = s[j] * inv;
            for (int t = 0; t < d; t++) o[t] += p * v[t];
        }
    }
    free(s);
}

#if defined(__x86_64__)
#define D 64
#define BQ 4  /* queries per register tile */
#define QB 64 /* queries per super-tile: K/V blocks are reused across its 16 tiles */
#define BK 64 /* keys per block */

/* e^x for x <= 0 (x = -inf gives ~0): range reduction to [-ln2/2, ln2/2] and a
 * degree-6 polynomial, about 1 ulp */
AVX2 static inline __m256 exp256(__m256 x) {
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
    __m256 fx = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.0f / 720);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

AVX2 static float hmax256(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

AVX2 static float hsum256(__m256 v) {
    __m128 m = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_add_ps(m, _mm_movehl_ps(m, m));
    m = _mm_add_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

AVX2 static void attention_avx2(const float *Q, const float *K, const float *V, float *O, int n, int causal) {
    int nb = (n + BK - 1) / BK;         /* key blocks */
    int nq = (n + QB - 1) / QB * QB;    /* queries padded to whole super-tiles */
    /* K transposed block by block: Kt[b][t][j] = K[b*BK + j][t], zero padded */
    float *Kt = aligned_alloc(32, (size_t)nb * D * BK * sizeof(float));
    float *Qs = aligned_alloc(32, (size_t)nq * D * sizeof(float));
    float *acc = aligned_alloc(32, (size_t)QB * D * sizeof(float));
    memset(Kt, 0, (size_t)nb * D * BK * sizeof(float));
    memset(Qs, 0, (size_t)nq * D * sizeof(float));
    for (int j = 0; j < n; j++)
        for (int t = 0; t < D; t++) Kt[((size_t)(j / BK) * D + t) * BK + j % BK] = K[(size_t)j * D + t];
    for (size_t i = 0; i < (size_t)n * D; i++) Qs[i] = Q[i] * 0.125f; /* 1/sqrt(64), exact */

    for (int I0 = 0; I0 < n; I0 += QB) {
        float m[QB], l[QB];
        for (int r = 0; r < QB; r++) m[r] = -INFINITY, l[r] = 0;
        memset(acc, 0, (size_t)QB * D * sizeof(float));
        int iend = I0 + QB < n ? I0 + QB : n;
        int kend = causal ? iend : n;
        for (int j0 = 0; j0 < kend; j0 += BK) {
            const float *kb = Kt + (size_t)(j0 / BK) * D * BK;
            int kn = kend - j0 < BK ? kend - j0 : BK;
            for (int i0 = I0; i0 < iend; i0 += BQ) {
                if (causal && j0 > i0 + BQ - 1) continue; /* whole tile above the diagonal */
                __attribute__((aligned(32))) float S[BQ][BK];
                const float *q = Qs + (size_t)i0 * D;
                /* S = q-tile . K-block^T, 16 keys at a time */
                for (int jj = 0; jj < BK; jj += 16) {
                    __m256 s00 = _mm256_setzero_ps(), s01 = s00, s10 = s00, s11 = s00;
                    __m256 s20 = s00, s21 = s00, s30 = s00, s31 = s00;
                    for (int t = 0; t < D; t++) {
                        __m256 k0 = _mm256_load_ps(kb + t * BK + jj);
                        __m256 k1 = _mm256_load_ps(kb + t * BK + jj + 8);
                        __m256 q0 = _mm256_broadcast_ss(q + t), q1 = _mm256_broadcast_ss(q + D + t);
                        __m256 q2 = _mm256_broadcast_ss(q + 2 * D + t), q3 = _mm256_broadcast_ss(q + 3 * D + t);
                        s00 = _mm256_fmadd_ps(q0, k0, s00);
                        s01 = _mm256_fmadd_ps(q0, k1, s01);
                        s10 = _mm256_fmadd_ps(q1, k0, s10);
                        s11 = _mm256_fmadd_ps(q1, k1, s11);
                        s20 = _mm256_fmadd_ps(q2, k0, s20);
                        s21 = _mm256_fmadd_ps(q2, k1, s21);
                        s30 = _mm256_fmadd_ps(q3, k0, s30);
                        s31 = _mm256_fmadd_ps(q3, k1, s31);
                    }
                    _mm256_store_ps(&S[0][jj], s00);
                    _mm256_store_ps(&S[0][jj + 8], s01);
                    _mm256_store_ps(&S[1][jj], s10);
                    _mm256_store_ps(&S[1][jj + 8], s11);
                    _mm256_store_ps(&S[2][jj], s20);
                    _mm256_store_ps(&S[2][jj + 8], s21);
                    _mm256_store_ps(&S[3][jj], s30);
                    _mm256_store_ps(&S[3][jj + 8], s31);
                }
                for (int r = 0; r < BQ; r++) {
                    int i = i0 + r;
                    if (i >= n) break;
                    /* mask padding keys (j >= n) and, for causal, keys after the query */
                    int lim = kn;
                    if (causal && i - j0 + 1 < lim) lim = i - j0 + 1;
                    for (int j = lim; j < BK; j++) S[r][j] = -INFINITY;
                    /* online softmax: rescale the running sums to the new max, add this block */
                    __m256 mx = _mm256_set1_ps(-INFINITY);
                    for (int j = 0; j < BK; j += 8) mx = _mm256_max_ps(mx, _mm256_load_ps(&S[r][j]));
                    float mnew = hmax256(mx);
                    float *mr = &m[i - I0], *lr = &l[i - I0];
                    if (*mr > mnew) mnew = *mr;
                    float corr = expf(*mr - mnew);
                    __m256 mv = _mm256_set1_ps(mnew), sum = _mm256_setzero_ps();
                    for (int j = 0; j < BK; j += 8) {
                        __m256 p = exp256(_mm256_sub_ps(_mm256_load_ps(&S[r][j]), mv));
                        _mm256_store_ps(&S[r][j], p);
                        sum = _mm256_add_ps(sum, p);
                    }
                    *lr = *lr * corr + hsum256(sum);
                    *mr = mnew;
                    float *ar = acc + (size_t)(i - I0) * D;
                    __m256 cv = _mm256_set1_ps(corr);
                    __m256 a0 = _mm256_mul_ps(_mm256_load_ps(ar), cv), a1 = _mm256_mul_ps(_mm256_load_ps(ar + 8), cv);
                    __m256 a2 = _mm256_mul_ps(_mm256_load_ps(ar + 16), cv), a3 = _mm256_mul_ps(_mm256_load_ps(ar + 24), cv);
                    __m256 a4 = _mm256_mul_ps(_mm256_load_ps(ar + 32), cv), a5 = _mm256_mul_ps(_mm256_load_ps(ar + 40), cv);
                    __m256 a6 = _mm256_mul_ps(_mm256_load_ps(ar + 48), cv), a7 = _mm256_mul_ps(_mm256_load_ps(ar + 56), cv);
                    for (int j = 0; j < lim; j++) {
                        __m256 p = _mm256_set1_ps(S[r][j]);
                        const float *v = V + (size_t)(j0 + j) * D;
                        a0 = _mm256_fmadd_ps(p, _mm256_loadu_ps(v), a0);
                        a1 = _mm256_fmadd_ps(p, _mm256_loadu_ps(v + 8), a1);
                        a2 = _mm256_fmadd_ps(p, _mm256_loadu_ps(v + 16), a2);
                        a3 = _mm256_fmadd_ps(p, _mm256_loadu_ps(v + 24), a3);
                        a4 = _mm256_fmadd_ps(p, _mm256_loadu_ps(v + 32), a4);
                        a5 = _mm256_fmadd_ps(p, _mm256_loadu_ps(v + 40), a5);
                        a6 = _mm256_fmadd_ps(p, _mm256_loadu_ps(v + 48), a6);
                        a7 = _mm256_fmadd_ps(p, _mm256_loadu_ps(v + 56), a7);
                    }
                    _mm256_store_ps(ar, a0); _mm256_store_ps(ar + 8, a1);
                    _mm256_store_ps(ar + 16, a2); _mm256_store_ps(ar + 24, a3);
                    _mm256_store_ps(ar + 32, a4); _mm256_store_ps(ar + 40, a5);
                    _mm256_store_ps(ar + 48, a6); _mm256_store_ps(ar + 56, a7);
                }
            }
        }
        for (int i = I0; i < iend; i++) {
            __m256 inv = _mm256_set1_ps(1.0f / l[i - I0]);
            const float *ar = acc + (size_t)(i - I0) * D;
            float *o = O + (size_t)i * D;
            for (int c = 0; c < D / 8; c++) _mm256_storeu_ps(o + 8 * c, _mm256_mul_ps(_mm256_load_ps(ar + 8 * c), inv));
        }
    }
    free(Kt);
    free(Qs);
    free(acc);
}
#endif

void attention(const float *Q, const float *K, const float *V, float *O, int n, int d, int causal) {
    if (n <= 0) return;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (d == D && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        attention_avx2(Q, K, V, O, n, causal);
        return;
    }
#endif
    attention_portable(Q, K, V, O, n, d, causal);
}
