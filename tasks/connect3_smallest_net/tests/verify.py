#!/usr/bin/env python3
"""Verifier of connect3_smallest_net: export the agent's network in a jail, then score the graph.

1. Under looplab the harness's candidate runner follows tests/run.toml (exact mode):
   the pristine exporter (``/app/c3graph.py``, a copy of this folder's, never
   editable) loads ``/app/model.py`` and ``/app/weights.pt`` (the only files carried
   from the agent) in a jail of its own (read-only filesystem, /tests and /logs
   hidden, own PID namespace, 120 s) and writes ``graph.pt``: plain data, never code.
   In a plain Harbor container (the container is the isolation) ``verify.py --app
   /app --out /logs/verifier`` runs the same export as a child process.
2. ``verify.py check OUTPUT`` -- a process that never imports the agent's code -- rebuilds
   the labelled positions with its own copy of the solver (``connect3.py``),
   validates the graph against the allowed operations and limits, counts its
   parameters and runs it on all 250,503 scored positions (``c3graph.evaluate``).
3. Gate: accuracy >= 0.95, else reward 0. Metric: ``log2_params``; reward linear
   from the baseline (0) to the reference (1), clipped to [0, 1].
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import c3graph  # noqa: E402  (pristine copies next to this file)
import connect3  # noqa: E402

BASELINE = 14.4515  # [optimization.baseline] score: log2(22,405), the starting MLP
REFERENCE = 8.0715  # [optimization.reference] score: log2(269), the mirror-symmetric conv net
METRIC = "log2_params"
EXPORT_TIMEOUT_S = 120.0
MAX_GRAPH_BYTES = 64 << 20

try:  # imported now: nothing is imported after the candidate has run
    from looplab.verify.rewards import linear_reward as _shared_linear
except ImportError:  # plain Harbor without looplab: the same formula below
    _shared_linear = None


def linear_reward(value: float) -> float:
    if _shared_linear is None:
        return min(1.0, max(0.0, (value - BASELINE) / (REFERENCE - BASELINE)))
    return float(_shared_linear(value, BASELINE, REFERENCE))


def fail(reason: str, **info: object) -> dict:
    return {"reward": 0.0, "correct": False, "reason": reason, **info}


def score_graph(graph_path: str, **info: object) -> dict:
    """The reward of an exported graph (plain data): validated, counted and run here."""
    if not os.path.isfile(graph_path) or os.path.islink(graph_path):
        return fail("the export wrote no graph.pt", **info)
    if os.path.getsize(graph_path) > MAX_GRAPH_BYTES:
        return fail("the exported graph is larger than 64 MiB", **info)
    data = connect3.build_dataset()
    try:
        g = c3graph.load_graph(graph_path)
        metrics = c3graph.evaluate(g, data)
    except c3graph.GraphError as exc:
        return fail(f"graph rejected: {exc}", **info)
    except Exception as exc:  # noqa: BLE001  (running a malformed graph may raise anything)
        return fail(f"the graph failed to run: {type(exc).__name__}: {exc}"[:500], **info)
    out = {**metrics, **info}
    if metrics["accuracy"] < c3graph.GATE:
        return fail(f"accuracy {metrics['accuracy']:.4f} is below the gate {c3graph.GATE}", **out)
    return {"reward": linear_reward(metrics[METRIC]), "correct": True, **out}


def verify(app: str, work_parent: str | None = None) -> dict:
    """Plain Harbor: export in a child process (no jail: the container is the isolation), then score."""
    model, weights = os.path.join(app, "model.py"), os.path.join(app, "weights.pt")
    for p in (model, weights):
        if not os.path.isfile(p):
            return fail(f"{p} does not exist")
    work = tempfile.mkdtemp(prefix="c3-export-", dir=work_parent)
    try:
        shutil.copyfile(model, os.path.join(work, "model.py"))
        shutil.copyfile(weights, os.path.join(work, "weights.pt"))
        shutil.copyfile(os.path.join(os.path.dirname(os.path.abspath(__file__)), "c3graph.py"),
                        os.path.join(work, "c3graph.py"))  # fmt: skip
        t0 = time.monotonic()
        try:
            res = subprocess.run(
                [sys.executable, "c3graph.py", "export", "--model", "model.py", "--weights", "weights.pt",
                 "--out", "graph.pt"],
                cwd=work, capture_output=True, text=True, timeout=EXPORT_TIMEOUT_S, stdin=subprocess.DEVNULL,
                env={**os.environ, "OMP_NUM_THREADS": "1"},
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return fail(f"the export took longer than {EXPORT_TIMEOUT_S:.0f} s")
        info = {"export_seconds": round(time.monotonic() - t0, 3)}
        if res.returncode != 0:
            tail = (res.stderr.strip().splitlines() or ["(no output)"])[-1][-400:]
            return fail(f"the model could not be exported: {tail}", **info)
        return score_graph(os.path.join(work, "graph.pt"), **info)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_reward(out_dir: str, data: dict) -> None:
    """Write reward.json atomically, undoing anything done to out_dir meanwhile."""
    if os.path.islink(out_dir) or (os.path.exists(out_dir) and not os.path.isdir(out_dir)):
        os.unlink(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    for name in ("reward.json", "reward.txt"):
        p = os.path.join(out_dir, name)
        if os.path.islink(p) or os.path.isfile(p):
            os.unlink(p)
        elif os.path.isdir(p):
            shutil.rmtree(p, ignore_errors=True)
    tmp = os.path.join(out_dir, ".reward.json.tmp")
    with open(tmp, "w") as fh:
        json.dump(data, fh)
        fh.write("\n")
    os.replace(tmp, os.path.join(out_dir, "reward.json"))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "check":  # check OUTPUT_DIR: the reward JSON of its graph.pt
        import torch

        torch.set_num_threads(1)
        try:
            result = score_graph(os.path.join(sys.argv[2], "graph.pt"))
        except Exception as exc:  # noqa: BLE001  (a reward must always be printed)
            result = fail(f"verifier error: {type(exc).__name__}: {exc}"[:500])
        print(json.dumps(result))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--app", default="/app")
    ap.add_argument("--out", default="/logs/verifier")
    ap.add_argument("--work", default=None, help="parent folder for scratch files (default: $TMPDIR)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    try:
        result = verify(args.app, args.work)
    except Exception as exc:  # noqa: BLE001  (a reward must always be written)
        result = fail(f"verifier error: {type(exc).__name__}: {exc}"[:500])
    write_reward(args.out, result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
