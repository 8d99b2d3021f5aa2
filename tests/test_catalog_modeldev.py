"""Smoke tests of the three model-development tasks: they load cleanly, their pristine evaluators run
on tiny models/selections and return numbers in range, and the rules they promise are enforced.

Everything here runs on the host against the tasks' own files (``tests/`` modules imported from the
task folder), in a few seconds per task. The end-to-end oracle/nop runs through the harness are the
slow test at the bottom.
"""

from __future__ import annotations

import filecmp
import importlib.util
import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
from conftest import REPO, run_cli, trial_results

from looplab.tasks import load_task
from looplab.verify.rewards import reward_from_config

TASKS = REPO / "tasks"
MODELDEV = ["connect3_smallest_net", "tiny_lm_budget", "data_selection"]
# files the verifier keeps a pristine copy of in tests/ that the agent also sees in /app
SHARED = {
    "connect3_smallest_net": ["c3graph.py", "connect3.py"],
    "tiny_lm_budget": ["lmdata.py", "lmeval.py", "grammar.py"],
    "data_selection": ["trainer.py", "dseval.py", "world.py"],
}
EDITABLE = {
    "connect3_smallest_net": ["model.py", "weights.pt"],
    "tiny_lm_budget": ["train.py"],
    "data_selection": ["select.py"],
}


def _module(task: str, name: str, folder: str = "tests"):
    path = TASKS / task / folder
    sys.path.insert(0, str(path))
    try:
        spec = importlib.util.spec_from_file_location(f"{task}_{folder}_{name}", path / f"{name}.py")
        assert spec and spec.loader
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod  # dataclasses look their module up
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(path))
    return mod


# ---- all three: layout and constants --------------------------------------------------------------
@pytest.mark.parametrize("task", MODELDEV)
def test_task_loads_cleanly_and_its_constants_agree(task: str) -> None:
    t = load_task(TASKS / task)
    assert t.warnings == []
    cfg = t.config
    assert cfg.metadata["domain"] == "model-dev" and cfg.metadata["author"] == "looplab"
    assert cfg.looplab.measure == "reported" and cfg.looplab.reward == "linear"
    assert cfg.looplab.dev_check == "bash /app/check.sh"
    assert cfg.looplab.editable == EDITABLE[task]
    for f in EDITABLE[task]:
        assert (t.environment_dir / f).is_file()
    for f in ("check.sh", "Dockerfile"):
        assert (t.environment_dir / f).is_file()
    assert (t.solution_dir / "solve.sh").is_file() and (t.solution_dir / "reference.md").is_file()
    verify = _module(task, "verify")
    assert cfg.optimization is not None and cfg.optimization.metric == verify.METRIC
    assert cfg.optimization.baseline.score == verify.BASELINE
    assert cfg.optimization.reference.score == verify.REFERENCE
    for f in SHARED[task]:
        assert filecmp.cmp(t.environment_dir / f, t.tests_dir / f, shallow=False), f"{f} copies differ"
    # the reward test.sh writes and the harness's recomputation agree
    value = (verify.BASELINE + verify.REFERENCE) / 2
    data = {"reward": verify.linear_reward(value), "correct": True, verify.METRIC: value}
    if task == "connect3_smallest_net":
        data["accuracy"] = 0.96
    reward, reason = reward_from_config(cfg, data)
    assert reason is None and reward == pytest.approx(data["reward"]) == pytest.approx(0.5)


