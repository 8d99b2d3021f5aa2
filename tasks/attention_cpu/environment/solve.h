/* solve.h -- the interface the fixed driver calls (not editable). */
#ifndef SOLVE_H
#define SOLVE_H

/* Scaled dot-product attention for one head. Q, K, V and O are n x d row-major
 * float matrices (d is 64 in every call the verifier makes). For every query row i:
 *     s_j  = (Q_i . K_j) / sqrt(d)          for j in [0, n), or j in [0, i] if causal
 *     O_i  = sum_j softmax(s)_j * V_j
 * O does not overlap Q, K or V. */
void attention(const float *Q, const float *K, const float *V, float *O, int n, int d, int causal);

#endif
