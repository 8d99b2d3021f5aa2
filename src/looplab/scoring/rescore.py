"""Checkpoint rescoring: chosen checkpoints of a trial scored by the sealed verifier (the anytime curve).

A checkpoint (``checkpoints/index.jsonl``, one per dev check plus the final state
marked ``"final": true``) is materialized into a scratch folder that stands in for
the agent's /app and verified exactly as the trial's final files were: a fresh
sandbox from the pristine environment, only the editable files carried over. The
rows (``n``, ``elapsed_s``, ``reward``, ``reason``, ``final`` ...) go to
``checkpoints/scores.jsonl``, rewritten atomically after every checkpoint so an
interrupted rescoring keeps what it did. Checkpoints with the same files are
scored once; rows already in scores.jsonl for the same checkpoint and files are
reused unless ``force``.

Selection: every checkpoint by default; ``every=K`` keeps every K-th (n = K, 2K,
...); ``best_per_window=W`` keeps, per window of W seconds, the last checkpoint
whose dev check passed (the state the agent would have submitted then), or the
last one in the window when none passed. The final checkpoint is always scored.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from looplab.environment.build import build_environment, scratch_dir
from looplab.errors import LooplabError
from looplab.fsutil import atomic_write_text, remove_tree
from looplab.harbor.services import needs_services
from looplab.records.checkpoints import CheckpointStore
from looplab.records.layout import TrialPaths
from looplab.tasks.loader import load_task
from looplab.verify.verifier import verify


def files_key(entry: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(entry.get("files", {}), sort_keys=True).encode()).hexdigest()[:16]


def select_checkpoints(
    entries: list[dict[str, Any]], every: int | None = None, best_per_window: float | None = None
) -> list[dict[str, Any]]:
    chosen = list(entries)
    if every:
        chosen = [e for e in chosen if e["n"] % every == 0 or e.get("final")]
    if best_per_window:
        windows: dict[int, list[dict[str, Any]]] = {}
        for e in chosen:
            if not e.get("final"):  # the final checkpoint is added below in any case
                windows.setdefault(int(e["elapsed_s"] // best_per_window), []).append(e)
        picked = []
        for _w, group in sorted(windows.items()):
            passing = [e for e in group if e.get("dev_exit_code") in (0, None)]
            picked.append((passing or group)[-1])
        chosen = picked
    finals = [e for e in entries if e.get("final")]
    for f in finals:
        if f not in chosen:
            chosen.append(f)
    return sorted(chosen, key=lambda e: e["n"])


def score_entries(trial_dir: Path) -> list[dict[str, Any]]:
    """The raw rows of a trial's scores.jsonl in file order (empty when it was never rescored)."""
    p = TrialPaths(Path(trial_dir)).scores
    if not p.is_file():
        return []
    out = []
    for line in p.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def rescore_trial(
    trial_dir: Path,
    every: int | None = None,
    best_per_window: float | None = None,
    force: bool = False,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Score the chosen checkpoints of ``trial_dir`` with the sealed verifier; return the rows written."""
    trial_dir = Path(trial_dir)
    paths = TrialPaths(trial_dir)
    cfg_path = paths.config
    if not cfg_path.is_file():
        raise LooplabError(f"{cfg_path}: not found (is {trial_dir} a trial folder?)")
    try:
        cfg = json.loads(cfg_path.read_text())
    except ValueError as exc:
        raise LooplabError(f"{cfg_path}: not valid JSON: {exc}") from None
    task_path = cfg.get("task")
    if not task_path or not Path(task_path).is_dir():
        raise LooplabError(f"{cfg_path}: task folder {task_path!r} not found; rescoring needs the task")
    store = CheckpointStore(trial_dir)
    entries = store.list()
    if not entries and paths.steps_dir.is_dir():
        raise LooplabError(
            f"{trial_dir}: a multi-step trial; its checkpoints are per step (steps/<name>/checkpoints) "
            "and rescoring them is not supported"
        )
    if not entries:
        raise LooplabError(f"{store.index}: no checkpoints recorded")
    task = load_task(Path(task_path))
    if needs_services(task):
        raise LooplabError(
            f"{task.path}: the task runs services (compose sidecars or MCP servers looplab starts); "
            "rescoring its checkpoints without them is not supported"
        )
    env = build_environment(task)
    chosen = select_checkpoints(entries, every, best_per_window)
    old = {} if force else {(r["n"], r.get("files")): r for r in score_entries(trial_dir)}
    by_files: dict[str, dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    out_path = paths.scores
    for e in chosen:
        key = files_key(e)
        base = {
            "n": e["n"],
            "elapsed_s": e["elapsed_s"],
            "final": bool(e.get("final")),
            "files": key,
            "dev_exit_code": e.get("dev_exit_code"),
        }
        if (e["n"], key) in old:
            row = {**old[(e["n"], key)], **base}
        elif key in by_files:
            src = by_files[key]
            row = {**base, **{k: src[k] for k in ("reward", "reason", "rewards")}, "same_files_as": src["n"]}
        else:
            row = {**base, **_score(task, env, store, e, cfg, trial_dir)}
        by_files.setdefault(key, row)
        rows.append(row)
        atomic_write_text(out_path, "".join(json.dumps(r) + "\n" for r in rows))
        if on_row:
            on_row(row)
    return rows


def _score(
    task: Any, env: Any, store: CheckpointStore, entry: dict[str, Any], cfg: dict[str, Any], trial_dir: Path
) -> dict[str, Any]:
    scratch = scratch_dir(f"rescore-{trial_dir.name}-{entry['n']}")
    t0 = time.monotonic()
    try:
        work = store.materialize(entry, scratch / "work")
        log_dir = TrialPaths(store.dir.parent).checkpoint_verifier(entry["n"])
        vr = verify(
            task,
            env,
            work,
            log_dir,
            cfg.get("editable"),
            cfg.get("cores"),
            network=cfg.get("network", "task"),
            timeout_multiplier=float(cfg.get("timeout_multiplier") or 1.0),
        )
    finally:
        remove_tree(scratch)
    return {
        "reward": vr.reward,
        "reason": vr.reason,
        "rewards": vr.rewards,
        "verify_s": round(time.monotonic() - t0, 3),
    }


def anytime_curve(rows: list[dict[str, Any]]) -> list[tuple[float, float]]:
    """(elapsed_s, best sealed reward so far) at each scored checkpoint."""
    best, out = float("-inf"), []
    for r in sorted(rows, key=lambda r: r["elapsed_s"]):
        if r.get("reward") is not None:
            best = max(best, float(r["reward"]))
        out.append((r["elapsed_s"], best if best != float("-inf") else 0.0))
    return out
