#!/usr/bin/env python3
"""Verifier of tiny_lm_budget: the agent's train.py on a fresh language, held-out bpc against the starter's.

Under looplab the candidate runner follows ``tests/run.toml`` and calls the three
trusted steps below, each in a jail of its own; train.py runs between them in its
own jail (no /tests, no /data), stopped once everything it started has used 60 CPU
seconds (what it saved by then is scored). The task's solution (the reference trainer)
runs alongside it (``reference = "solution"``): same input, same core, at the same time,
under the same budget in a jail of its own, its model saved to /reference:

- ``screen SRC``: train.py exists and is at most 256 KiB;
- ``generate SEED INPUT EXPECTED``: a fresh language (new lexicon, same grammar:
  ``grammar.py``, hidden from the agent) from SEED; a 2,000,000-character training
  corpus and a 400,000-character validation text of it to INPUT (train.txt,
  valid.txt); the language's seed to EXPECTED, and the starting train.py (pristine
  copy in /orig; deterministic: seed 0, one thread, a fixed 3,000 steps) trained
  on the same corpus to EXPECTED/baseline.pt;
- ``check EXPECTED OUTPUT REFERENCE``: held-out rows and probes generated now from the
  language with a seed from /dev/urandom, kept in memory; the pristine evaluator
  (``lmeval.py``) loads each TorchScript model afresh for every batch, checks
  causality and computes bits per character on the same rows, in the same order, for
  the starting script's, the agent's and the reference's models.
  ``bpc_gain`` = baseline bpc - agent bpc (``raw_gain``), counted as 0 when it is not
  more than ``NOISE_BPC``; the metric ``gain_ratio`` = ``bpc_gain`` / the reference's gain
  measured in this run; reward linear from 0 (gain 0) to 1 (the reference's gain),
  clipped to [0, 1]. A CPU second buys a different amount of training on another or a
  busier CPU; the reference trained beside the agent's script gets the same CPU, so the
  ratio does not depend on the machine. Prints the reward JSON.

In a plain Harbor container (``test.sh``: ``verify.py --app /app --out /logs/verifier``)
the same steps run in one process, train.py as a child process with its CPU time
bounded (RLIMIT_CPU: the container is the isolation there), and reward.json is written;
no solution is there to train alongside, so the reference's gain is the constant
``REFERENCE_GAIN_BPC`` measured at calibration (on that machine's CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grammar  # noqa: E402  (pristine copies next to this file)
import lmeval  # noqa: E402
import torch  # noqa: E402

BASELINE = 0.0  # [optimization.baseline] score: the starting train.py gains nothing over itself
REFERENCE = 1.0  # [optimization.reference] score: the reference trainer's own gain ratio
METRIC = "gain_ratio"  # bpc_gain / the bpc gained by the reference trained alongside, in the same run
REFERENCE_GAIN_BPC = 1.60  # plain Harbor only (no reference alongside): its gain at calibration
MIN_REFERENCE_GAIN_BPC = 0.3  # a reference that gained less was starved: no yardstick (harness failure)
PRISTINE = "/orig"  # the starting train.py + lmdata.py, as built
BUDGET_S = 60  # CPU seconds of train.py (the runner: its whole jail)
NOISE_BPC = 0.01  # a gain this small is no gain (float kernels differ between CPUs and jails)
UNBOUNDED_S = 100_000  # the starting train.py's budget when it trains the yardstick (trusted, in generate)
TRAIN_CHARS = 2_000_000
VALID_CHARS = 400_000
MAX_TRAIN_PY_BYTES = 256 << 10
ONE_THREAD = {k: "1" for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}


def linear_reward(value: float) -> float:
    return min(1.0, max(0.0, (value - BASELINE) / (REFERENCE - BASELINE)))


def fail(reason: str, **info: object) -> dict:
    return {"reward": 0.0, "correct": False, "reason": reason, **info}


def screen(src: str) -> str | None:
    """Why train.py cannot be run, or None."""
    path = os.path.join(src, "train.py")
    if not os.path.isfile(path):
        return f"{path} does not exist"
    if os.path.getsize(path) > MAX_TRAIN_PY_BYTES:
        return f"{path} is larger than 256 KiB"
    return None


def write_corpus(lang: grammar.Language, seed: int, chars: int, path: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        for d in lang.documents(random.Random(seed), chars):
            fh.write(d)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def generate(seed: int, inp: str, exp: str, pristine: str = PRISTINE) -> None:
    inp, exp = os.path.abspath(inp), os.path.abspath(exp)
    rng = random.Random(seed)
    lang_seed = rng.getrandbits(63)
    lang = grammar.Language(lang_seed)
    write_corpus(lang, rng.getrandbits(63), TRAIN_CHARS, os.path.join(inp, "train.txt"))
    write_corpus(lang, rng.getrandbits(63), VALID_CHARS, os.path.join(inp, "valid.txt"))
    with open(os.path.join(exp, "language.json"), "w") as fh:
        json.dump({"seed": lang_seed}, fh)
    # no budget here: the starting script's own stop (10 CPU s before its budget) must never cut its
    # 3,000 steps short on a slow or loaded machine, or the yardstick would depend on the machine
    env = {**os.environ, "TRAIN_BUDGET_S": str(UNBOUNDED_S), "LM_OUT": os.path.join(exp, "baseline.pt"),
           "LM_DATA": inp, **ONE_THREAD}  # fmt: skip
    p = subprocess.run(
        [sys.executable, os.path.join(pristine, "train.py")], cwd=exp, env=env, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    if p.returncode != 0:
        sys.exit(f"the starting train.py failed: {p.stderr.strip()[-400:]}")


class NoYardstick(RuntimeError):
    """The starting script's or the reference's model cannot be scaled against: the harness's failure."""


