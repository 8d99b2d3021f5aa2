"""Judge one candidate pipeline: evaluated beside the best in fresh copies, then kept or discarded.

A candidate whose tree is the head's is ``unchanged`` and not evaluated; one whose
exact tree was evaluated and discarded before (a crash is evaluated again: its cause
may have been outside the pipeline) is a ``duplicate`` and not evaluated again.
Otherwise the head's and the candidate's trees are materialized and evaluated as the
noise policy asks (``decide``), and the time spent goes into the experiment's timing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from looplab.lab import gitops
from looplab.lab.backend import EvalResult
from looplab.lab.config import Lab
from looplab.lab.decide import BestFailed, Decision, EvalFailed, closest, decide, median
from looplab.lab.evaluate import Evaluator
from looplab.lab.log import Record
from looplab.lab.state import Pending
from looplab.numfmt import significant


@dataclass
class Judgement:
    decision: Decision
    status: str  # "keep", "unchanged", "duplicate", "crash" or "discard"
    record: dict[str, Any]  # the decision as recorded (with the candidate's metrics when evaluated)


def evaluated_before(records: list[Record], tree: str | None) -> Record | None:
    """The latest experiment that evaluated this exact pipeline tree on the same data and discarded it
    (a crash is evaluated again: its cause may have been outside the pipeline)."""
    if tree is None:
        return None
    found = [r for r in records if r.tree == tree and not r.kept and r.status in ("discard", "crash")]
    return found[-1] if found else None


def judge(
    lab: Lab,
    evaluator: Evaluator,
    pending: Pending,
    best: Record | None,
    records: list[Record],
    best_extra: dict[str, list[float]],
    next_eval: Callable[[], int],
    emit: Callable[[str, dict[str, Any]], None],
    exp_dir: Path,
) -> Judgement:
    """Decide on ``pending``'s candidate; ``best_extra`` gains the best's new scores (unpaired policy)."""
    assert pending.candidate_tree is not None
    repo = lab.repo
    t0 = time.monotonic()
    head_tree = gitops.tree_of(repo, pending.head)
    results: list[EvalResult] = []
    eval_time = [0.0, 0.0]
    earlier = evaluated_before(records, pending.candidate_tree)
    if pending.candidate_tree == head_tree:
        decision = Decision(False, "no change to the pipeline")
    elif earlier is not None:  # the same pipeline lost before; the best has only improved since
        decision = Decision(
            False,
            f"duplicate of experiment {earlier.experiment} ({earlier.status}, score "
            f"{significant(earlier.score)}): not evaluated again",
            cand_scores=list(earlier.scores),
        )
        emit("duplicate", {"experiment": pending.experiment, "of": earlier.experiment})
    else:
        tm = time.monotonic()
        best_copy = evaluator.materialize(head_tree)
        cand_copy = evaluator.materialize(pending.candidate_tree, base=head_tree)
        pending.timing["copies_s"] = round(time.monotonic() - tm, 4)
        n = pending.experiment

        def run_eval(copy: Path, role: str) -> float:
            try:
                res, rec = evaluator.evaluate(copy, next_eval(), role, log_dir=exp_dir / "evals")
            except EvalFailed as exc:
                r = getattr(exc, "record", None)
                if r is not None:
                    eval_time[0] += r.duration_s
                    eval_time[1] += r.exec_s
                emit("eval", {"experiment": n, "role": role, "error": str(exc)})
                if role == "best":
                    raise BestFailed(str(exc)) from None
                raise
            eval_time[0] += rec.duration_s
            eval_time[1] += rec.exec_s
            if role == "candidate":
                results.append(res)
            emit("eval", {"experiment": n, "role": role, "score": res.score})
            return res.score

        recorded = list(best.scores) + best_extra.get(pending.head, []) if best else []
        decision = decide(
            lambda: run_eval(cand_copy, "candidate"),
            lambda: run_eval(best_copy, "best"),
            recorded,
            lab.direction,
            lab.config.noise,
        )
        if decision.new_best_scores and not lab.config.noise.paired:
            best_extra.setdefault(pending.head, []).extend(decision.new_best_scores)
        # the copy of whichever loses stays no longer: a kept candidate's copy serves as the new best's
        evaluator.forget(head_tree if decision.keep else pending.candidate_tree)
    pending.timing.update(
        eval_s=round(eval_time[0], 4),
        eval_exec_s=round(eval_time[1], 4),
        decide_s=round(time.monotonic() - t0, 4),
    )
    djson = decision.to_json()
    if results:
        djson["metrics"] = closest(results, median(decision.cand_scores)).metrics
    if decision.keep:
        status = "keep"
    elif pending.candidate_tree == head_tree:
        status = "unchanged"
    elif earlier is not None:
        status = "duplicate"
    else:
        status = "crash" if decision.crashed else "discard"
    return Judgement(decision, status, djson)
