"""The results log: ``results.jsonl`` (one complete record per experiment) and ``results.tsv``.

Both live in the lab's state folder, which no sandbox ever sees. Every append
rewrites both files through a temp file and a rename, so a kill leaves either the
old log or the new one, never a torn line; the JSONL file is the source of truth
(the TSV is derived from it). An experiment is in the log exactly once: appending
an experiment id that is already there is refused.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from looplab.clock import now_iso
from looplab.errors import LooplabError
from looplab.fsutil import atomic_write_text
from looplab.lab.backend import EvalResult
from looplab.lab.config import Lab
from looplab.lab.decide import closest, interval, median
from looplab.lab.state import Pending, RunState
from looplab.lab.stopping import Progress
from looplab.numfmt import significant

TSV_COLUMNS = [
    "experiment",
    "run",
    "status",
    "kept",
    "score",
    "score_low",
    "score_high",
    "best_before",
    "commit",
    "started_at",
    "finished_at",
    "agent",
    "model",
    "tokens",
    "cost_usd",
    "n_evals",
    "notes",
    "reason",
    "metrics",
]


LOG_SCHEMA_VERSION = 1


class Record(BaseModel):
    """One experiment of the results log (a record written before versions existed reads the same)."""

    schema_version: int = LOG_SCHEMA_VERSION
    experiment: int
    run: int
    status: str
    kept: bool
    started_at: str
    finished_at: str
    score: float | None = None
    score_low: float | None = None
    score_high: float | None = None
    confidence: float | None = None
    scores: list[float] = Field(default_factory=list)
    best_before: float | None = None
    best_scores: list[float] = Field(default_factory=list)
    metrics: dict[str, Any] = Field(default_factory=dict)
    commit: str  # keep/baseline: the commit holding this state; otherwise the commit that stayed
    candidate: str | None = None  # the candidate's own commit (refs/looplab/<lab>/exp-<n>)
    tree: str | None = None  # the candidate's git tree: an identical later one is a duplicate
    files: list[str] = Field(default_factory=list)  # "M path", "A path", "D path"
    agent: str | None = None
    model: str | None = None
    agent_stop: str | None = None
    agent_error: str | None = None
    notes: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    reason: str = ""
    decision: dict[str, Any] = Field(default_factory=dict)
    n_evals: int = 0
    dev_evals: int = 0
    data_dir: str | None = None
    timing: dict[str, float] = Field(default_factory=dict)


class ResultsLog:
    def __init__(self, state_dir: Path):
        self.dir = Path(state_dir)
        self.jsonl = self.dir / "results.jsonl"
        self.tsv = self.dir / "results.tsv"
        self._records: list[Record] | None = None

    def records(self) -> list[Record]:
        if self._records is None:
            self._records = read_records(self.jsonl)
        return list(self._records)

    def ids(self) -> set[int]:
        return {r.experiment for r in self.records()}

    def append(self, rec: Record) -> None:
        recs = self.records()
        if rec.experiment in {r.experiment for r in recs}:
            raise LooplabError(f"{self.jsonl}: experiment {rec.experiment} is already logged")
        recs.append(rec)
        lines = "".join(r.model_dump_json() + "\n" for r in recs)
        atomic_write_text(self.jsonl, lines)
        atomic_write_text(self.tsv, to_tsv(recs))
        self._records = recs


def read_records(path: Path) -> list[Record]:
    if not Path(path).exists():
        return []
    out = []
    for i, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(Record.model_validate(json.loads(line)))
        except ValueError as exc:
            raise LooplabError(
                f"{path}: line {i} is not a valid record: {str(exc).splitlines()[0]}"
            ) from None
    return out


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, dict):
        return json.dumps(v, sort_keys=True, default=str)
    return " ".join(str(v).split())  # no tabs or newlines inside a cell


def row(rec: Record) -> dict[str, str]:
    d = rec.model_dump()
    return {c: _cell(d.get(c)) for c in TSV_COLUMNS}


def to_tsv(recs: list[Record]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(
        buf, fieldnames=TSV_COLUMNS, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL
    )
    w.writeheader()
    for r in recs:
        w.writerow(row(r))
    return buf.getvalue()


def to_csv(recs: list[Record]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=TSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in recs:
        w.writerow(row(r))
    return buf.getvalue()


def history_entry(r: Record) -> dict[str, Any]:
    """What the agent is shown of an experiment in /lab/history.jsonl."""
    keys = ("experiment", "status", "kept", "score", "score_low", "score_high", "best_before")
    keys += ("notes", "reason", "files", "metrics")
    return {k: getattr(r, k) for k in keys}


def experiment_record(
    lab: Lab, pending: Pending, status: str, commit: str, best_before: float | None, data_dir: str | None
) -> Record:
    """The log record of a finished experiment, from its pending state (agent, decision, timing)."""
    d = pending.decision or {}
    cs = list(d.get("cand_scores") or [])
    conf = lab.config.noise.confidence
    low, high = interval(cs, conf) if cs else (None, None)
    a = pending.agent
    t = dict(pending.timing)
    total = (dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(pending.started_at)).total_seconds()
    t["total_s"] = round(total, 4)
    t["overhead_s"] = round(total - t.get("agent_s", 0.0) - t.get("eval_s", 0.0), 4)
    return Record(
        experiment=pending.experiment,
        run=pending.run,
        status=status,
        kept=status == "keep",
        started_at=pending.started_at,
        finished_at=now_iso("milliseconds"),
        score=median(cs) if cs else None,
        score_low=low,
        score_high=high,
        confidence=conf if cs else None,
        scores=cs,
        best_before=best_before,
        best_scores=list(d.get("best_scores") or []),
        metrics=dict(d.get("metrics") or {}),
        commit=commit,
        candidate=pending.candidate_commit,
        tree=pending.candidate_tree,
        files=pending.files,
        agent=a.get("name"),
        model=a.get("model"),
        agent_stop=a.get("stop_reason"),
        agent_error=a.get("error"),
        notes=str(a.get("notes") or ""),
        input_tokens=int(a.get("input_tokens") or 0),
        output_tokens=int(a.get("output_tokens") or 0),
        tokens=int(a.get("tokens") or 0),
        cost_usd=float(a.get("cost_usd") or 0.0),
        reason=str(d.get("reason", "")),
        decision={k: d.get(k) for k in ("wins", "pairs", "needed", "p_value", "error")},
        n_evals=len(cs) + len(d.get("new_best_scores") or []),
        dev_evals=int(a.get("dev_evals") or 0),
        data_dir=data_dir,
        timing=t,
    )


def baseline_record(
    n: int,
    run: RunState,
    started: str,
    commit: str,
    results: list[EvalResult],
    confidence: float,
    why: str,
    eval_s: float,
) -> Record:
    """The log record of a baseline evaluation of ``commit`` (kept: it is the best so far)."""
    scores = [r.score for r in results]
    low, high = interval(scores, confidence)
    return Record(
        experiment=n,
        run=run.id,
        status="baseline",
        kept=True,
        started_at=started,
        finished_at=now_iso("milliseconds"),
        score=median(scores),
        score_low=low,
        score_high=high,
        confidence=confidence,
        scores=scores,
        metrics=closest(results, median(scores)).metrics,
        commit=commit,
        reason=why,
        n_evals=len(scores),
        data_dir=run.data_dir,
        timing={"eval_s": round(eval_s, 4)},
    )


AGENT_FAILURES = ("error", "timeout", "killed")  # agent stops that count as a restart


def keep_message(lab: Lab, pending: Pending) -> str:
    """A kept experiment's commit message: title, scores, the decision, the agent's notes, trailers."""
    d = pending.decision or {}
    score = median(d["cand_scores"]) if d.get("cand_scores") else None
    best_before = median(d["best_scores"]) if d.get("best_scores") else None
    notes = str(pending.agent.get("notes") or "").strip()
    title = notes.splitlines()[0][:72] if notes else "keep"
    return (
        f"lab {lab.name}: experiment {pending.experiment}: {title}\n\n"
        f"score {significant(score)} (best before {significant(best_before)}, "
        f"{lab.direction} is better)\n"
        f"{d.get('reason', '')}\n\n{notes[:4000]}\n\n"
        f"Looplab-Lab: {lab.name}\nLooplab-Experiment: {pending.experiment}\n"
    )


def progress_of(records: list[Record], run_id: int, active_s: float, best_score: float | None) -> Progress:
    """The run's progress from its log records (the baseline does not count as an iteration)."""
    recs = [r for r in records if r.run == run_id and r.status != "baseline"]
    since = 0
    for r in reversed(recs):
        if r.kept:
            break
        since += 1
    return Progress(
        iterations=len(recs),
        active_s=active_s,
        cost_usd=sum(r.cost_usd for r in recs),
        best_score=best_score,
        since_keep=since,
        restarts=sum(r.agent_stop in AGENT_FAILURES for r in recs),
    )