# all three run on the harness's candidate runner (tests/run.toml, exact mode) and ship no jail code
@pytest.mark.parametrize("task", MODELDEV)
def test_the_task_declares_its_runs_and_keeps_no_jail_code(task: str) -> None:
    from looplab.verify.runner import load_declaration

    folder = TASKS / task
    decl = load_declaration(folder / "tests")
    assert decl is not None and decl.mode == "exact" and decl.run is not None
    assert not list(folder.rglob("jail.py"))
    if task == "connect3_smallest_net":
        # the agent's files are loaded only by the exporter in the run step; the check reads graph.pt
        assert "{src}/model.py" in decl.run.command and "export" in decl.run.command
        assert "check {output}" in decl.check.command and "model.py" not in decl.check.command
        return
    # the agent's script trains in the run jail on the fresh input, under a CPU-second budget of the
    # whole jail; it sees neither /tests nor the local /data; the trusted check reads only its output
    script = EDITABLE[task][0]
    assert (
        decl.run.cpu_sec == 60 and f"{{src}}/{script}" in decl.run.command and "{input}" in decl.run.command
    )
    assert decl.hidden == ["data"] and decl.generate is not None and decl.screen is not None
    assert "{output}" in decl.check.command and script not in decl.check.command
    if task == "tiny_lm_budget":  # the top of the reward: the task's solution, trained alongside
        assert decl.reference == "solution" and "{reference}" in decl.check.command
    for step in (decl.generate, decl.run, decl.check):  # one thread everywhere
        assert "OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1" in step.command
    for step in (decl.generate, decl.check):  # the trusted numbers: the same float kernels on any x86-64
        assert "MKL_CBWR=COMPATIBLE ATEN_CPU_CAPABILITY=default" in step.command


# ---- connect3_smallest_net ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def c3() -> tuple:
    c3graph = _module("connect3_smallest_net", "c3graph")
    connect3 = _module("connect3_smallest_net", "connect3")
    return c3graph, connect3.build_dataset()


