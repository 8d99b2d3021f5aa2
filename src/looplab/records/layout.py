"""The job layout (Harbor's): every file name of a job folder and a trial folder, in one place.

::

    <jobs_dir>/<job_name>/            JobPaths
        config.json                   the job's identity and spec (written first)
        result.json                   per-agent mean rewards (rewritten after the trials)
        <task>__<id>/                 TrialPaths, one per trial
            config.json               the trial's configuration (written first)
            result.json               the trial's record (written last, atomically)
            agent/
                trajectory.jsonl      the streamed events of the agent phase
                trajectory.json       the same as ATIF (Harbor's trajectory format)
                exception.txt         the agent's traceback, when it raised
                sandbox-logs/         what the agent left in /logs/agent
            verifier/                 test output, reward file, the verifier's result.json
            artifacts/                the task's artifacts and /logs/artifacts; manifest.json
            services/<name>/output.log  a compose sidecar's (or started MCP server's) output
            steps/<step>/             a multi-step task: agent/, verifier/, artifacts/,
                                      checkpoints/ of each step (the same layout per step)
            checkpoints/
                index.jsonl           one line per dev-check snapshot
                objects/<sha256>      each distinct file once
                scores.jsonl          sealed score per checkpoint (``looplab rescore``)
                verifier/<n>/         the rescoring verifier's logs of checkpoint n
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CONFIG = "config.json"
RESULT = "result.json"


@dataclass(frozen=True)
class _RecordFolder:
    """A folder with a ``config.json`` (written first) and a ``result.json`` (written last)."""

    dir: Path

    @property
    def config(self) -> Path:
        return self.dir / CONFIG

    @property
    def result(self) -> Path:
        return self.dir / RESULT


@dataclass(frozen=True)
class TrialPaths(_RecordFolder):
    """The files of one trial folder."""

    @property
    def agent_dir(self) -> Path:
        return self.dir / "agent"

    @property
    def trajectory(self) -> Path:
        return self.agent_dir / "trajectory.jsonl"

    @property
    def atif(self) -> Path:
        return self.agent_dir / "trajectory.json"

    @property
    def atif_error(self) -> Path:
        return self.agent_dir / "trajectory-export-error.txt"

    @property
    def sandbox_logs(self) -> Path:
        return self.agent_dir / "sandbox-logs"

    @property
    def verifier_dir(self) -> Path:
        return self.dir / "verifier"

    @property
    def artifacts_dir(self) -> Path:
        return self.dir / "artifacts"

    @property
    def services_dir(self) -> Path:
        return self.dir / "services"

    @property
    def steps_dir(self) -> Path:
        return self.dir / "steps"

    def step(self, name: str) -> TrialPaths:
        """The folder of one step of a multi-step trial (agent/, verifier/, artifacts/ inside)."""
        return TrialPaths(self.steps_dir / name)

    @property
    def checkpoints_dir(self) -> Path:
        return self.dir / "checkpoints"

    @property
    def checkpoint_index(self) -> Path:
        return self.checkpoints_dir / "index.jsonl"

    @property
    def checkpoint_objects(self) -> Path:
        return self.checkpoints_dir / "objects"

    @property
    def scores(self) -> Path:
        return self.checkpoints_dir / "scores.jsonl"

    def checkpoint_verifier(self, n: int) -> Path:
        return self.checkpoints_dir / "verifier" / str(n)

    def watched(self) -> tuple[Path, ...]:
        """The files whose changes mean a trial's report is stale (what a live viewer polls)."""
        return (self.result, self.config, self.checkpoint_index, self.scores, self.trajectory)


@dataclass(frozen=True)
class JobPaths(_RecordFolder):
    """The files of one job folder."""

    def trial(self, name: str) -> TrialPaths:
        return TrialPaths(self.dir / name)

    def trial_dirs(self) -> list[Path]:
        """The trial folders (those holding a result.json or a config.json), sorted by name."""
        if not self.dir.is_dir():
            return []
        return [
            d
            for d in sorted(self.dir.iterdir())
            if d.is_dir()
            and not d.name.startswith(".")
            and ((d / RESULT).is_file() or (d / CONFIG).is_file())
        ]
