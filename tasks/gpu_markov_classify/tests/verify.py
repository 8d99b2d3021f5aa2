"""Sealed verifier of a GPU model-development task (the same file in every task of this kind).

A seed drawn now makes a fresh world (``world.py``: the task's data generator): training
data and held-out inputs go to a data folder, the held-out answers stay in this process.
The pristine trainer (/orig/train.py) and the agent's (/app/train.py) then each run
jailed (``jail.py``: read-only root, /tests and /logs hidden, only their output folder
writable, this trial's GPU passed through) under the same wall-clock budget, and write
predictions for the held-out inputs. The metric is ``gain = ln(loss_baseline / loss_candidate)``
on the held-out answers; the harness turns it into the reward (task.toml). Writes
/logs/verifier/reward.json always.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
import world  # noqa: E402
from jail import run_jailed  # noqa: E402

GRACE_S = 20.0  # start-up and writing predictions, on top of the budget


def load_predictions(path: Path, want: torch.Size) -> torch.Tensor:
    if not path.is_file():
        raise ValueError(f"no {path.name} written")
    pred = torch.load(path, weights_only=True, map_location="cpu")
    if not isinstance(pred, torch.Tensor) or tuple(pred.shape) != tuple(want):
        raise ValueError(f"{path.name}: expected a tensor of shape {tuple(want)}")
    pred = pred.double() if pred.is_floating_point() else pred.long()
    if pred.is_floating_point() and not torch.isfinite(pred).all():
        raise ValueError(f"{path.name}: not finite")
    return pred


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", default="/orig/train.py")
    ap.add_argument("--candidate", default="/app/train.py")
    ap.add_argument("--out", default="/logs/verifier")
    ap.add_argument("--work", default="/tmp/md")
    ap.add_argument("--budget", type=float, default=world.BUDGET_S)
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the data sizes (tests)")
    a = ap.parse_args()
    out, work = Path(a.out), Path(a.work)
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(work, ignore_errors=True)
    (work / "data").mkdir(parents=True)
    result: dict = {"correct": False, "gain": 0.0, "budget_s": a.budget}
    t0 = time.monotonic()
    try:
        seed = random.SystemRandom().randrange(1, 2**62)
        train, test_x, test_y = world.generate(seed, a.scale)
        torch.save(train, work / "data" / "train.pt")
        torch.save(test_x, work / "data" / "test_x.pt")
        losses = {}
        for side, prog in (("baseline", a.baseline), ("candidate", a.candidate)):
            wd = work / side
            wd.mkdir()
            os.chmod(wd, 0o777)
            argv = [
                sys.executable,
                prog,
                "--data",
                str(work / "data"),
                "--out",
                str(wd),
                "--budget",
                str(a.budget),
            ]
            data = str(work / "data")  # under the jail's fresh /tmp: shown again, read-only
            r = run_jailed(argv, cwd=str(wd), rw=[str(wd)], timeout_s=a.budget + GRACE_S, log_dir=str(out / side),
                           ro_binds=[(data, data)], gpu=True)  # fmt: skip
            result[f"{side}_seconds"] = round(r.seconds, 2)
            result["jail"] = r.mode
            try:
                pred = load_predictions(wd / "pred.pt", world.prediction_shape(test_x))
            except ValueError as exc:
                why = "killed at the time limit" if r.timed_out else f"exit {r.exit_code}"
                result["reason"] = f"{side} train.py ({why}): {exc}; stderr: {r.stderr[-400:]}"
                return 0
            losses[side] = world.loss(pred, test_y)
        result.update(correct=True, loss_baseline=losses["baseline"], loss_candidate=losses["candidate"],
                      gain=math.log(max(losses["baseline"], world.LOSS_FLOOR) / max(losses["candidate"],
                                                                                     world.LOSS_FLOOR)))  # fmt: skip
        return 0
    finally:
        result["verification_s"] = round(time.monotonic() - t0, 2)
        tmp = out / "reward.json.tmp"
        tmp.write_text(json.dumps(result))
        os.replace(tmp, out / "reward.json")
        print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