def _export(c3graph, tmp_path: Path, source: str, model: nn.Module | None = None) -> dict:
    """Write model.py (+ weights from ``model`` or from build_model()) and export it like the verifier."""
    (tmp_path / "model.py").write_text(source)
    if model is None:
        spec = importlib.util.spec_from_file_location("m", tmp_path / "model.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        model = mod.build_model()
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    return c3graph.export(str(tmp_path / "model.py"), str(tmp_path / "weights.pt"))


def test_connect3_dataset_matches_the_solver(c3) -> None:
    _, data = c3
    assert len(data["boards"]) == 308455 and int(data["scored"].sum()) == 250503
    assert data["boards"].shape[1:] == (2, 4, 5)
    # the empty board: first player wins with the 9th stone (value 21 - 9 = 12) playing the centre
    empty = np.flatnonzero(data["boards"].reshape(len(data["boards"]), -1).sum(1) == 0)
    assert len(empty) == 1
    assert data["values"][empty[0]].max() == 12
    best = data["optimal"][empty[0]]
    assert best[2] and best.tolist() == best[::-1].tolist()  # the centre is optimal; mirror symmetry
    # every optimal move is legal, every scored position has a wrong legal move
    assert not (data["optimal"] & ~data["legal"]).any()
    s = data["scored"]
    assert (data["optimal"][s].sum(1) < data["legal"][s].sum(1)).all()


def test_connect3_baseline_scores_as_documented(c3, tmp_path: Path) -> None:
    c3graph, data = c3
    env = TASKS / "connect3_smallest_net" / "environment"
    g = c3graph.export(str(env / "model.py"), str(env / "weights.pt"))
    m = c3graph.evaluate(g, data)
    assert m["params"] == 22405 and m["literal_params"] == 0
    assert m["accuracy"] >= 0.95
    assert m["log2_params"] == pytest.approx(14.4515, abs=1e-4)


def test_connect3_tiny_model_runs_and_is_counted(c3, tmp_path: Path) -> None:
    c3graph, data = c3
    src = (
        "import torch, torch.nn as nn\n"
        "class M(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.lin = nn.Linear(40, 5)\n"
        "        self.register_buffer('scale', torch.ones(5))\n"
        "    def forward(self, x):\n"
        "        return nn.functional.leaky_relu(self.lin(x.flatten(1)), 0.1) * self.scale * 0.5 + 3\n"
        "def build_model():\n    return M()\n"
    )
    g = _export(c3graph, tmp_path, src)
    m = c3graph.evaluate(g, data)
    # 205 weights + 5 buffer + 3 literals (slope 0.1, factor 0.5, the integer operand 3); flatten's 1 is free
    assert (m["tensor_params"], m["literal_params"], m["params"]) == (210, 3, 213)
    assert 0.0 <= m["accuracy"] <= 1.0 and m["positions"] == 250503


def test_connect3_tensors_made_in_forward_are_counted(c3, tmp_path: Path) -> None:
    c3graph, _ = c3
    src = (
        "import torch, torch.nn as nn\n"
        "class M(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.lin = nn.Linear(40, 5)\n"
        "    def forward(self, x):\n"
        "        return self.lin(x.flatten(1)) + torch.arange(5) * torch.ones(7)[:5]\n"
        "def build_model():\n    return M()\n"
    )
    g = _export(c3graph, tmp_path, src)
    # arange(5) * ones(7)[:5] does not depend on the input: it is computed while tracing and frozen
    # into one 5-element constant, which counts
    assert c3graph.count_params(g)["params"] == 205 + 5
    assert sum(1 for n in g["nodes"] if n["op"] == "get_attr") == 3


def test_connect3_shared_weights_count_once(c3, tmp_path: Path) -> None:
    c3graph, _ = c3
    src = (
        "import torch, torch.nn as nn\n"
        "class M(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.w = nn.Parameter(torch.randn(4, 2, 3, 3))\n"
        "        self.head = nn.Parameter(torch.randn(1, 4, 4, 1))\n"
        "    def forward(self, x):\n"
        "        h = torch.relu(nn.functional.conv2d(x, self.w, padding=1))\n"
        "        h2 = torch.relu(nn.functional.conv2d(x.flip(3), self.w, padding=1)).flip(3)\n"
        "        return nn.functional.conv2d(h + h2, self.head).flatten(1)\n"
        "def build_model():\n    return M()\n"
    )
    g = _export(c3graph, tmp_path, src)
    assert c3graph.count_params(g)["params"] == 72 + 16


@pytest.mark.parametrize(
    ("forward", "why"),
    [
        (
            "        if x.sum() > 3:\n            return self.lin(x.flatten(1))\n        return -self.lin(x.flatten(1))\n",
            "cannot be traced",
        ),
        ("        return torch.sort(self.lin(x.flatten(1)), 1).values\n", "operation not allowed"),
    ],
)
def test_connect3_export_refuses_what_is_not_a_fixed_graph(
    c3, tmp_path: Path, forward: str, why: str
) -> None:
    c3graph, _ = c3
    src = (
        "import torch, torch.nn as nn\n"
        "class M(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.lin = nn.Linear(40, 5)\n"
        "    def forward(self, x):\n" + forward + "def build_model():\n    return M()\n"
    )
    with pytest.raises(c3graph.GraphError, match=why):
        _export(c3graph, tmp_path, src)


def test_connect3_scorer_refuses_a_forged_graph(c3) -> None:
    """The scorer re-validates the graph file: a hand-made graph calling a non-allowed op is refused."""
    c3graph, data = c3
    g = {
        "format": "c3graph-1",
        "tensors": {},
        "nodes": [
            {"name": "x", "op": "placeholder", "target": "x", "args": ("tuple", []), "kwargs": ("dict", [])},
            {
                "name": "y",
                "op": "call_function",
                "target": "os.system",
                "args": ("tuple", [("node", "x")]),
                "kwargs": ("dict", []),
            },
            {
                "name": "out",
                "op": "output",
                "target": "output",
                "args": ("tuple", [("node", "y")]),
                "kwargs": ("dict", []),
            },
        ],
    }
    with pytest.raises(c3graph.GraphError, match="operation not allowed: os.system"):
        c3graph.evaluate(g, data)


def test_connect3_verifier_scores_the_reference(tmp_path: Path) -> None:
    """The sealed verifier's own entry point on the reference files (export jailed): reward 1."""
    app = Path("/var/tmp") / f"c3app-{os.getpid()}"
    app.mkdir(exist_ok=True)
    try:
        for f in ("model.py", "weights.pt"):
            (app / f).write_bytes((TASKS / "connect3_smallest_net" / "solution" / f).read_bytes())
        r = subprocess.run(
            [
                sys.executable,
                str(TASKS / "connect3_smallest_net" / "tests" / "verify.py"),
                "--app",
                str(app),
                "--out",
                str(tmp_path / "out"),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert r.returncode == 0, r.stderr
        data = json.loads((tmp_path / "out" / "reward.json").read_text())
        assert data["correct"] is True and data["params"] == 269 and data["accuracy"] >= 0.95
        assert data["reward"] == 1.0
    finally:
        for p in app.iterdir():
            p.unlink()
        app.rmdir()


# ---- tiny_lm_budget -------------------------------------------------------------------------------
def test_tiny_lm_grammar_is_deterministic_and_uses_only_the_vocabulary() -> None:
    grammar = _module("tiny_lm_budget", "grammar")
    lmdata = _module("tiny_lm_budget", "lmdata")
    a = "".join(grammar.Language(5).documents(random.Random(1), 20_000))
    b = "".join(grammar.Language(5).documents(random.Random(1), 20_000))
    c = "".join(grammar.Language(6).documents(random.Random(1), 20_000))
    assert a == b and a != c and len(a) >= 20_000
    assert set(a) <= set(lmdata.VOCAB) and a.endswith("\n")
    assert lmdata.decode(lmdata.encode(a[:500])) == a[:500]


class _Bigram(nn.Module):
    """A causal model: logits at t depend on x[:, t] only."""

    def __init__(self, v: int, peek: bool = False):
        super().__init__()
        self.table = nn.Parameter(torch.zeros(v, v))
        self.peek = peek

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.table[x]
        if self.peek:  # looks at the next character: not causal
            nxt = torch.roll(x, -1, dims=1)
            out = out + 5.0 * nn.functional.one_hot(nxt, out.shape[-1]).float()
        return out


@pytest.fixture(scope="module")
def lm_rows() -> tuple:
    lmeval = _module("tiny_lm_budget", "lmeval")
    grammar = _module("tiny_lm_budget", "grammar")
    rng = random.Random(3)
    docs = grammar.Language(9).documents(rng, 1 << 40)
    rows = lmeval.make_rows(docs, rng, lmeval.ROWS)
    probes = lmeval.make_probes(rows, docs, rng, lmeval.PROBES)
    return lmeval, rows, probes


def test_tiny_lm_evaluator_scores_a_causal_model(lm_rows, tmp_path: Path) -> None:
    lmeval, rows, probes = lm_rows
    assert len(rows) == 256 and all(len(r) == 129 for r in rows)
    assert all(p[2][: p[1]] == rows[p[0]][: p[1]] and p[2][p[1]] != rows[p[0]][p[1]] for p in probes)
    path = tmp_path / "m.pt"
    torch.jit.save(torch.jit.script(_Bigram(31)), str(path))
    m = lmeval.evaluate(str(path), rows, probes, random.Random(0))
    assert m["bpc"] == pytest.approx(math.log2(31), abs=1e-6)  # uniform predictions
    assert m["scored_chars"] == 256 * 128 and m["probe_max_diff"] == 0.0


def test_tiny_lm_evaluator_rejects_a_model_that_looks_ahead(lm_rows, tmp_path: Path) -> None:
    lmeval, rows, probes = lm_rows
    path = tmp_path / "peek.pt"
    torch.jit.save(torch.jit.script(_Bigram(31, peek=True)), str(path))
    with pytest.raises(lmeval.EvalError, match="not causal"):
        lmeval.evaluate(str(path), rows, probes, random.Random(0))


def test_tiny_lm_evaluator_rejects_wrong_shapes_and_missing_models(lm_rows, tmp_path: Path) -> None:
    lmeval, rows, probes = lm_rows

    class Last(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.zeros(x.shape[0], 31)

    path = tmp_path / "last.pt"
    torch.jit.save(torch.jit.script(Last()), str(path))
    with pytest.raises(lmeval.EvalError, match="expected"):
        lmeval.evaluate(str(path), rows, probes, random.Random(0))
    with pytest.raises(lmeval.EvalError, match="does not exist"):
        lmeval.evaluate(str(tmp_path / "none.pt"), rows, probes, random.Random(0))


def _counted_bigram(lang_seed: int) -> nn.Module:
    """A real (if small) model of language ``lang_seed``: its bigram counts, smoothed, as logits."""
    grammar = _module("tiny_lm_budget", "grammar")
    lmdata = _module("tiny_lm_budget", "lmdata")
    ids = lmdata.encode("".join(grammar.Language(lang_seed).documents(random.Random(0), 100_000)))
    v = len(lmdata.VOCAB)
    counts = torch.ones(v, v)
    counts.index_put_((ids[:-1], ids[1:]), torch.ones(len(ids) - 1), accumulate=True)
    model = _Bigram(v)
    with torch.no_grad():
        model.table.copy_(counts.log())
    return model


def test_tiny_lm_check_scores_both_models_on_the_same_fresh_rows(tmp_path: Path) -> None:
    """The trusted check: the starting script again gains 0 (within the noise floor), a model that
    looks ahead is invalid, and the held-out rows are drawn by the check, not read from a file."""
    verify = _module("tiny_lm_budget", "verify")
    exp, out = tmp_path / "expected", tmp_path / "output"
    exp.mkdir()
    out.mkdir()
    (exp / "language.json").write_text(json.dumps({"seed": 9}))
    torch.jit.save(torch.jit.script(_Bigram(31)), str(exp / "baseline.pt"))
    torch.jit.save(torch.jit.script(_Bigram(31)), str(out / "model.pt"))
    same = verify.check(str(exp), str(out), heldout_seed=1)
    assert same["correct"] is True and same["bpc_gain"] == 0.0 and same["reward"] == 0.0
    again = verify.check(str(exp), str(out))
    assert again["bpc"] == pytest.approx(math.log2(31), abs=1e-6) and again["raw_gain"] == 0.0
    torch.jit.save(torch.jit.script(_Bigram(31, peek=True)), str(out / "model.pt"))
    peek = verify.check(str(exp), str(out), heldout_seed=1)
    assert peek["correct"] is False and "not causal" in peek["reason"] and peek["reward"] == 0.0


def test_tiny_lm_reward_is_the_gain_over_the_reference_trained_alongside(tmp_path: Path) -> None:
    """The top of the reward is the gain of the reference trained in the same run (its folder: the
    check's third argument): matching it scores 1, half of it 0.5, the starting script 0; a starved
    reference is no yardstick (the harness's failure). Without one (plain Harbor) the calibrated gain."""
    verify = _module("tiny_lm_budget", "verify")
    exp, out, ref = tmp_path / "expected", tmp_path / "output", tmp_path / "reference"
    for d in (exp, out, ref):
        d.mkdir()
    (exp / "language.json").write_text(json.dumps({"seed": 9}))
    uniform, good = _Bigram(31), _counted_bigram(9)
    torch.jit.save(torch.jit.script(uniform), str(exp / "baseline.pt"))
    torch.jit.save(torch.jit.script(good), str(ref / "model.pt"))
    torch.jit.save(torch.jit.script(good), str(out / "model.pt"))
    match = verify.check(str(exp), str(out), str(ref), heldout_seed=1)
    top = match["reference_gain"]
    assert top > 1.0 and match["reference_bpc"] == match["bpc"] == pytest.approx(math.log2(31) - top)
    assert match["gain_ratio"] == pytest.approx(1.0) and match["reward"] == pytest.approx(1.0)
    half = _Bigram(31)  # logits halfway between uniform and the counts: a smaller gain
    with torch.no_grad():
        half.table.copy_(good.table * 0.3)
    torch.jit.save(torch.jit.script(half), str(out / "model.pt"))
    part = verify.check(str(exp), str(out), str(ref), heldout_seed=1)
    assert 0.05 < part["gain_ratio"] < 0.95 and part["reward"] == pytest.approx(part["bpc_gain"] / top)
    harbor = verify.check(str(exp), str(out), heldout_seed=1)  # no reference: the calibrated constant
    assert harbor["reference_gain"] == verify.REFERENCE_GAIN_BPC and "reference_bpc" not in harbor
    assert harbor["reward"] == pytest.approx(min(1.0, part["bpc_gain"] / verify.REFERENCE_GAIN_BPC))
    torch.jit.save(torch.jit.script(uniform), str(out / "model.pt"))
    assert verify.check(str(exp), str(out), str(ref), heldout_seed=1)["reward"] == 0.0
    torch.jit.save(torch.jit.script(uniform), str(ref / "model.pt"))  # a reference that learnt nothing
    with pytest.raises(verify.NoYardstick, match="gained only 0.000 bpc"):
        verify.check(str(exp), str(out), str(ref), heldout_seed=1)


# ---- data_selection -------------------------------------------------------------------------------
def test_data_selection_pool_and_the_baseline_selection(tmp_path: Path) -> None:
    world = _module("data_selection", "world")
    dseval = _module("data_selection", "dseval")
    px, py = world.sample("pool", world.POOL_SIZE, 4)
    assert px.shape == (20000, 24) and px.dtype == np.float32 and set(np.unique(py)) == set(range(6))
    hx, hy = world.sample("clean", 600, 5)
    assert np.bincount(hy).min() > 60  # balanced classes
    data = tmp_path / "data"
    data.mkdir()
    np.savez(data / "pool.npz", X=px, y=py)
    out = tmp_path / "sel.json"
    env = {**os.environ, "DATA": str(data), "SELECT_K": "2000", "SELECT_OUT": str(out)}
    r = subprocess.run(
        [sys.executable, str(TASKS / "data_selection" / "environment" / "select.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    sel = dseval.read_selection(str(out), len(py))
    # the starting script's choice is the first of the yardstick's random selections: within its noise
    assert sel.tolist() == dseval.baseline_selection(len(py)).tolist()
    m = dseval.score(px, py, sel, hx, hy)
    assert m["accuracy_gain"] == 0.0 and 0.3 < m["accuracy"] < 1.0
    assert abs(m["raw_gain"]) <= m["noise_floor"] == pytest.approx(3 * m["baseline_accuracy_sd"])
    assert 0.005 < m["baseline_accuracy_sd"] < 0.05  # a random selection's luck: why one draw is no yardstick


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (list(range(1999)), "exactly 2000"),
        ([0] * 2000, "repeats"),
        (list(range(1, 2001)), "outside the pool"),
        ([float(i) for i in range(2000)], "list of integers"),
        ({"indices": list(range(2000))}, "list of integers"),
    ],
)
def test_data_selection_rejects_malformed_selections(tmp_path: Path, content, why: str) -> None:
    dseval = _module("data_selection", "dseval")
    p = tmp_path / "sel.json"
    p.write_text(json.dumps(content))
    with pytest.raises(dseval.SelectionError, match=why):
        dseval.read_selection(str(p), 2000)


def test_data_selection_clean_rows_beat_random(tmp_path: Path) -> None:
    """The fixed model rewards selection: clean balanced rows score far above a random pool subset."""
    world = _module("data_selection", "world")
    trainer = _module("data_selection", "trainer")
    px, py = world.sample("pool", world.POOL_SIZE, 8)
    hx, hy = world.sample("clean", 2000, 9)
    cx, cy = world.sample("clean", 2000, 10)
    rnd = np.random.default_rng(0).choice(len(py), 2000, replace=False)
    assert trainer.accuracy(cx, cy, hx, hy) > trainer.accuracy(px[rnd], py[rnd], hx, hy) + 0.1
    # the same rows in another order give the same classifier
    perm = np.random.default_rng(1).permutation(2000)
    assert trainer.accuracy(cx[perm], cy[perm], hx, hy) == pytest.approx(
        trainer.accuracy(cx, cy, hx, hy), abs=2e-3
    )


# ---- end to end through the harness (slow) --------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("task", MODELDEV)
def test_oracle_reaches_the_reference_and_nop_scores_zero(tmp_path: Path, task: str) -> None:
    r = run_cli(
        "run",
        "-p",
        str(TASKS / task),
        "-a",
        "oracle",
        "-a",
        "nop",
        "--jobs-dir",
        str(tmp_path / "jobs"),
        "--job-name",
        "e2e",
        timeout=1800,
    )
    assert r.returncode == 0, r.stderr + r.stdout
    results = {res["agent"]: res for res in trial_results(tmp_path / "jobs" / "e2e")}
    assert results["oracle"]["reward"] >= 0.9, results["oracle"]["verifier_result"]
    assert results["nop"]["reward"] == 0.0, results["nop"]["verifier_result"]
    for res in results.values():
        assert res["verifier_result"]["extra"].get("jail") == "bwrap"
        assert res["verifier_result"]["duration_s"] < 180
