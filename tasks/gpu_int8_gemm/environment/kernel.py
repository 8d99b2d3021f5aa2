"""int8 GEMM, the starting kernel: correct, outer products one k at a time in int32 (no tensor cores)."""

import torch
import triton
import triton.language as tl


@triton.jit
def _gemm(a_ptr, b_ptr, c_ptr, M, N, K, sam, sak, sbk, sbn, scm, scn, BM: tl.constexpr, BN: tl.constexpr):
    pm = tl.program_id(0)
    pn = tl.program_id(1)
    rm = pm * BM + tl.arange(0, BM)
    rn = pn * BN + tl.arange(0, BN)
    acc = tl.zeros([BM, BN], tl.int32)
    for k in range(0, K):
        a = tl.load(a_ptr + rm * sam + k * sak, mask=rm < M, other=0).to(tl.int32)
        b = tl.load(b_ptr + k * sbk + rn * sbn, mask=rn < N, other=0).to(tl.int32)
        acc += a[:, None] * b[None, :]
    tl.store(c_ptr + rm[:, None] * scm + rn[None, :] * scn, acc, mask=(rm[:, None] < M) & (rn[None, :] < N))


def kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    m, k = a.shape
    n = b.shape[1]
    c = torch.empty(m, n, device=a.device, dtype=torch.int32)
    grid = (triton.cdiv(m, 64), triton.cdiv(n, 64))
    _gemm[grid](
        a,
        b,
        c,
        m,
        n,
        k,
        a.stride(0),
        a.stride(1),
        b.stride(0),
        b.stride(1),
        c.stride(0),
        c.stride(1),
        BM=64,
        BN=64,
        num_warps=4,
    )
    return c
