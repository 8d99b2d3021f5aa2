"""Row top-k, the reference: the row read once into registers, K rounds of max/argmax there."""

import torch
import triton
import triton.language as tl

K = 16


@triton.jit
def _topk_rows(x_ptr, v_ptr, i_ptr, n_cols, stride, K: tl.constexpr, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + row * stride + offs, mask=offs < n_cols, other=float("-inf"))
    for k in range(K):
        v = tl.max(x, axis=0)
        i = tl.min(tl.where(x == v, offs, BLOCK), axis=0)
        tl.store(v_ptr + row * K + k, v)
        tl.store(i_ptr + row * K + k, i.to(tl.int64))
        x = tl.where(offs == i, float("-inf"), x)


def kernel(x: torch.Tensor):
    x = x.contiguous()
    rows, cols = x.shape
    values = torch.empty(rows, K, device=x.device, dtype=torch.float32)
    indices = torch.empty(rows, K, device=x.device, dtype=torch.int64)
    block = triton.next_power_of_2(cols)
    _topk_rows[(rows,)](x, values, indices, cols, x.stride(0), K=K, BLOCK=block, num_warps=8)
    return values, indices