def check(exp: str, out: str, ref: str | None = None, heldout_seed: int | None = None) -> dict:
    """The reward JSON of the agent's model in ``out``; ``ref``: the reference's output folder, trained
    alongside (None: plain Harbor, the calibrated ``REFERENCE_GAIN_BPC``)."""
    torch.set_num_threads(1)
    with open(os.path.join(exp, "language.json")) as fh:
        lang = grammar.Language(int(json.load(fh)["seed"]))
    seed = int.from_bytes(os.urandom(8), "little") if heldout_seed is None else heldout_seed
    rng = random.Random(seed)  # drawn only now, never written down: the candidate is gone
    docs = lang.documents(rng, 1 << 62)
    rows = lmeval.make_rows(docs, rng, lmeval.ROWS)
    probes = lmeval.make_probes(rows, docs, rng, lmeval.PROBES)
    order_seed = rng.getrandbits(63)

    def bpc(folder: str, name: str) -> float:
        return lmeval.evaluate(os.path.join(folder, name), rows, probes, random.Random(order_seed))["bpc"]

    try:
        base = bpc(exp, "baseline.pt")
    except lmeval.EvalError as exc:
        raise NoYardstick(f"the starting train.py's model failed here: {exc}") from None
    top, ref_bpc = REFERENCE_GAIN_BPC, None
    if ref is not None:
        try:
            ref_bpc = bpc(ref, "model.pt")
        except lmeval.EvalError as exc:
            raise NoYardstick(f"the reference trained alongside failed here: {exc}") from None
        top = base - ref_bpc
        if top < MIN_REFERENCE_GAIN_BPC:
            raise NoYardstick(
                f"the reference trained alongside gained only {top:.3f} bpc (< {MIN_REFERENCE_GAIN_BPC})"
            )
    info = {"baseline_bpc": base, "reference_gain": top, **({"reference_bpc": ref_bpc} if ref_bpc else {})}
    try:
        metrics = lmeval.evaluate(os.path.join(out, "model.pt"), rows, probes, random.Random(order_seed))
    except lmeval.EvalError as exc:
        return fail(str(exc), **info)
    raw = base - metrics["bpc"]
    gain = raw if raw > NOISE_BPC else 0.0  # the starting script again, its floats summed in another order
    ratio = gain / top
    return {"reward": linear_reward(ratio), "correct": True, **metrics, **info, "raw_gain": raw,
            "bpc_gain": gain, METRIC: ratio}  # fmt: skip


def harbor(app: str) -> dict:
    """Plain Harbor: screen, generate, train (CPU-bounded child), check, in one process."""
    why = screen(app)
    if why:
        return fail(why)
    work = tempfile.mkdtemp(prefix="lm-verify-")
    try:
        inp, exp, out = (os.path.join(work, d) for d in ("input", "expected", "output"))
        for d in (inp, exp, out):
            os.makedirs(d)
        generate(int.from_bytes(os.urandom(8), "little"), inp, exp)

        def limits() -> None:
            resource.setrlimit(resource.RLIMIT_CPU, (BUDGET_S, BUDGET_S + 5))

        env = {**os.environ, "TRAIN_BUDGET_S": str(BUDGET_S), "LM_OUT": os.path.join(out, "model.pt"),
               "LM_DATA": inp, **ONE_THREAD}  # fmt: skip
        subprocess.run(
            [sys.executable, os.path.join(app, "train.py")], cwd=app, env=env, preexec_fn=limits,
            capture_output=True, timeout=600, check=False,
        )  # fmt: skip
        return check(exp, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    if sys.argv[1:2] == ["screen"]:
        sys.exit(screen(sys.argv[2]))
    if sys.argv[1:2] == ["generate"]:
        generate(int(sys.argv[2]), sys.argv[3], sys.argv[4])
        return
    if sys.argv[1:2] == ["check"]:
        try:
            print(json.dumps(check(sys.argv[2], sys.argv[3], *sys.argv[4:5])))
        except NoYardstick as exc:
            sys.exit(f"no yardstick: {exc}")
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--app", default="/app")
    ap.add_argument("--out", default="/logs/verifier")
    args = ap.parse_args()
    try:
        result = harbor(args.app)
    except Exception as exc:  # noqa: BLE001  (a reward must always be written)
        result = fail(f"verifier error: {type(exc).__name__}: {exc}"[:500])
    os.makedirs(args.out, exist_ok=True)
    tmp = os.path.join(args.out, ".reward.json.tmp")
    with open(tmp, "w") as fh:
        json.dump(result, fh)
    os.replace(tmp, os.path.join(args.out, "reward.json"))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
