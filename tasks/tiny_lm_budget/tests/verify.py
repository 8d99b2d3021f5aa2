#!/usr/bin/env python3
"""Sealed verifier of tiny_lm_budget: train the agent's train.py on a fresh language, score held-out bpc.

1. A fresh language (new lexicon, same grammar: ``grammar.py``, hidden from the
   agent) is drawn from a seed read from /dev/urandom; a 2,000,000-character
   training corpus and a 400,000-character validation text of it are shown as
   /data/train.txt and /data/valid.txt inside the jails (read-only, over the
   pristine /data, which stays untouched).
2. ``/app/train.py`` (the only file carried from the agent) runs jailed
   (``jail.py``: read-only filesystem except /app/out, /tests and /logs hidden, own
   PID namespace, no network) and is killed when its process tree has used
   ``BUDGET_S`` CPU seconds (or after ``WALL_S`` seconds of wall clock).
   The starting train.py (pristine copy in /orig) is trained the same way on the
   same corpus: it is deterministic, so an untouched train.py gives the same model.
3. Then -- with the jails and everything they started gone -- held-out rows are
   generated from the same language with another fresh seed, and the pristine
   evaluator (``lmeval.py``) loads each model.pt (TorchScript) afresh for every
   batch, checks causality with spliced probes and computes bits per character.
4. Metric ``bpc_gain`` = baseline bpc - agent bpc on the same rows (so how hard this
   language and these rows happen to be cancels out); reward linear from 0 (gain 0)
   to the reference's gain (1), clipped to [0, 1].
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grammar  # noqa: E402  (pristine copies next to this file)
import jail  # noqa: E402
import lmeval  # noqa: E402
import torch  # noqa: E402

BASELINE = 0.0  # [optimization.baseline] score: the starting train.py gains nothing over itself
REFERENCE = 1.60  # [optimization.reference] score: bpc gained by the reference trainer
METRIC = "bpc_gain"
PRISTINE = "/orig"  # the starting train.py + lmdata.py, as built
BUDGET_S = 60  # CPU seconds of train.py's whole process tree
WALL_S = 240  # and a wall-clock cap
TRAIN_CHARS = 2_000_000
VALID_CHARS = 400_000
MAX_TRAIN_PY_BYTES = 256 << 10

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


def _seed() -> int:
    return int.from_bytes(os.urandom(8), "little")


def write_corpus(lang: grammar.Language, seed: int, chars: int, path: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        for d in lang.documents(random.Random(seed), chars):
            fh.write(d)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def verify(app: str, data: str, lang_seed: int | None = None, pristine: str = PRISTINE) -> dict:
    train_py = os.path.join(app, "train.py")
    if not os.path.isfile(train_py):
        return fail(f"{train_py} does not exist")
    if os.path.getsize(train_py) > MAX_TRAIN_PY_BYTES:
        return fail(f"{train_py} is larger than 256 KiB")
    scratch = tempfile.mkdtemp(prefix="lm-verify-")  # private: the jails have their own /tmp
    os.chmod(scratch, 0o755)
    try:
        return _verify(app, data, lang_seed, pristine, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _verify(app: str, data: str, lang_seed: int | None, pristine: str, scratch: str) -> dict:
    lang = grammar.Language(_seed() if lang_seed is None else lang_seed)
    fresh = os.path.join(scratch, "data")
    os.makedirs(fresh)
    write_corpus(lang, _seed(), TRAIN_CHARS, os.path.join(fresh, "train.txt"))
    write_corpus(lang, _seed(), VALID_CHARS, os.path.join(fresh, "valid.txt"))
    base_dir = os.path.join(scratch, "baseline")
    os.makedirs(base_dir)
    for f in ("train.py", "lmdata.py"):
        shutil.copyfile(os.path.join(pristine, f), os.path.join(base_dir, f))
    res = train(app, data, fresh)
    base = train(base_dir, data, fresh)
    info = {
        "train_cpu_seconds": res.cpu_seconds,
        "train_wall_seconds": round(res.seconds, 3),
        "train_killed_at_budget": res.timed_out,
        "train_exit_code": res.exit_code,
        "baseline_train_cpu_seconds": base.cpu_seconds,
        "jail": res.mode,
    }
    rng = random.Random(_seed())  # drawn only now: the candidate is gone
    docs = lang.documents(rng, 1 << 62)
    rows = lmeval.make_rows(docs, rng, lmeval.ROWS)
    probes = lmeval.make_probes(rows, docs, rng, lmeval.PROBES)
    order_seed = _seed()
    try:
        ref = lmeval.evaluate(
            os.path.join(base_dir, "out", "model.pt"), rows, probes, random.Random(order_seed)
        )
    except lmeval.EvalError as exc:
        raise RuntimeError(f"the starting train.py failed here: {exc}") from None
    try:
        metrics = lmeval.evaluate(
            os.path.join(app, "out", "model.pt"), rows, probes, random.Random(order_seed)
        )
    except lmeval.EvalError as exc:
        tail = (res.stderr.strip().splitlines() or [""])[-1][-300:]
        why = f"{exc}" + (f" (train.py's last error line: {tail})" if tail else "")
        return fail(why, baseline_bpc=ref["bpc"], **info)
    gain = ref["bpc"] - metrics["bpc"]
    out = {**metrics, "baseline_bpc": ref["bpc"], METRIC: gain, **info}
    return {"reward": linear_reward(gain), "correct": True, **out}


def train(folder: str, data: str, fresh: str) -> jail.JailResult:
    """Run folder/train.py jailed under the budget, writing folder/out/model.pt (out/ emptied first).

    The fresh corpus (folder ``fresh``) is shown read-only at ``data`` inside the jail
    (where the agent's code expects it); without bwrap, ``LM_DATA`` points at it instead.
    """
    out_dir = os.path.join(folder, "out")
    if os.path.islink(out_dir) or os.path.isfile(out_dir):
        os.unlink(out_dir)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    logs = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"lm-train-logs-{os.getpid()}")
    jailed = jail.bwrap_works()
    res = jail.run_jailed(
        [sys.executable, os.path.join(folder, "train.py")], cwd=folder, rw=[out_dir], timeout_s=WALL_S,
        cpu_limit_s=BUDGET_S, log_dir=logs, ro_binds=[(folder, folder), (fresh, data)] if jailed else [],
        env={"TRAIN_BUDGET_S": str(BUDGET_S), "LM_OUT": os.path.join(out_dir, "model.pt"),
             "LM_DATA": data if jailed else fresh},
    )  # fmt: skip
    shutil.rmtree(logs, ignore_errors=True)
    return res


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
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--app", default="/app")
    ap.add_argument("--data", default="/data")
    ap.add_argument("--out", default="/logs/verifier")
    ap.add_argument("--lang-seed", type=int, default=None, help="fix the language (calibration only)")
    ap.add_argument("--pristine", default=PRISTINE, help="folder of the starting train.py + lmdata.py")
    args = ap.parse_args()
    torch.set_num_threads(1)
    try:
        result = verify(args.app, args.data, args.lang_seed, args.pristine)
    except Exception as exc:  # noqa: BLE001  (a reward must always be written)
        result = fail(f"verifier error: {type(exc).__name__}: {exc}"[:500])
    write_reward(args.out, result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
