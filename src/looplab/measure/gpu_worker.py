"""The GPU timing worker: one process that imports at most one untrusted program and answers the driver.

Started by the trusted driver (``looplab.measure.gpu``) as ``python -m looplab.measure.gpu
worker SPEC PROGRAM DEVICE`` inside the jail, it reads one JSON request a line on stdin
(``run``: checksums of K fresh seeded inputs; ``check``: save full outputs; ``compare``:
the reference's elementwise verdict on saved outputs; ``memory``: peak allocation) and
answers on a private descriptor, so nothing the program prints can forge an answer.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from types import ModuleType
from typing import Any

from looplab.errors import LooplabError


def _load(path: str, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise LooplabError(f"cannot import {path}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def as_outputs(out: Any) -> list[Any]:
    return list(out) if isinstance(out, tuple | list) else [out]


def checksum(torch: Any, out: Any, seed: int, scale: bool = False) -> list[Any]:
    """Per output: the bilinear form ``r^T X w`` with ``r``, ``w`` drawn from ``seed`` (one read of ``X``).

    With ``scale`` (the reference worker) also ``|r||w|`` and ``max|X|``, which the tolerance uses.
    """
    sums = []
    for j, t in enumerate(as_outputs(out)):
        x = t.detach()
        if not x.is_floating_point():
            x = x.double()  # integer results (an int32 GEMM) are exact: keep every digit
        elif x.element_size() < 4:
            x = x.float()
        x = x.reshape(1, -1) if x.dim() < 2 else x.reshape(-1, x.shape[-1])
        g = torch.Generator(device=x.device).manual_seed(seed * 7919 + j)
        r = torch.rand(x.shape[0], generator=g, device=x.device, dtype=torch.float64) - 0.5
        w = torch.rand(x.shape[1], generator=g, device=x.device, dtype=x.dtype) - 0.5
        sums.append(r @ (x @ w).double())
        if scale:
            norms = torch.linalg.vector_norm(r) * torch.linalg.vector_norm(w).double()
            sums += [norms, torch.linalg.vector_norm(x, ord=float("inf")).double()]
        else:
            sums += [torch.zeros((), dtype=torch.float64, device=x.device)] * 2
    return sums


def forbidden_guard(torch: Any, ops: list[str]) -> Any:
    """A context in which the PyTorch operators ``ops`` (aten names, e.g. ``aten._softmax``) raise.

    It stops a program from handing the task's operation to PyTorch's own kernel; a
    program that dismantles PyTorch's mode stack on purpose can get around it, which is
    plain cheating a reviewer sees in the diff (the instructions forbid it).
    """
    import contextlib

    if not ops:
        return contextlib.nullcontext
    from torch.utils._python_dispatch import TorchDispatchMode

    names = set(ops)

    class Forbid(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
            name = f"aten.{func.__name__.split('.')[0]}"
            if name in names:
                raise RuntimeError(
                    f"{name} is PyTorch's implementation of this task's operation: not allowed"
                )
            return func(*args, **(kwargs or {}))

    return Forbid


def worker_main(spec_path: str, program: str | None, device: str) -> None:
    """Serve requests on stdin; answers go to a private descriptor, so nothing the program prints can
    forge one."""
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # the program's prints go to stderr
    import torch

    spec = _load(spec_path, "looplab_gpu_spec")
    cap = getattr(spec, "GPU_MEMORY_MB", None)
    if cap and device.startswith("cuda"):
        total = torch.cuda.get_device_properties(0).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, cap * 2**20 / total))
    prog = _load(program, "program") if program else None
    call = getattr(spec, "call", None) or (lambda m, *a: m.kernel(*a))

    guard = forbidden_guard(torch, list(getattr(spec, "FORBIDDEN", [])))

    def compute(inputs: tuple) -> Any:
        if prog is None:
            return spec.reference(*inputs)
        with guard():
            return call(prog, *inputs)

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    def reply(msg: dict) -> None:
        proto.write(json.dumps(msg) + "\n")

    reply({"ready": True})
    for line in sys.stdin:
        req = json.loads(line)
        op = req.get("op")
        try:
            if op == "run":
                sums: list[Any] = []
                for i in range(int(req["iters"])):
                    s = int(req["seed"]) + i
                    sums += checksum(torch, compute(spec.make_inputs(s, device)), s, prog is None)
                sync()
                reply({"checksums": torch.stack(sums).cpu().tolist()})
            elif op == "check":
                out = [
                    t.detach().cpu() for t in as_outputs(compute(spec.make_inputs(int(req["seed"]), device)))
                ]
                sync()
                torch.save(out, req["path"])
                reply({"ok": True})
            elif op == "compare":
                ref = as_outputs(spec.reference(*spec.make_inputs(int(req["seed"]), device)))
                got = torch.load(req["path"], weights_only=True)
                reply(compare_outputs(torch, spec, [t.detach().cpu() for t in ref], got))
            elif op == "memory":
                peak = torch.cuda.max_memory_allocated() if device.startswith("cuda") else 0
                reply({"peak_mb": round(peak / 2**20, 1)})
            else:
                reply({"error": f"unknown op {op!r}"})
        except Exception as exc:  # the driver decides what a failure means
            reply({"error": f"{type(exc).__name__}: {exc}"[:2000]})


def compare_outputs(torch: Any, spec: ModuleType, ref: list[Any], got: Any) -> dict[str, Any]:
    """Elementwise check of a program's outputs against the reference (the spec's ATOL/RTOL)."""
    if not isinstance(got, list) or len(got) != len(ref) or not all(isinstance(t, torch.Tensor) for t in got):
        return {"ok": False, "reason": f"expected {len(ref)} output tensor(s)"}
    for j, (r, g) in enumerate(zip(ref, got, strict=True)):
        if tuple(g.shape) != tuple(r.shape):
            return {"ok": False, "reason": f"output {j}: shape {tuple(g.shape)}, expected {tuple(r.shape)}"}
        rd, gd = r.to(torch.float64), g.to(torch.float64)
        if not torch.isfinite(gd).all():
            return {"ok": False, "reason": f"output {j}: not finite"}
        err = (gd - rd).abs()
        bound = spec.ATOL + spec.RTOL * rd.abs()
        if (err > bound).any():
            i = int(torch.argmax(err - bound))
            return {
                "ok": False,
                "reason": f"output {j}: max error {float(err.max()):.3g} (at flat index {i}: "
                f"{float(gd.flatten()[i]):.6g} vs {float(rd.flatten()[i]):.6g})",
            }
    return {"ok": True}
