"""The trusted spec of gpu_int8_gemm: int8 operands from a seed, the exact product (float64 is exact here)."""

import torch

M = N = K = 4096
ATOL = 0.0
RTOL = 0.0
FORBIDDEN = [
    "aten._int_mm",
    "aten.mm",
    "aten.matmul",
    "aten.bmm",
    "aten.addmm",
    "aten.baddbmm",
    "aten.dot",
    "aten.mv",
    "aten.einsum",
    "aten.tensordot",
    "aten._scaled_mm",
    "aten.convolution",
]
GPU_MEMORY_MB = 8192


def make_inputs(seed: int, device: str, m: int = M, n: int = N, k: int = K) -> tuple:
    g = torch.Generator(device=device).manual_seed(seed)
    a = torch.randint(-128, 128, (m, k), generator=g, device=device, dtype=torch.int8)
    b = torch.randint(-128, 128, (k, n), generator=g, device=device, dtype=torch.int8)
    return a, b


def reference(a, b):
    # |sum| <= 4096 * 128 * 128 < 2**27: float64 products and sums are exact
    return (a.double() @ b.double()).to(torch.int32)
