/* solve.c -- the baseline: for each query, a full row of scores against every key,
 * a softmax over that row, then the weighted sum of the value rows.
 * This is the file you optimize. */
#include <math.h>
#include <stdlib.h>

#include "solve.h"

void attention(const float *Q, const float *K, const float *V, float *O, int n, int d, int causal) {
    float scale = 1.0f / sqrtf((float)d);
    float *scores = malloc((size_t)n * sizeof(float));
    for (int i = 0; i < n; i++) {
        int len = causal ? i + 1 : n; /* keys this query attends to */
        float max = -INFINITY;
        for (int j = 0; j < len; j++) {
            float s = 0.0f;
            for (int k = 0; k < d; k++) s += Q[(size_t)i * d + k] * K[(size_t)j * d + k];
            s *= scale;
            scores[j] = s;
            if (s > max) max = s;
        }
        float sum = 0.0f;
        for (int j = 0; j < len; j++) {
            scores[j] = expf(scores[j] - max);
            sum += scores[j];
        }
        for (int k = 0; k < d; k++) O[(size_t)i * d + k] = 0.0f;
        for (int j = 0; j < len; j++) {
            float p = scores[j] / sum;
            for (int k = 0; k < d; k++) O[(size_t)i * d + k] += p * V[(size_t)j * d + k];
        }
    }
    free(scores);
}
