"""A trial killed mid-run (kill -9 of the ``looplab run`` process group) keeps its trajectory up to the kill,
and re-running the same job name runs the slot again as a new attempt, keeping the old folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from conftest import LOOPLAB
from fakes.llm_servers import ScriptedLLMServer, reply, tool
from fakes.trials import TINY_TASK

from looplab.agents.trajectory import read_trajectory
from looplab.records.atif import trial_atif


def _wait_for(pred, timeout: float = 60.0, what: str = "condition"):  # noqa: ANN001
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = pred()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _procs_mentioning(text: str) -> list[int]:
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if text.encode() in cmd:
            out.append(int(pid))
    return out


def test_killed_trial_keeps_trajectory_and_job_reruns_it(tmp_path: Path) -> None:
    state = {"finishing": False, "since": 0}

    def script(i: int, body: dict) -> dict:
        if not state["finishing"]:
            return reply(tool("shell", command=f"echo tick-{i}; sleep 0.2"))
        k = i - state["since"]
        return reply(tool("write_file", path="value.txt", content="5\n")) if k == 0 else reply(tool("finish"))

    # LOOPLAB_CORE_CLAIMS=0: do not queue behind other looplab runs on this machine for a core
    env = {**os.environ, "OPENAI_API_KEY": "k", "COLUMNS": "200", "LOOPLAB_CORE_CLAIMS": "0"}
    with ScriptedLLMServer("openai", script) as srv:
        args = [
            *LOOPLAB,
            "run",
            "-p",
            str(TINY_TASK),
            "-a",
            "llm",
            "-m",
            "openai/gpt-4o",
            "--base-url",
            srv.base_url,
            "--jobs-dir",
            str(tmp_path),
            "--job-name",
            "kj",
        ]
        proc = subprocess.Popen(
            args, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            traj = _wait_for(
                lambda: next(iter(tmp_path.glob("kj/*/agent/trajectory.jsonl")), None), what="trajectory"
            )

            def ticks() -> int:
                return sum(
                    1
                    for e in read_trajectory(traj)
                    if e["type"] == "observation" and "tick-" in e.get("content", "")
                )

            _wait_for(lambda: ticks() >= 4, what="four agent steps")
            os.killpg(proc.pid, signal.SIGKILL)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        killed_dir = traj.parent.parent
        # the sandbox died with the run (bwrap --die-with-parent): nothing of this trial keeps running
        _wait_for(
            lambda: not _procs_mentioning(killed_dir.name), timeout=10, what="sandbox processes to exit"
        )
        raw = traj.read_text()
        evs = read_trajectory(traj)
        assert not (killed_dir / "result.json").exists()
        assert [e["step"] for e in evs] == list(range(1, len(evs) + 1))  # every step up to the kill, in order
        assert len(raw.splitlines()) - len(evs) <= 1  # at most a torn last line
        kinds = [e["type"] for e in evs]
        assert kinds[:4] == ["start", "system_prompt", "user", "assistant"] and "stop" not in kinds
        assert sum(1 for e in evs if e["type"] == "observation") >= 4
        atif = trial_atif(killed_dir)  # a killed trial still exports
        assert "killed" in (atif.notes or "") and atif.extra["complete"] is False

        # the same job name again: the slot has no completed trial, so it runs as a new attempt
        state["finishing"], state["since"] = True, srv.n_model_calls
        r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr + r.stdout
    dirs = sorted(p for p in (tmp_path / "kj").iterdir() if p.is_dir())
    assert len(dirs) == 2 and killed_dir in dirs
    assert traj.read_text() == raw  # the old attempt is kept as it was
    (new,) = [d for d in dirs if d != killed_dir]
    res = json.loads((new / "result.json").read_text())
    assert res["status"] == "completed" and res["slot"] == "tiny_task/llm/0" and res["reward"] == 0.5
    assert res["agent_result"]["stop_reason"] == "finished"
    job = json.loads((tmp_path / "kj" / "result.json").read_text())
    assert job["n_trials"] == 1 and job["trials"][0]["trial_name"] == new.name
