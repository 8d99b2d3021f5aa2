"""The shared agent phase (a real sandbox), the typed records of the job layout, and one-place settings."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from looplab.agents.base import Agent, AgentContext, AgentOutcome, Budget
from looplab.agents.phase import KILL_GRACE_S, run_agent
from looplab.agents.registry import AGENTS, agent_class, make_agent
from looplab.agents.trajectory import Trajectory, read_trajectory
from looplab.errors import LooplabError
from looplab.records.layout import JobPaths, TrialPaths
from looplab.records.results import TRIAL_SCHEMA_VERSION, JobResult, TrialResult, agent_label
from looplab.sandbox.base import Sandbox, SandboxSpec
from looplab.sandbox.factory import make_sandbox, runtime_path, runtime_ro_binds
from looplab.settings import DEFAULT_CACHE_DIR, Settings


@pytest.fixture
def spec(tmp_path: Path):
    root = Path("/var/tmp/looplab-test") / f"phase-{tmp_path.name}" / "root"
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root.parent.parent, 0o755)
    os.chmod(root.parent, 0o755)
    app = root.parent / "app"
    yield SandboxSpec(
        root=root,
        binds=[(app, "/app")],
        memory_mb=256,
        env={"PATH": runtime_path()},
        ro_binds=runtime_ro_binds(),
    )
    subprocess.run(["rm", "-rf", str(root.parent)], check=False)


class Recorder(Agent):
    """Does ``behaviour`` in the sandbox and notes when its hooks ran."""

    name = "recorder"

    def __init__(self, behaviour: str):
        self.behaviour = behaviour
        self.calls: list[str] = []

    def prepare_sandbox(self, spec: SandboxSpec, ctx: AgentContext) -> None:
        self.calls.append("prepare")
        spec.env["RECORDER"] = "prepared"

    def run(self, instruction: str, sandbox: Sandbox, budget: Budget, ctx: AgentContext) -> AgentOutcome:
        self.calls.append("run")
        if self.behaviour == "raise":
            raise RuntimeError("the agent broke")
        if self.behaviour == "hang":
            sandbox.exec("sleep 600", timeout=600)
            return AgentOutcome(notes="returned after its sandbox stopped")
        r = sandbox.exec("echo $RECORDER > /app/out.txt")
        return AgentOutcome(notes=f"exit {r.exit_code}")

    def cleanup(self) -> None:
        self.calls.append("cleanup")


def _ctx(tmp_path: Path) -> AgentContext:
    return AgentContext(logs_dir=tmp_path, trajectory=Trajectory(tmp_path / "trajectory.jsonl"))


def test_the_agent_phase_prepares_runs_and_cleans_up(spec: SandboxSpec, tmp_path: Path) -> None:
    agent = Recorder("work")
    phase = run_agent(agent, "go", make_sandbox(spec), Budget(timeout_sec=60), _ctx(tmp_path), "t")
    assert agent.calls == ["prepare", "run", "cleanup"]
    assert phase.outcome.stop_reason == "finished" and not phase.timed_out
    assert (spec.root.parent / "app" / "out.txt").read_text() == "prepared\n"  # the hook changed the spec
    assert read_trajectory(tmp_path / "trajectory.jsonl")[-1]["type"] == "stop"


def test_an_agent_that_raises_is_an_error_with_its_traceback(spec: SandboxSpec, tmp_path: Path) -> None:
    agent = Recorder("raise")
    phase = run_agent(agent, "go", make_sandbox(spec), Budget(timeout_sec=60), _ctx(tmp_path), "t")
    assert phase.outcome.stop_reason == "error" and "the agent broke" in (phase.outcome.error or "")
    assert "RuntimeError" in (tmp_path / "exception.txt").read_text()
    assert agent.calls[-1] == "cleanup"


def test_the_deadline_stops_the_sandbox_under_a_hung_agent(spec: SandboxSpec, tmp_path: Path) -> None:
    agent = Recorder("hang")
    t0 = time.monotonic()
    phase = run_agent(agent, "go", make_sandbox(spec), Budget(timeout_sec=1), _ctx(tmp_path), "t")
    assert phase.timed_out and phase.outcome.stop_reason == "timeout"
    assert time.monotonic() - t0 < 1 + KILL_GRACE_S + 20  # not the 600 s the command asked for
    assert agent.calls[-1] == "cleanup"


def test_agents_get_no_task_and_share_the_hooks_of_the_base_class() -> None:
    assert "task" not in AgentContext.__dataclass_fields__
    for name in AGENTS:
        cls = agent_class(name)
        assert issubclass(cls, Agent), name
        assert name == "oracle" or "needs_solution" not in vars(cls), name  # the default says False
    assert make_agent("oracle").needs_solution and not make_agent("nop").needs_solution


def test_llm_agent_options_are_validated_once_by_their_model() -> None:
    agent = make_agent("llm", {"temperature": "0.5", "max_retries": "2"}, "openai/x")
    assert agent.options.temperature == 0.5 and agent.options.max_retries == 2
    with pytest.raises(LooplabError, match="llm agent: compaction"):
        make_agent("llm", {"compaction": "shred"}, "openai/x")
    with pytest.raises(LooplabError, match="does not take colour"):
        make_agent("llm", {"colour": "red"}, "openai/x")


def test_a_record_without_a_schema_version_still_reads(tmp_path: Path) -> None:
    old = {"trial_name": "t__1", "agent": "nop", "status": "completed", "reward": 0.0, "extra": {"k": 1}}
    p = tmp_path / "result.json"
    p.write_text(json.dumps(old))
    r = TrialResult.read(p)
    assert r.schema_version == 0 and r.reward == 0.0 and r.label == "nop"
    assert r.record()["extra"] == {"k": 1}  # unknown keys survive a rewrite
    r.schema_version = TRIAL_SCHEMA_VERSION
    r.write(p)
    assert json.loads(p.read_text())["schema_version"] == TRIAL_SCHEMA_VERSION


def test_the_layout_names_every_file_once(tmp_path: Path) -> None:
    job = JobPaths(tmp_path / "job")
    t = job.trial("task__abc")
    assert t == TrialPaths(tmp_path / "job" / "task__abc")
    assert t.result.relative_to(job.dir).as_posix() == "task__abc/result.json"
    assert t.trajectory.relative_to(t.dir).as_posix() == "agent/trajectory.jsonl"
    assert t.scores.relative_to(t.dir).as_posix() == "checkpoints/scores.jsonl"
    t.dir.mkdir(parents=True)
    (job.dir / "not-a-trial").mkdir()
    assert job.trial_dirs() == []
    t.config.write_text("{}")
    assert job.trial_dirs() == [t.dir]
    with pytest.raises(AttributeError):
        t.dir = tmp_path  # type: ignore[misc]  # frozen
    assert agent_label("llm", "openai/x") == "llm (openai/x)" and agent_label("nop", None) == "nop"
    assert JobResult(job_name="j", updated_at="", n_trials=0, n_trial_dirs=0, stats={}, usage={}, trials=[])


def test_settings_come_from_the_environment_in_one_place(tmp_path: Path) -> None:
    s = Settings.from_environ({})
    assert s.cache_dir == DEFAULT_CACHE_DIR and s.lock_dir == DEFAULT_CACHE_DIR / "locks"
    assert s.core_claims == DEFAULT_CACHE_DIR / "core-claims"
    s = Settings.from_environ({"LOOPLAB_CACHE_DIR": str(tmp_path), "LOOPLAB_CORE_CLAIMS": "0"})
    assert s.calibration_dir == tmp_path / "calibration" and s.core_claims is None
    s = Settings.from_environ({"LOOPLAB_LOCK_DIR": "/x", "LOOPLAB_CORE_CLAIMS": str(tmp_path / "c")})
    assert s.lock_dir == Path("/x") and s.core_claims == tmp_path / "c"


def test_the_budget_is_a_model_saved_as_before_and_read_back_on_resume(
    tmp_path: Path, tiny_task: Path
) -> None:
    """``--max-turns`` travels as ``BudgetLimits``; config.json keeps the set caps as a plain
    object (as job folders written before the model have it), resume reads it back, and a bad
    value there or on the command line is one line naming the file or option and the key."""
    from conftest import run_cli

    jobs = tmp_path / "jobs"
    r = run_cli(
        "run",
        "-p",
        str(tiny_task),
        "-a",
        "nop",
        "--max-turns",
        "3",
        "--jobs-dir",
        str(jobs),
        "--job-name",
        "b",
    )
    assert r.returncode == 0, r.stderr
    cfg_path = jobs / "b" / "config.json"
    saved = json.loads(cfg_path.read_text())
    assert saved["spec"]["budget"] == {"max_turns": 3}
    (trial,) = [p for p in (jobs / "b").iterdir() if (p / "config.json").is_file()]
    assert json.loads((trial / "config.json").read_text())["budget"] == {"max_turns": 3}
    # a job folder from before the model: an empty budget object resumes (nothing left to run)
    saved["spec"]["budget"] = {}
    cfg_path.write_text(json.dumps(saved))
    r = run_cli("resume", str(jobs / "b"))
    assert r.returncode == 0, r.stderr
    saved["spec"]["budget"] = {"max_turns": -1, "max_minutes": 5}
    cfg_path.write_text(json.dumps(saved))
    r = run_cli("resume", str(jobs / "b"))
    assert r.returncode != 0
    assert (
        f"{cfg_path}: spec.budget: field max_turns: Input should be greater than 0; unknown key 'max_minutes'"
        in r.stderr
    )
    assert "Traceback" not in r.stderr
    r = run_cli("run", "-p", str(tiny_task), "-a", "nop", "--max-cost", "0", "--jobs-dir", str(jobs))
    assert r.returncode != 0 and "--max-cost: field max_cost_usd: Input should be greater than 0" in r.stderr


def test_the_verifiers_lock_folder_is_the_settings_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``LOOPLAB_LOCK_DIR`` moves the folder the measurement lock uses and the one a verifier
    is given together: the verifier's own-cores folder links the same lock files (flock
    locks the inode), so a verifier and a host measurement exclude each other."""
    from looplab.measure.lock import lock_file, own_cores_lock_dir

    locks = tmp_path / "elsewhere" / "locks"
    monkeypatch.setenv("LOOPLAB_LOCK_DIR", str(locks))
    assert own_cores_lock_dir(None, tmp_path) == locks and lock_file(locks, 0).is_file()
    (tmp_path / "box").mkdir()
    mine = own_cores_lock_dir([0], tmp_path / "box")
    assert mine != locks and lock_file(mine, 0).stat().st_ino == lock_file(locks, 0).stat().st_ino
