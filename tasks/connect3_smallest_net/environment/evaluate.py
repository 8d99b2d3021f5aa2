#!/usr/bin/env python3
"""Local check: export your network the way the verifier does and print its score.

Runs the exporter (c3graph.py) in a subprocess on /app/model.py + /app/weights.pt,
then validates, counts and runs the exported graph on every scored position of
/data/connect3.npz. The verifier does the same with pristine copies of these files
(the export jailed), on positions it rebuilds with its own solver.

    python3 /app/evaluate.py
    python3 /app/evaluate.py --model other_model.py --weights other_weights.pt
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import c3graph  # noqa: E402

BASELINE, REFERENCE = 14.4515, 8.0715  # log2 parameter counts of the starting MLP and the reference


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="/app/model.py")
    ap.add_argument("--weights", default="/app/weights.pt")
    ap.add_argument("--data", default="/data/connect3.npz")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        graph_path = os.path.join(tmp, "graph.pt")
        here = os.path.dirname(os.path.abspath(__file__))
        r = subprocess.run(
            [sys.executable, os.path.join(here, "c3graph.py"), "export", "--model", args.model,
             "--weights", args.weights, "--out", graph_path],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if r.returncode != 0:
            print(r.stdout + r.stderr, file=sys.stderr)
            sys.exit("export failed")
        data = dict(np.load(args.data))
        try:
            m = c3graph.evaluate(c3graph.load_graph(graph_path), data)
        except c3graph.GraphError as exc:
            sys.exit(f"graph rejected: {exc}")
    ok = m["accuracy"] >= c3graph.GATE
    reward = min(1.0, max(0.0, (m["log2_params"] - BASELINE) / (REFERENCE - BASELINE))) if ok else 0.0
    print(json.dumps(m, indent=1))
    print(f"accuracy {m['accuracy']:.4f} ({'passes' if ok else 'FAILS'} the {c3graph.GATE} gate), "
          f"{m['params']} parameters -> reward {reward:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
