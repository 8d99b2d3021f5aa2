"""What folder a user named: a job, a trial, or a folder of jobs (``resolve``), said in words.

``looplab report`` and ``looplab rescore`` take any of them; a folder that is none of
them is a one-line error instead of a report of nonsense.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from looplab.errors import LooplabError
from looplab.fsutil import read_json
from looplab.records.layout import JobPaths, TrialPaths


def is_job(d: Path) -> bool:
    """A job folder: its config.json is a job's (``job_name`` and ``identity``)."""
    cfg = JobPaths(d).config
    if not cfg.is_file():
        return False
    try:
        data = read_json(cfg)
    except (ValueError, OSError):
        return False
    return isinstance(data, dict) and "job_name" in data and "identity" in data


def is_trial(d: Path) -> bool:
    """A trial folder: a config.json or result.json naming its agent or task."""
    paths = TrialPaths(d)
    for f in (paths.result, paths.config):
        if f.is_file():
            try:
                data = read_json(f)
            except (ValueError, OSError):
                continue
            if isinstance(data, dict) and ("agent" in data or "task" in data):
                return True
    return False


@dataclass
class Targets:
    """The job folders to read and, when trials were named, only those trials."""

    job_dirs: list[Path] = field(default_factory=list)
    trials: set[Path] | None = None  # None: every trial of the jobs
    said: list[str] = field(default_factory=list)  # what each argument was, for the user

    def describe(self) -> str:
        return "; ".join(self.said)

    def trial_dirs(self) -> list[Path]:
        """Every trial folder named (directly, or through its job)."""
        if self.trials is not None:
            return sorted(self.trials)
        return [d for j in self.job_dirs for d in JobPaths(j).trial_dirs()]


def resolve(paths: list[Path]) -> Targets:
    """Classify each path as a job, a trial or a folder of jobs; anything else is an error."""
    out = Targets()
    named_trials: set[Path] = set()
    whole_jobs: set[Path] = set()
    for p in paths:
        p = Path(p)
        if not p.is_dir():
            raise LooplabError(f"{p}: no such folder (expected a job, a trial or a folder of jobs)")
        if is_job(p):
            whole_jobs.add(p.resolve())
            out.said.append(f"{p}: job ({len(JobPaths(p).trial_dirs())} trial folders)")
        elif is_trial(p):
            named_trials.add(p.resolve())
            out.said.append(f"{p}: trial of job {p.resolve().parent.name}")
        else:
            jobs = [d for d in sorted(p.iterdir()) if d.is_dir() and is_job(d)]
            if not jobs:
                raise LooplabError(
                    f"{p}: not a job folder (no job config.json), a trial folder or a folder of jobs"
                )
            whole_jobs.update(d.resolve() for d in jobs)
            out.said.append(f"{p}: folder of {len(jobs)} job(s)")
    trial_jobs = {t.parent for t in named_trials}
    out.job_dirs = sorted(whole_jobs | trial_jobs)
    if named_trials:  # only those trials, plus every trial of the jobs named whole
        out.trials = named_trials | {d.resolve() for j in whole_jobs for d in JobPaths(j).trial_dirs()}
    return out
