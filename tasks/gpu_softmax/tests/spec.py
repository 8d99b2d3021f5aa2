"""The trusted spec of gpu_softmax: inputs drawn from a seed, the float64 PyTorch reference, tolerances."""

import torch

ROWS, COLS = 8192, 4096
ATOL = 1e-6
RTOL = 1e-4
FORBIDDEN = ["aten._softmax", "aten._log_softmax", "aten._safe_softmax", "aten.softmax"]
GPU_MEMORY_MB = 8192


def make_inputs(seed: int, device: str, rows: int = ROWS, cols: int = COLS) -> tuple:
    g = torch.Generator(device=device).manual_seed(seed)
    return (torch.randn(rows, cols, generator=g, device=device) * 4.0,)


def reference(x):
    return torch.softmax(x.double(), dim=-1).float()
