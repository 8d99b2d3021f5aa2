"""The GPU catalog: five GPU-kernel tasks and two GPU model-development tasks, checked without a GPU.

Layout and constants, the reward logic through the harness's formulas, the trusted specs'
references against independent math on the CPU, the kernels (starting and reference)
through Triton's CPU interpreter where Triton is installed, and the model-dev verifiers
run for real on the CPU at a small scale. On a GPU, ``scripts/gpu_check.sh`` runs
``oracle`` and ``nop`` on every task; ``test_gpu_task_on_gpu`` is its in-suite counterpart.
"""

from __future__ import annotations

import filecmp
import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import REPO

from looplab.tasks import load_task
from looplab.verify.rewards import reward_from_config
from tests.gpu_helpers import needs_gpu

TASKS = REPO / "tasks"
KERNELS = ["gpu_softmax", "gpu_layernorm", "gpu_prefix_scan", "gpu_topk", "gpu_int8_gemm"]
MODELDEV = ["gpu_mlp_teacher", "gpu_markov_classify"]
SMALL = {
    "gpu_softmax": {"rows": 64, "cols": 300},
    "gpu_layernorm": {"rows": 48, "cols": 200},
    "gpu_prefix_scan": {"rows": 16, "cols": 1000},
    "gpu_topk": {"rows": 32, "cols": 200},
    "gpu_int8_gemm": {"m": 40, "n": 72, "k": 96},
}
HAVE_TRITON = importlib.util.find_spec("triton") is not None


def _module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("task", KERNELS + MODELDEV)
def test_layout_and_constants(task: str) -> None:
    t = load_task(TASKS / task)
    cfg = t.config
    assert cfg.environment.gpus == 1 and not t.warnings
    assert cfg.metadata["domain"] == ("gpu-kernels" if task in KERNELS else "model-dev")
    prog = "kernel.py" if task in KERNELS else "train.py"
    assert cfg.looplab.editable == [prog] and cfg.looplab.dev_check == "bash /app/check.sh"
    for f in ("tests/test.sh", "solution/solve.sh", "environment/check.sh"):
        assert os.access(TASKS / task / f, os.X_OK), f
    assert not filecmp.cmp(
        TASKS / task / "environment" / prog, TASKS / task / "solution" / prog, shallow=False
    )
    shared = "spec.py" if task in KERNELS else "world.py"
    assert filecmp.cmp(TASKS / task / "environment" / shared, TASKS / task / "tests" / shared, shallow=False)
    docker = (TASKS / task / "environment" / "Dockerfile").read_text()
    assert f"COPY {prog}" in docker and "/orig/" in docker


@pytest.mark.parametrize("task", KERNELS)
def test_kernel_reward_logic(task: str) -> None:
    cfg = load_task(TASKS / task).config
    s_ref = cfg.optimization.reference.score
    assert s_ref > 1
    assert reward_from_config(cfg, {"correct": True, "speedup": s_ref})[0] == pytest.approx(0.5)
    assert reward_from_config(cfg, {"correct": True, "speedup": 1.0})[0] == 0.0
    assert reward_from_config(cfg, {"correct": True, "speedup": 0.7})[0] == 0.0
    assert reward_from_config(cfg, {"correct": True, "speedup": s_ref**3})[0] == 1.0
    r, why = reward_from_config(cfg, {"correct": False, "speedup": 0.0, "reason": "wrong"})
    assert r == 0.0


@pytest.mark.parametrize("task", MODELDEV)
def test_modeldev_reward_logic(task: str) -> None:
    cfg = load_task(TASKS / task).config
    ref = cfg.optimization.reference.score
    assert reward_from_config(cfg, {"correct": True, "gain": ref})[0] == pytest.approx(1.0)
    assert reward_from_config(cfg, {"correct": True, "gain": 0.0})[0] == 0.0
    assert reward_from_config(cfg, {"correct": True, "gain": -0.3})[0] == 0.0
    assert reward_from_config(cfg, {"correct": False, "gain": 0.0})[0] == 0.0


def _independent(task: str, inputs: tuple):
    """Each reference recomputed another way (float64 loops, autograd, sorting, int64 products)."""
    if task == "gpu_softmax":
        (x,) = inputs
        e = torch.exp(x.double() - x.double().max(dim=1, keepdim=True).values)
        return (e / e.sum(dim=1, keepdim=True),)
    if task == "gpu_layernorm":
        x, w, b, dy = (t.double().clone().requires_grad_(True) for t in inputs)
        y = torch.nn.functional.layer_norm(x, (x.shape[1],), w, b, eps=1e-5)
        (y * dy.detach()).sum().backward()
        return y.detach(), x.grad, w.grad, b.grad
    if task == "gpu_prefix_scan":
        (x,) = inputs
        out = torch.zeros_like(x, dtype=torch.float64)
        acc = torch.zeros(x.shape[0], dtype=torch.float64)
        for j in range(x.shape[1]):
            acc = acc + x[:, j].double()
            out[:, j] = acc
        return (out,)
    if task == "gpu_topk":
        (x,) = inputs
        order = torch.sort(x, dim=1, descending=True, stable=True)
        return order.values[:, :16], order.indices[:, :16]
    a, b = inputs
    return ((a.long() @ b.long()),)


