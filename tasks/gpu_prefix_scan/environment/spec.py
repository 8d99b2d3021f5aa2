"""The trusted spec of gpu_prefix_scan: inputs from a seed, the float64 PyTorch reference, tolerances."""

import torch

ROWS, COLS = 4096, 8192
ATOL = 2e-3
RTOL = 1e-4
FORBIDDEN = [
    "aten.cumsum",
    "aten.cumsum_",
    "aten._cumsum",
    "aten.cumprod",
    "aten.logcumsumexp",
    "aten._logcumsumexp",
]
GPU_MEMORY_MB = 8192


def make_inputs(seed: int, device: str, rows: int = ROWS, cols: int = COLS) -> tuple:
    g = torch.Generator(device=device).manual_seed(seed)
    return (torch.randn(rows, cols, generator=g, device=device) + 0.05,)


def reference(x):
    return torch.cumsum(x.double(), dim=-1).float()
