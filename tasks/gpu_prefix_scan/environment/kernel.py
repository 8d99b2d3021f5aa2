"""Row prefix sum, the starting kernel: correct, one program per row, 32 elements per step."""

import torch
import triton
import triton.language as tl


@triton.jit
def _scan_rows(x_ptr, y_ptr, n_cols, stride, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    carry = tl.zeros([1], tl.float32)
    for start in range(0, n_cols, BLOCK):
        offs = start + tl.arange(0, BLOCK)
        mask = offs < n_cols
        x = tl.load(x_ptr + row * stride + offs, mask=mask, other=0.0)
        s = tl.cumsum(x, axis=0) + carry
        tl.store(y_ptr + row * stride + offs, s, mask=mask)
        carry += tl.sum(x, axis=0)


def kernel(x: torch.Tensor) -> torch.Tensor:
    x = x.contiguous()
    y = torch.empty_like(x)
    _scan_rows[(x.shape[0],)](x, y, x.shape[1], x.stride(0), BLOCK=32, num_warps=1)
    return y