@pytest.mark.parametrize("task", KERNELS)
def test_spec_reference_matches_independent_math(task: str) -> None:
    spec = _module(TASKS / task / "tests" / "spec.py", f"spec_{task}")
    inputs = spec.make_inputs(12345, "cpu", **SMALL[task])
    again = spec.make_inputs(12345, "cpu", **SMALL[task])
    other = spec.make_inputs(54321, "cpu", **SMALL[task])
    assert all(torch.equal(a, b) for a, b in zip(inputs, again, strict=True))  # a seed fixes the inputs
    assert not torch.equal(inputs[0], other[0])
    ref = spec.reference(*inputs)
    ref = ref if isinstance(ref, tuple) else (ref,)
    for r, want in zip(ref, _independent(task, inputs), strict=True):
        assert r.shape == want.shape
        assert torch.allclose(r.double(), want.double(), atol=max(spec.ATOL, 1e-9), rtol=max(spec.RTOL, 1e-9))
    if task == "gpu_topk":  # distinct values per row: the indices are unambiguous
        (x,) = inputs
        assert all(len(set(row.tolist())) == row.numel() for row in x)


INTERPRET = """
import importlib.util, json, sys
import torch
def load(p, n):
    s = importlib.util.spec_from_file_location(n, p); m = importlib.util.module_from_spec(s)
    sys.modules[n] = m; s.loader.exec_module(m); return m
sys.path.insert(0, {src!r})
from looplab.measure.gpu_worker import as_outputs, compare_outputs
spec = load({spec!r}, "spec")
prog = load({prog!r}, "prog")
inputs = spec.make_inputs(777, "cpu", **{small!r})
got = [t.detach().cpu() for t in as_outputs(prog.kernel(*inputs))]
ref = [t.detach().cpu() for t in as_outputs(spec.reference(*inputs))]
print(json.dumps(compare_outputs(torch, spec, ref, got)))
"""


@pytest.mark.skipif(not HAVE_TRITON, reason="triton is not installed (pip install 'looplab[gpu]')")
@pytest.mark.parametrize("which", ["environment", "solution"])
@pytest.mark.parametrize("task", KERNELS)
def test_kernel_in_triton_interpreter(task: str, which: str) -> None:
    """The starting and the reference kernel, run by Triton's CPU interpreter on small inputs, match the spec."""
    code = INTERPRET.format(
        src=str(REPO / "src"),
        spec=str(TASKS / task / "tests" / "spec.py"),
        prog=str(TASKS / task / which / "kernel.py"),
        small=SMALL[task],
    )
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "TRITON_INTERPRET": "1"},
    )
    assert r.returncode == 0, r.stderr[-3000:]
    verdict = json.loads(r.stdout.strip().splitlines()[-1])
    assert verdict == {"ok": True}, verdict


def _run_modeldev(task: str, tmp_path: Path, candidate: Path, budget: float, scale: float) -> dict:
    out = tmp_path / "logs"
    cmd = [
        sys.executable,
        str(TASKS / task / "tests" / "verify.py"),
        "--baseline",
        str(TASKS / task / "environment" / "train.py"),
        "--candidate",
        str(candidate),
        "--out",
        str(out),
        "--work",
        str(tmp_path / "work"),
        "--budget",
        str(budget),
        "--scale",
        str(scale),
    ]
    subprocess.run(cmd, capture_output=True, text=True, timeout=budget * 2 + 120, check=True)
    return json.loads((out / "reward.json").read_text())


@pytest.mark.parametrize("task", MODELDEV)
def test_modeldev_nop_gains_exactly_nothing(task: str, tmp_path: Path) -> None:
    """The pristine trainer against itself on a fresh world: deterministic, so the gain is exactly 0."""
    r = _run_modeldev(task, tmp_path, TASKS / task / "environment" / "train.py", budget=30, scale=0.02)
    assert r["correct"], r
    assert r["gain"] == 0.0 and r["loss_baseline"] == r["loss_candidate"] > 0


def test_modeldev_missing_predictions_score_zero(tmp_path: Path) -> None:
    bad = tmp_path / "train.py"
    bad.write_text("print('no predictions')\n")
    r = _run_modeldev("gpu_markov_classify", tmp_path, bad, budget=20, scale=0.01)
    assert not r["correct"] and "candidate train.py" in r["reason"] and "no pred.pt" in r["reason"]


@pytest.mark.slow
def test_markov_reference_beats_baseline_on_cpu(tmp_path: Path) -> None:
    r = _run_modeldev(
        "gpu_markov_classify",
        tmp_path,
        TASKS / "gpu_markov_classify" / "solution" / "train.py",
        budget=30,
        scale=0.05,
    )
    assert r["correct"] and r["gain"] > 0.5, r


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("task", KERNELS)
def test_gpu_task_reference_is_faster_on_gpu(task: str) -> None:
    from looplab.measure.gpu import GpuRunDeclaration, measure

    d = TASKS / task
    decl = GpuRunDeclaration(
        spec=str(d / "tests" / "spec.py"),
        baseline=str(d / "environment" / "kernel.py"),
        candidate=str(d / "solution" / "kernel.py"),
        min_pairs=4,
        max_pairs=8,
    )
    r = measure(decl, device="cuda", log=lambda m: None)
    assert r["correct"], r
    assert r["speedup"] > 1 and math.isfinite(r["cv_candidate"])
