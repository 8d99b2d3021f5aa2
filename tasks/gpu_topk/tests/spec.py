"""The trusted spec of gpu_topk: rows of distinct values from a seed, the PyTorch reference, tolerances."""

import torch

ROWS, COLS, K = 16384, 2048, 16
ATOL = 0.0
RTOL = 0.0
FORBIDDEN = [
    "aten.topk",
    "aten.sort",
    "aten.argsort",
    "aten.kthvalue",
    "aten.msort",
    "aten.max",
    "aten.argmax",
    "aten.amax",
]
GPU_MEMORY_MB = 8192


def make_inputs(seed: int, device: str, rows: int = ROWS, cols: int = COLS) -> tuple:
    """A random permutation of distinct float32 values per row (ties would make the indices ambiguous)."""
    g = torch.Generator(device=device).manual_seed(seed)
    keys = torch.rand(rows, cols, generator=g, device=device)
    ranks = torch.argsort(keys, dim=-1).float()
    offset = torch.randn(rows, 1, generator=g, device=device) * 100.0
    return (ranks * 0.25 + offset.round(),)


def reference(x):
    v, i = torch.topk(x, K, dim=-1, largest=True, sorted=True)
    return v, i
