"""The research loop: change → evaluate → keep or discard → log → check stopping, resumable.

Each experiment: the agent works on a private copy of the branch tip (see
``agent_phase``); the host turns the copy into a git tree and records it as a
candidate commit (``refs/looplab/<lab>/exp-<n>``); evaluates it beside the best
in separate sandboxes and decides (``judge``, ``decide``); a keep becomes a commit on the
lab's branch and the working tree's pipeline is set to it exactly, a discard
leaves the branch alone (the working tree was never touched); the record is
appended to the log; then the stopping conditions are checked.

Crash safety: ``state.json`` (atomic) names the experiment in flight and its
phase — ``agent`` (redo it), ``evaluate`` (the candidate tree is saved: evaluate
again), ``commit`` (the decision is saved: finish the commit, idempotently). The
log is the source of truth for what was counted: an experiment id is logged at
most once, and run counters (iterations, cost, restarts, plateau) are recomputed
from it, so a kill at any point loses no experiment and counts none twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from looplab import cancel, settings
from looplab.agents.registry import make_agent, preflight
from looplab.clock import now_iso
from looplab.errors import LooplabError
from looplab.fsutil import atomic_write_json
from looplab.lab import gitops
from looplab.lab.agent_phase import Workspace, briefing, run_agent_phase
from looplab.lab.backend import EvalResult
from looplab.lab.config import Lab
from looplab.lab.decide import EvalFailed
from looplab.lab.evaluate import REAPER, Evaluator, clean_stale_boxes, lab_runtime_dir
from looplab.lab.judge import judge
from looplab.lab.log import (
    Record,
    ResultsLog,
    baseline_record,
    experiment_record,
    history_entry,
    keep_message,
    progress_of,
)
from looplab.lab.services import ServiceHandle, start_host_service
from looplab.lab.state import (
    LabState,
    Pending,
    RunOptions,
    RunSummary,
    agent_settings,
    apply_agent_settings,
    begin_run,
    load_state,
    run_lock,
)
from looplab.lab.stopping import Progress, Stop, check, remaining_seconds

Event = Callable[[str, dict[str, Any]], None]


class LabLoop:
    def __init__(self, lab: Lab, options: RunOptions | None = None, on_event: Event | None = None):
        self.lab = lab
        self.opts = options or RunOptions()
        self.emit: Event = on_event or (lambda kind, info: None)
        self.state_dir = lab.state_dir
        self.state_path = self.state_dir / "state.json"
        self.log = ResultsLog(self.state_dir)
        self.state = LabState()
        self.evaluator: Evaluator | None = None
        self.workspace: Workspace | None = None
        self.service: ServiceHandle | None = None
        self._session_t0 = time.monotonic()
        self._active_base = 0.0
        self._started = False  # the run's state is loaded and this session's clock runs

    # ---- state -----------------------------------------------------------------------------
    def _load_state(self) -> LabState:
        return load_state(self.state_path)

    def _save(self) -> None:
        if self.state.run is not None and not self.state.run.finished:
            self.state.run.active_s = round(self._active_base + time.monotonic() - self._session_t0, 3)
        atomic_write_json(self.state_path, self.state.model_dump())

    def _next_eval(self) -> int:
        self.state.eval_counter += 1
        return self.state.eval_counter

    # ---- the run ---------------------------------------------------------------------------
    def run(self) -> RunSummary:
        with run_lock(self.lab, f"{self.lab.dir}: another `lab run` is already running on this lab"):
            try:
                return self._run_locked()
            except cancel.Cancelled:  # Ctrl-C/SIGTERM: the interrupted experiment says so; resume redoes it
                pending = self.state.pending
                if pending is not None and self._started:
                    pending.cancelled = {
                        "signal": cancel.reason() or "requested",
                        "at": now_iso("milliseconds"),
                        "phase": pending.phase,
                    }
                    self._save()
                raise
            finally:
                if self.workspace is not None:
                    self.workspace.discard()
                if self.evaluator is not None:
                    self.evaluator.close()
                if self.service is not None:
                    self.service.stop()

    def _run_locked(self) -> RunSummary:
        lab = self.lab
        self.state = self._load_state()
        pending = self.state.pending
        repo = lab.repo
        if not gitops.has_commits(repo):
            raise LooplabError(f"{repo}: no commits yet; commit the lab and its pipeline first")
        if pending is None or pending.phase != "commit":
            dirty = gitops.dirty_paths(repo, lab.pipeline)
            if dirty:
                raise LooplabError(
                    f"the pipeline has uncommitted changes ({', '.join(dirty[:5])}); "
                    "commit or discard them first"
                )
        lab.check_pipeline_exists()
        settings.check_cache_dir()
        self._check_agent_before_branch()
        switched = gitops.checkout_branch(repo, lab.branch)
        if switched:
            self.emit("branch", {"branch": lab.branch, "created": switched == "created"})
        stale = clean_stale_boxes(lab)
        run, resumed = begin_run(self.state, lab, self.opts, self.emit)
        if resumed:
            self._active_base = run.active_s
            self.emit(
                "resume",
                {"run": run.id, "pending": pending.model_dump() if pending else None, "stale": stale},
            )
        self._session_t0 = time.monotonic()
        self._started = True
        apply_agent_settings(self.lab, run.agent)
        a = lab.config.agent
        make_agent(a.name, a.kwargs, a.model)  # a misconfigured agent is an error now, not at experiment 1
        self._save()
        self.service = start_host_service(lab, lab_runtime_dir(lab) / "forward")
        if self.service is not None:
            self.emit("service", {"port": self.service.cfg.port})
        self.evaluator = Evaluator(lab, Path(run.data_dir) if run.data_dir else None, self.service)
        self.workspace = Workspace(lab, self.evaluator)
        if self.evaluator.data_snapshot:
            self.emit("data_snapshot", {"data": run.data_dir})
        if self.state.pending is not None:
            self._recover(self.state.pending)
        gitops.restore(repo, lab.pipeline)
        self._ensure_baseline()
        while True:
            stop = check(run.limits, self._progress(), lab.direction)
            if stop is not None:
                return self._finish(stop, resumed)
            self._experiment()

    def _check_agent_before_branch(self) -> None:
        """The agent this run will use, built and preflighted (keys, prices) before git is touched."""
        run = self.state.run
        o = self.opts
        if run is not None and not run.finished and not (o.agent or o.model or o.agent_kwargs):
            chosen = run.agent
        else:
            chosen = agent_settings(self.lab, o)
        apply_agent_settings(self.lab, chosen)
        a = self.lab.config.agent
        preflight(make_agent(a.name, a.kwargs, a.model))

    def _finish(self, stop: Stop, resumed: bool) -> RunSummary:
        run = self.state.run
        assert run is not None
        self._save()
        run.finished, run.finished_at = True, now_iso("milliseconds")
        run.stop_reason, run.stop_message = stop.reason, stop.message
        atomic_write_json(self.state_path, self.state.model_dump())
        recs = [r for r in self.log.records() if r.run == run.id and r.status != "baseline"]
        best = self._best()
        self.emit("stop", {"reason": stop.reason, "message": stop.message})
        return RunSummary(
            run=run.id,
            stop_reason=stop.reason,
            stop_message=stop.message,
            experiments=len(recs),
            keeps=sum(r.kept for r in recs),
            best_score=best.score if best else None,
            best_commit=best.commit if best else None,
            resumed=resumed,
        )

    # ---- bookkeeping from the log ----------------------------------------------------------
    def _best(self) -> Record | None:
        kept = [r for r in self.log.records() if r.kept]
        return kept[-1] if kept else None

    def _progress(self) -> Progress:
        assert self.state.run is not None
        best = self._best()
        active_s = self._active_base + time.monotonic() - self._session_t0
        return progress_of(self.log.records(), self.state.run.id, active_s, best.score if best else None)

    def _next_id(self) -> int:
        ids = self.log.ids()
        return (max(ids) + 1) if ids else 0

    # ---- baseline --------------------------------------------------------------------------
    def _ensure_baseline(self) -> None:
        lab, repo = self.lab, self.lab.repo
        tip = gitops.rev(repo, f"refs/heads/{lab.branch}")
        assert tip is not None
        best = self._best()
        if best is not None and best.commit == tip:
            return
        assert self.evaluator is not None and self.state.run is not None
        n = self._next_id()
        started = now_iso("milliseconds")
        self.emit("baseline", {"experiment": n, "commit": tip})
        tree = gitops.tree_of(repo, tip)
        copy = self.evaluator.materialize(tree)
        pol = lab.config.noise
        reps = 1 if pol.repeats == 1 else (pol.repeats if not pol.paired else min(pol.repeats, 3))
        results: list[EvalResult] = []
        exp_dir = self.state_dir / "experiments" / f"{n:05d}"
        t0 = time.monotonic()
        for _ in range(reps):
            try:
                res, rec = self.evaluator.evaluate(
                    copy, self._next_eval(), "baseline", log_dir=exp_dir / "evals"
                )
            except EvalFailed as exc:
                self._save()
                raise LooplabError(
                    f"the baseline (commit {tip[:10]}) does not evaluate: {exc}; "
                    "fix the pipeline or the backend "
                    f"(details in {exp_dir / 'evals'})"
                ) from None
            results.append(res)
            self.emit("eval", {"experiment": n, "role": "baseline", "score": res.score})
        why = "first evaluation of this lab" if best is None else "the branch moved outside the lab"
        eval_s = time.monotonic() - t0
        self.log.append(
            baseline_record(n, self.state.run, started, tip, results, pol.confidence, why, eval_s)
        )
        self._save()

    # ---- one experiment --------------------------------------------------------------------
    def _experiment(self) -> None:
        lab, repo = self.lab, self.lab.repo
        assert self.evaluator is not None and self.state.run is not None
        run = self.state.run
        n = self._next_id()
        head = gitops.rev(repo, f"refs/heads/{lab.branch}")
        assert head is not None
        t0 = time.monotonic()
        pending = Pending(
            experiment=n, run=run.id, phase="agent", head=head, started_at=now_iso("milliseconds")
        )
        self.state.pending = pending
        self._save()
        self.emit("experiment", {"experiment": n, "head": head})
        exp_dir = self.state_dir / "experiments" / f"{n:05d}"
        best = self._best()
        records = self.log.records()
        history = [history_entry(r) for r in records]
        summary = briefing(lab, best, records)
        data_host = self.evaluator.data_host
        left = remaining_seconds(run.limits, self._progress())
        assert self.workspace is not None
        try:
            phase = run_agent_phase(
                lab,
                self.evaluator,
                head,
                n,
                history,
                summary,
                exp_dir,
                data_host,
                left,
                self._next_eval,
                self.workspace,
                self.service,
                self.emit,
            )
            cancel.check()  # Ctrl-C ended the agent phase: its work is not evaluated, resume redoes it
        except BaseException:
            self.workspace.discard()
            raise
        tg = time.monotonic()
        try:
            tree = gitops.candidate_tree(repo, head, phase.work_root, lab.pipeline)
        except BaseException:
            self.workspace.discard()
            raise
        finally:
            REAPER.remove(phase.box)
        head_tree = gitops.tree_of(repo, head)
        files = [f"{s} {p}" for s, p in gitops.changed_files(repo, head_tree, tree, lab.pipeline)]
        o = phase.outcome
        msg = f"lab {lab.name}: candidate of experiment {n}\n\n{phase.notes[:2000]}\n"
        cand_commit = gitops.commit(repo, tree, head, msg) if tree != head_tree else None
        if cand_commit:
            gitops.set_ref(repo, f"refs/looplab/{lab.name}/exp-{n}", cand_commit)
        pending.phase = "evaluate"
        pending.candidate_tree, pending.candidate_commit, pending.files = tree, cand_commit, files
        pending.agent = {
            "name": lab.config.agent.name,
            "model": lab.config.agent.model,
            "stop_reason": o.stop_reason,
            "error": o.error,
            "notes": phase.notes,
            "input_tokens": o.usage.input_tokens,
            "output_tokens": o.usage.output_tokens,
            "tokens": o.usage.total_tokens,
            "cost_usd": o.usage.cost_usd,
            "dev_evals": phase.dev_evals,
        }
        pending.timing = {
            "agent_setup_s": round(phase.setup_s, 4),
            "agent_s": round(phase.agent_s, 4),
            "agent_teardown_s": round(phase.teardown_s, 4),
            "capture_s": round(time.monotonic() - tg, 4),
            "before_eval_s": round(time.monotonic() - t0, 4),
        }
        self._save()
        self.emit("agent_done", {"experiment": n, **pending.agent, "files": files})
        self._evaluate_and_finish(pending)

    def _evaluate_and_finish(self, pending: Pending) -> None:
        assert self.evaluator is not None and pending.candidate_tree is not None
        cancel.check()
        exp_dir = self.state_dir / "experiments" / f"{pending.experiment:05d}"
        j = judge(
            self.lab,
            self.evaluator,
            pending,
            self._best(),
            self.log.records(),
            self.state.best_extra,
            self._next_eval,
            self.emit,
            exp_dir,
        )
        pending.decision = j.record
        self.emit("decision", {"experiment": pending.experiment, **j.record})
        if j.decision.keep:
            pending.phase = "commit"
            self._save()
            self._commit(pending)
        else:
            self._log_experiment(pending, j.status, pending.head)

    def _commit(self, pending: Pending) -> None:
        lab, repo = self.lab, self.lab.repo
        assert pending.candidate_tree is not None and pending.decision is not None
        tg = time.monotonic()
        tip = gitops.rev(repo, f"refs/heads/{lab.branch}")
        if tip == pending.head:
            new = gitops.commit(repo, pending.candidate_tree, pending.head, keep_message(lab, pending))
            gitops.advance_branch(
                repo, lab.branch, new, pending.head, f"lab keep experiment {pending.experiment}"
            )
        elif (
            tip is not None
            and gitops.parent_of(repo, tip) == pending.head
            and gitops.tree_of(repo, tip) == pending.candidate_tree
        ):
            new = tip  # committed before the interruption
        else:
            raise LooplabError(
                f"branch {lab.branch} moved during experiment {pending.experiment} (now {tip}); "
                f"expected {pending.head}: resolve by hand (see {self.state_path})"
            )
        gitops.restore(repo, lab.pipeline)
        pending.timing["git_s"] = round(time.monotonic() - tg, 4)
        self._log_experiment(pending, "keep", new)

    def _log_experiment(self, pending: Pending, status: str, commit: str) -> None:
        assert self.state.run is not None
        best = self._best()
        rec = experiment_record(
            self.lab, pending, status, commit, best.score if best else None, self.state.run.data_dir
        )
        self.log.append(rec)
        self.state.pending = None
        self._save()
        self.emit("logged", rec.model_dump())

    # ---- recovery --------------------------------------------------------------------------
    def _recovering(self, pending: Pending, action: str) -> None:
        self.emit("recover", {"experiment": pending.experiment, "action": action})

    def _recover(self, pending: Pending) -> None:
        lab, repo = self.lab, self.lab.repo
        if pending.experiment in self.log.ids():
            self._recovering(pending, "already logged")
            self.state.pending = None
            self._save()
            return
        if pending.phase == "commit":
            self._recovering(pending, "finishing the keep")
            self._commit(pending)
            return
        tip = gitops.rev(repo, f"refs/heads/{lab.branch}")
        if tip != pending.head:
            raise LooplabError(
                f"branch {lab.branch} is at {tip}, but interrupted experiment {pending.experiment} started "
                f"from {pending.head}: resolve by hand (see {self.state_path})"
            )
        tree = pending.candidate_tree
        if pending.phase == "evaluate" and tree and gitops.object_exists(repo, tree):
            self._recovering(pending, "evaluating the saved candidate again")
            pending.attempts += 1
            self._save()
            self._evaluate_and_finish(pending)
            return
        self._recovering(pending, "the agent phase was interrupted: redo it")
        self.state.pending = None
        self._save()
