"""LayerNorm forward + backward, the reference: rows in registers, dw/db as per-program partial sums."""

import torch
import triton
import triton.language as tl

EPS = 1e-5
ROWS_PER_PROGRAM = 32


@triton.jit
def _forward(x_ptr, w_ptr, b_ptr, y_ptr, mean_ptr, rstd_ptr, n_cols, stride, eps, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    offs = tl.arange(0, BLOCK)
    mask = offs < n_cols
    x = tl.load(x_ptr + row * stride + offs, mask=mask, other=0.0)
    mean = tl.sum(x, axis=0) / n_cols
    xc = tl.where(mask, x - mean, 0.0)
    rstd = 1.0 / tl.sqrt(tl.sum(xc * xc, axis=0) / n_cols + eps)
    w = tl.load(w_ptr + offs, mask=mask, other=0.0)
    b = tl.load(b_ptr + offs, mask=mask, other=0.0)
    tl.store(y_ptr + row * stride + offs, xc * rstd * w + b, mask=mask)
    tl.store(mean_ptr + row, mean)
    tl.store(rstd_ptr + row, rstd)


@triton.jit
def _backward(
    x_ptr,
    w_ptr,
    dy_ptr,
    dx_ptr,
    mean_ptr,
    rstd_ptr,
    pw_ptr,
    pb_ptr,
    n_rows,
    n_cols,
    stride,
    ROWS: tl.constexpr,
    BLOCK: tl.constexpr,
):
    pid = tl.program_id(0)
    offs = tl.arange(0, BLOCK)
    mask = offs < n_cols
    w = tl.load(w_ptr + offs, mask=mask, other=0.0)
    acc_w = tl.zeros([BLOCK], tl.float32)
    acc_b = tl.zeros([BLOCK], tl.float32)
    for i in range(ROWS):
        row = pid * ROWS + i
        if row < n_rows:
            x = tl.load(x_ptr + row * stride + offs, mask=mask, other=0.0)
            dy = tl.load(dy_ptr + row * stride + offs, mask=mask, other=0.0)
            mean = tl.load(mean_ptr + row)
            rstd = tl.load(rstd_ptr + row)
            xhat = tl.where(mask, (x - mean) * rstd, 0.0)
            g = dy * w
            m1 = tl.sum(g * xhat, axis=0) / n_cols
            m2 = tl.sum(g, axis=0) / n_cols
            tl.store(dx_ptr + row * stride + offs, rstd * (g - m2 - xhat * m1), mask=mask)
            acc_w += dy * xhat
            acc_b += dy
    tl.store(pw_ptr + pid * n_cols + offs, acc_w, mask=mask)
    tl.store(pb_ptr + pid * n_cols + offs, acc_b, mask=mask)


@triton.jit
def _column_sum(p_ptr, out_ptr, n_parts, n_cols, BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr):
    cols = tl.program_id(0) * BLOCK_C + tl.arange(0, BLOCK_C)
    acc = tl.zeros([BLOCK_C], tl.float32)
    for start in range(0, n_parts, BLOCK_P):
        parts = start + tl.arange(0, BLOCK_P)
        m = (parts[:, None] < n_parts) & (cols[None, :] < n_cols)
        acc += tl.sum(tl.load(p_ptr + parts[:, None] * n_cols + cols[None, :], mask=m, other=0.0), axis=0)
    tl.store(out_ptr + cols, acc, mask=cols < n_cols)


def kernel(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, dy: torch.Tensor):
    x, dy = x.contiguous(), dy.contiguous()
    rows, cols = x.shape
    block = triton.next_power_of_2(cols)
    warps = 8 if block >= 2048 else 4
    y, dx = torch.empty_like(x), torch.empty_like(x)
    mean = torch.empty(rows, device=x.device, dtype=torch.float32)
    rstd = torch.empty(rows, device=x.device, dtype=torch.float32)
    _forward[(rows,)](x, weight, bias, y, mean, rstd, cols, x.stride(0), EPS, BLOCK=block, num_warps=warps)
    parts = triton.cdiv(rows, ROWS_PER_PROGRAM)
    pw = torch.empty(parts, cols, device=x.device, dtype=torch.float32)
    pb = torch.empty(parts, cols, device=x.device, dtype=torch.float32)
    _backward[(parts,)](
        x,
        weight,
        dy,
        dx,
        mean,
        rstd,
        pw,
        pb,
        rows,
        cols,
        x.stride(0),
        ROWS=ROWS_PER_PROGRAM,
        BLOCK=block,
        num_warps=warps,
    )
    dw = torch.empty(cols, device=x.device, dtype=torch.float32)
    db = torch.empty(cols, device=x.device, dtype=torch.float32)
    grid = (triton.cdiv(cols, 128),)
    _column_sum[grid](pw, dw, parts, cols, BLOCK_P=32, BLOCK_C=128)
    _column_sum[grid](pb, db, parts, cols, BLOCK_P=32, BLOCK_C=128)
    return y, dx, dw, db
