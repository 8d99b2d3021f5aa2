"""LayerNorm forward + backward, the starting kernels: correct, several passes per row, atomics for dw/db."""

import torch
import triton
import triton.language as tl

EPS = 1e-5


@triton.jit
def _row_stats(x_row, n_cols, eps, BLOCK: tl.constexpr):
    acc = tl.zeros([BLOCK], tl.float32)
    for start in range(0, n_cols, BLOCK):
        offs = start + tl.arange(0, BLOCK)
        acc += tl.load(x_row + offs, mask=offs < n_cols, other=0.0)
    mean = tl.sum(acc, axis=0) / n_cols
    acc = tl.zeros([BLOCK], tl.float32)
    for start in range(0, n_cols, BLOCK):
        offs = start + tl.arange(0, BLOCK)
        x = tl.load(x_row + offs, mask=offs < n_cols, other=0.0)
        d = tl.where(offs < n_cols, x - mean, 0.0)
        acc += d * d
    rstd = 1.0 / tl.sqrt(tl.sum(acc, axis=0) / n_cols + eps)
    return mean, rstd


@triton.jit
def _forward(x_ptr, w_ptr, b_ptr, y_ptr, n_cols, stride, eps, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    mean, rstd = _row_stats(x_ptr + row * stride, n_cols, eps, BLOCK)
    for start in range(0, n_cols, BLOCK):
        offs = start + tl.arange(0, BLOCK)
        mask = offs < n_cols
        x = tl.load(x_ptr + row * stride + offs, mask=mask, other=0.0)
        w = tl.load(w_ptr + offs, mask=mask, other=0.0)
        b = tl.load(b_ptr + offs, mask=mask, other=0.0)
        tl.store(y_ptr + row * stride + offs, (x - mean) * rstd * w + b, mask=mask)


@triton.jit
def _backward(x_ptr, w_ptr, dy_ptr, dx_ptr, dw_ptr, db_ptr, n_cols, stride, eps, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    mean, rstd = _row_stats(x_ptr + row * stride, n_cols, eps, BLOCK)
    c1 = tl.zeros([BLOCK], tl.float32)
    c2 = tl.zeros([BLOCK], tl.float32)
    for start in range(0, n_cols, BLOCK):
        offs = start + tl.arange(0, BLOCK)
        mask = offs < n_cols
        x = tl.load(x_ptr + row * stride + offs, mask=mask, other=0.0)
        w = tl.load(w_ptr + offs, mask=mask, other=0.0)
        dy = tl.load(dy_ptr + row * stride + offs, mask=mask, other=0.0)
        xhat = tl.where(mask, (x - mean) * rstd, 0.0)
        g = dy * w
        c1 += g * xhat
        c2 += g
    m1 = tl.sum(c1, axis=0) / n_cols
    m2 = tl.sum(c2, axis=0) / n_cols
    for start in range(0, n_cols, BLOCK):
        offs = start + tl.arange(0, BLOCK)
        mask = offs < n_cols
        x = tl.load(x_ptr + row * stride + offs, mask=mask, other=0.0)
        w = tl.load(w_ptr + offs, mask=mask, other=0.0)
        dy = tl.load(dy_ptr + row * stride + offs, mask=mask, other=0.0)
        xhat = (x - mean) * rstd
        tl.store(dx_ptr + row * stride + offs, rstd * (dy * w - m2 - xhat * m1), mask=mask)
        tl.atomic_add(dw_ptr + offs, dy * xhat, mask=mask)
        tl.atomic_add(db_ptr + offs, dy, mask=mask)


def kernel(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, dy: torch.Tensor):
    x, dy = x.contiguous(), dy.contiguous()
    rows, cols = x.shape
    y, dx = torch.empty_like(x), torch.empty_like(x)
    dw = torch.zeros(cols, device=x.device, dtype=torch.float32)
    db = torch.zeros(cols, device=x.device, dtype=torch.float32)
    _forward[(rows,)](x, weight, bias, y, cols, x.stride(0), EPS, BLOCK=256, num_warps=2)
    _backward[(rows,)](x, weight, dy, dx, dw, db, cols, x.stride(0), EPS, BLOCK=256, num_warps=2)
    return y, dx, dw, db
