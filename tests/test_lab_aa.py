"""A/A test: a pipeline whose score is pure noise, 30 iterations of a lab on real sandboxes.

Every candidate changes the pipeline (a note file grows), but the score is independent
of the code: 1.0 plus Gaussian noise (sd 0.05), drawn from a seed and the evaluation's
index so the run is reproducible (``LOOPLAB_AA_SEED`` picks another realization). Any
keep is a false keep. With the default noise policy the false-keep rate must be at most
5%; with the policy off (one evaluation against a fresh evaluation of the best, or
against the best's recorded score) many more noise "improvements" are kept.
"""

from __future__ import annotations

import os

import pytest
from lab_helpers import make_lab, records, run_lab

from looplab.lab.config import NoiseSection

SEED = int(os.environ.get("LOOPLAB_AA_SEED", "0"))
NOISE_BACKEND = (
    'python3 -c "import json, os, random; '
    f"r = random.Random({SEED} * 1000003 + int(os.environ['LOOPLAB_EVAL_INDEX'])); "
    "print(json.dumps({'score': 1.0 + r.gauss(0, 0.05)}))\""
)
AGENT = """
#!/bin/bash
echo "try $LOOPLAB_EXPERIMENT" >> "$LOOPLAB_PIPELINE_DIR/pipeline/notes.txt"
echo "a change that does nothing to the score"
"""
ITERATIONS = 30


def aa_run(root, noise) -> tuple[int, int]:
    lab = make_lab(
        root,
        backend="command",
        command=NOISE_BACKEND,
        agent_script=AGENT,
        noise=noise,
        files={"pipeline/notes.txt": "start\n"},
    )
    s = run_lab(lab, max_iterations=ITERATIONS, plateau=None)
    assert s.stop_reason == "max_iterations" and s.experiments == ITERATIONS
    recs = [r for r in records(lab) if r.status != "baseline"]
    assert all(r.status in ("keep", "discard") for r in recs)
    return sum(r.kept for r in recs), sum(r.n_evals for r in recs)


@pytest.mark.slow
def test_aa_false_keeps_with_and_without_the_noise_policy(tmp_path):
    default = NoiseSection().model_dump()
    keeps, evals = aa_run(tmp_path / "policy", default)
    off_paired, _ = aa_run(tmp_path / "off-paired", {"repeats": 1, "paired": True})
    off_recorded, _ = aa_run(tmp_path / "off-recorded", {"repeats": 1, "paired": False})
    print(
        f"\nA/A seed {SEED}, {ITERATIONS} iterations each: "
        f"default policy (repeats {default['repeats']}, confidence {default['confidence']}, paired): "
        f"{keeps} false keeps ({keeps / ITERATIONS:.1%}, {evals} evaluations); "
        f"policy off, one paired evaluation: {off_paired} ({off_paired / ITERATIONS:.1%}); "
        f"policy off, against the best's recorded score: {off_recorded} ({off_recorded / ITERATIONS:.1%})"
    )
    assert keeps / ITERATIONS <= 0.05
    assert off_paired >= 6 and off_paired > 3 * max(keeps, 1)
