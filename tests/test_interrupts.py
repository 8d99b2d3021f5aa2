"""Ctrl-C and SIGTERM on a real ``looplab run`` subprocess: cancelled records, the job's result, exit 130.

The agent is the ``command`` agent with a script that sleeps; the script file is
rewritten between runs (the job's identity names the file, not its text), so a resume
runs the cancelled slots again quickly.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from conftest import LOOPLAB, run_cli, run_job, trial_results

SLOW = "#!/bin/sh\necho 7 > /app/value.txt\nsleep 60\n"
FAST = "#!/bin/sh\necho 9 > /app/value.txt\n"


def _start(tmp_path: Path, task: Path, script: Path, *extra: str) -> subprocess.Popen:
    args = ["run", "-p", str(task), "-a", "command", "--ak", f"script={script}", "-k", "3"]
    args += ["--jobs-dir", str(tmp_path / "jobs"), "--job-name", "j", *extra]
    return subprocess.Popen(
        [*LOOPLAB, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )


def _wait_for_agent(job: Path, proc: subprocess.Popen, timeout: float = 120) -> Path:
    """The first trial folder once its agent has started (its trajectory has a start event)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        for traj in job.glob("*/agent/trajectory.jsonl"):
            if '"command"' in traj.read_text():
                return traj.parents[1]
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    raise AssertionError("the agent never started")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_first_signal_cancels_records_and_exits_130(tmp_path: Path, tiny_task: Path, sig: int) -> None:
    script = tmp_path / "agent.sh"
    script.write_text(SLOW)
    proc = _start(tmp_path, tiny_task, script)
    job = tmp_path / "jobs" / "j"
    trial = _wait_for_agent(job, proc)
    time.sleep(0.5)
    t0 = time.monotonic()
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    took = time.monotonic() - t0
    assert proc.returncode == 130, err
    assert took < 30, took  # well before the agent's 60 s sleep would have ended
    # one line says what happened and how to go on
    lines = [ln for ln in err.splitlines() if ln.startswith("interrupted")]
    assert len(lines) == 1 and "1 trial(s) cancelled, 2 not started" in lines[0], err
    assert "looplab resume" in lines[0]
    # nothing started after the signal: one trial folder, cancelled, with what it had
    results = trial_results(job)
    assert [r["status"] for r in results] == ["cancelled"], results
    assert results[0]["reward"] is None and results[0]["agent_result"]["stop_reason"] == "cancelled"
    assert (trial / "agent" / "trajectory.jsonl").read_text().count('"stop"') == 1
    assert (trial / "checkpoints" / "index.jsonl").is_file()  # the final snapshot of what it left
    summary = json.loads((job / "result.json").read_text())
    assert summary["trials"][0]["status"] == "cancelled"
    assert summary["stats"]["agents"]["command"]["n_errors"] == 1
    # resume redoes the cancelled slot (and runs the two never started)
    script.write_text(FAST)
    r = run_cli("resume", str(job))
    assert r.returncode == 0, r.stderr + r.stdout
    statuses = sorted(x["status"] for x in trial_results(job))
    assert statuses == ["cancelled", "completed", "completed", "completed"], statuses


def test_second_signal_exits_at_once(tmp_path: Path, tiny_task: Path) -> None:
    script = tmp_path / "agent.sh"
    script.write_text(SLOW)
    proc = _start(tmp_path, tiny_task, script, "-n", "2")
    job = tmp_path / "jobs" / "j"
    _wait_for_agent(job, proc)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.01)  # two signals sent back to back would merge into one
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "SIGINT again: exiting now" in err or "interrupted (SIGINT)" in err, err
    _no_trial_left_running(tmp_path, tiny_task, script)


def test_killed_run_is_repaired_by_the_next(tmp_path: Path, tiny_task: Path) -> None:
    """What a second Ctrl-C can leave (a trial without its record) is what SIGKILL leaves."""
    script = tmp_path / "agent.sh"
    script.write_text(SLOW)
    proc = _start(tmp_path, tiny_task, script)
    job = tmp_path / "jobs" / "j"
    trial = _wait_for_agent(job, proc)
    proc.kill()
    proc.communicate(timeout=30)
    assert not (trial / "result.json").exists()
    # the report does not show a trial whose process is gone as running
    rep = run_cli("report", str(job), "-f", "json")
    assert rep.returncode == 0, rep.stderr
    assert '"running"' not in rep.stdout and "cancelled" in rep.stdout, rep.stdout
    r = _no_trial_left_running(tmp_path, tiny_task, script)
    assert "repaired: 1 trial(s)" in r.stderr, r.stderr
    rec = json.loads((trial / "result.json").read_text())
    assert rec["status"] == "cancelled" and rec["exception_info"]["type"] == "Interrupted"
    assert rec["task_name"] == "tiny_task" and rec["slot"] == "tiny_task/command/0"


def _no_trial_left_running(tmp_path: Path, task: Path, script: Path) -> subprocess.CompletedProcess:
    """The next run of the job repairs what the last left; every slot ends completed."""
    script.write_text(FAST)
    r = run_job(task, tmp_path / "jobs", "command", name="j", extra=["--ak", f"script={script}", "-k", "3"])
    assert r.returncode == 0, r.stderr + r.stdout
    results = trial_results(tmp_path / "jobs" / "j")
    assert all(x["status"] in ("cancelled", "completed") for x in results), results
    assert sum(x["status"] == "completed" for x in results) == 3
    assert all(d.joinpath("result.json").is_file() for d in (tmp_path / "jobs" / "j").glob("*__*"))
    return r


def test_a_job_runs_in_one_process(tmp_path: Path, tiny_task: Path) -> None:
    script = tmp_path / "agent.sh"
    script.write_text(SLOW)
    proc = _start(tmp_path, tiny_task, script)
    job = tmp_path / "jobs" / "j"
    try:
        _wait_for_agent(job, proc)
        r = run_job(
            tiny_task, tmp_path / "jobs", "command", name="j", extra=["--ak", f"script={script}", "-k", "3"]
        )
        assert r.returncode == 2
        assert f"the job is running in pid {proc.pid}" in r.stderr, r.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_lab_run_stops_on_a_signal_and_resumes(tmp_path: Path, sig: int) -> None:
    from lab_helpers import make_lab

    lab = make_lab(tmp_path / "repo", agent_script="echo '{\"x\": 4}' > pipeline/params.json\nsleep 60\n")
    proc = subprocess.Popen(
        [*LOOPLAB, "lab", "run", "--lab", str(lab)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    t0 = time.monotonic()
    while not list((lab / ".looplab" / "experiments").glob("*/agent/trajectory.jsonl")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < 120, "the agent never started"
        time.sleep(0.1)
    time.sleep(0.5)
    t1 = time.monotonic()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert time.monotonic() - t1 < 30  # well before the agent's sleep ends
    name = signal.Signals(sig).name
    lines = [ln for ln in err.splitlines() if ln.startswith("interrupted")]
    assert lines == [
        f"interrupted ({name}) in experiment 1's agent phase: the lab's state is kept; "
        f"continue with: looplab lab run --lab {lab}"
    ], err
    state = json.loads((lab / ".looplab" / "state.json").read_text())
    assert state["pending"]["phase"] == "agent"
    assert state["pending"]["cancelled"]["signal"] == name  # the record of the cancellation
    (traj,) = (lab / ".looplab" / "experiments").glob("*/agent/trajectory.jsonl")
    stop = json.loads(traj.read_text().splitlines()[-1])
    assert stop["type"] == "stop" and stop["stop_reason"] == "cancelled"  # the agent was stopped, not killed
    (lab / "agent.sh").write_text("echo '{\"x\": 4}' > pipeline/params.json\n")  # read from the lab folder
    r = run_cli("lab", "run", "--lab", str(lab))
    assert r.returncode == 0, r.stderr + r.stdout
    assert "resuming run 1" in r.stdout and "the agent phase was interrupted: redo it" in r.stdout


# ---- a build in progress ---------------------------------------------------------------------------
def _pids_with(marker: str) -> list[int]:
    """Processes whose command line holds ``marker`` (a build step's, inside its sandbox)."""
    out = []
    for d in Path("/proc").glob("[0-9]*"):
        try:
            if marker in d.joinpath("cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                out.append(int(d.name))
        except OSError:
            continue
    return out


def _interrupt_build(tmp_path: Path, task: Path, marker: str, sig: int, *extra: str) -> tuple[str, float]:
    """Run a job of ``task``, signal it once its build step (``marker``) runs; its stderr and exit time."""
    proc = subprocess.Popen(
        [
            *LOOPLAB,
            "run",
            "-p",
            str(task),
            "-k",
            "2",
            "--jobs-dir",
            str(tmp_path / "jobs"),
            "--job-name",
            "b",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    t0 = time.monotonic()
    while not _pids_with(marker):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < 300, "the build step never started"
        time.sleep(0.1)
    time.sleep(0.5)
    t1 = time.monotonic()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    took = time.monotonic() - t1
    assert proc.returncode == 130, err
    return err, took


def _assert_build_cancelled(tmp_path: Path, task: Path, err: str, took: float, marker: str, sig: str) -> None:
    from looplab.settings import runtime_dir

    assert took < 30, (took, err)  # the step sleeps 120 s: it was stopped, not waited for
    assert not _pids_with(marker), "a build step outlived the interrupt"
    lines = [ln for ln in err.splitlines() if ln.startswith("interrupted")]
    assert lines == [
        f"interrupted ({sig}) while building {task.name}: 2 trial(s) cancelled, 0 not started; "
        f"job result written; continue with: looplab resume {tmp_path / 'jobs' / 'b'}"
    ], err
    assert "build failed" not in err  # a stopped step is not a failed one
    results = trial_results(tmp_path / "jobs" / "b")
    assert [r["status"] for r in results] == ["cancelled", "cancelled"], results
    assert all("while its environment was building" in r["exception_info"]["message"] for r in results)
    summary = json.loads((tmp_path / "jobs" / "b" / "result.json").read_text())
    assert [t["status"] for t in summary["trials"]] == ["cancelled", "cancelled"]
    assert not list((runtime_dir() / "envs").glob(f".{task.name}-*"))  # the half-built layer is gone


def test_a_build_in_progress_stops_on_sigterm_and_resumes(tmp_path: Path, tiny_task: Path) -> None:
    marker = f"build-step-{uuid.uuid4().hex[:12]}"
    dockerfile = tiny_task / "environment" / "Dockerfile"
    plain = dockerfile.read_text()
    dockerfile.write_text(plain + f"RUN sleep 120 && echo {marker} > /app/marker.txt\n")
    err, took = _interrupt_build(tmp_path, tiny_task, marker, signal.SIGTERM)
    _assert_build_cancelled(tmp_path, tiny_task, err, took, marker, "SIGTERM")
    dockerfile.write_text(plain)
    r = run_cli("resume", str(tmp_path / "jobs" / "b"))
    assert r.returncode == 0, r.stderr + r.stdout
    statuses = sorted(x["status"] for x in trial_results(tmp_path / "jobs" / "b"))
    assert statuses == ["cancelled", "cancelled", "completed", "completed"], statuses


def test_an_image_build_in_progress_stops_on_sigint(tmp_path: Path, image_registry) -> None:
    from test_images_build import make_task

    deb = image_registry.ensure("debian")
    marker = f"build-step-{uuid.uuid4().hex[:12]}"
    task = make_task(
        tmp_path / "imgtask",
        f"FROM debian:bookworm-slim\nWORKDIR /app\nRUN sleep 120 && echo {marker} > /app/m.txt\n",
        looplab='[looplab]\neditable = ["m.txt"]\n',
    )
    err, took = _interrupt_build(
        tmp_path, task, marker, signal.SIGINT, "--base", "image", "--image-map", f"debian={deb}"
    )
    _assert_build_cancelled(tmp_path, task, err, took, marker, "SIGINT")


# lower is better: the candidate (x = 4) takes long to evaluate, the baseline (x = 10) does not
SLOW_EVAL_BACKEND = """
import json, time
from pathlib import Path
from looplab.lab.backend import EvalBackend, EvalResult, SampleResult

class Backend(EvalBackend):
    def evaluate(self, pipeline_dir, data_dir, sample_ids=None):
        x = json.loads((Path(pipeline_dir) / "pipeline" / "params.json").read_text())["x"]
        if x != 10:
            time.sleep(120)
        return EvalResult(score=abs(x - 3), samples=[SampleResult(sample_id="only", score=abs(x - 3))])
"""


def test_lab_run_stopped_while_evaluating_is_not_a_crash(tmp_path: Path) -> None:
    """A signal during the candidate's evaluation stops its sandbox: that is no crash (the saved
    candidate is evaluated again on resume, as after any interruption of that phase)."""
    from lab_helpers import make_lab

    lab = make_lab(
        tmp_path / "repo",
        backend_code=SLOW_EVAL_BACKEND,
        agent_script="echo '{\"x\": 4}' > pipeline/params.json\n",
    )
    proc = subprocess.Popen(
        [*LOOPLAB, "lab", "run", "--lab", str(lab)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    state_path = lab / ".looplab" / "state.json"
    t0 = time.monotonic()
    while not (state_path.is_file() and '"phase": "evaluate"' in state_path.read_text()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < 120, "the candidate was never evaluated"
        time.sleep(0.1)
    time.sleep(2)  # into the candidate's 120 s evaluation
    t1 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert time.monotonic() - t1 < 30
    assert "in experiment 1's evaluate phase" in err, err
    state = json.loads(state_path.read_text())
    assert state["pending"]["phase"] == "evaluate" and state["pending"]["cancelled"]["signal"] == "SIGINT"
    results = (lab / ".looplab" / "results.tsv").read_text()
    assert "crash" not in results  # only the baseline is logged


def test_host_commands_and_lock_waits_end_on_a_cancel(tmp_path: Path) -> None:
    """What a build does outside a sandbox (a pull, an unpack, a wait for another process's build
    lock) stops on Ctrl-C too: ``cancel.run`` kills its command, ``cancel.flock`` stops waiting."""
    import sys
    import threading

    from looplab import cancel

    marker = f"cancel-run-{uuid.uuid4().hex[:8]}"
    lock = tmp_path / "build.lock"
    hold = "import fcntl, sys; f = open(sys.argv[1], 'w'); fcntl.flock(f, fcntl.LOCK_EX); print(1, flush=True); sys.stdin.readline()"
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(lock)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "1"  # it holds the lock
        threading.Timer(0.5, cancel.request, args=("SIGINT",)).start()
        t1 = time.monotonic()
        with pytest.raises(cancel.Cancelled):
            cancel.run(["sh", "-c", f"sleep 60 # {marker}"])
        assert time.monotonic() - t1 < 30  # its child (holding the pipes) died with it, no 60 s wait
        assert not _pids_with(marker)  # the command was killed, not left running
        with open(lock) as f, pytest.raises(cancel.Cancelled):
            cancel.flock(f)  # already cancelled: the wait ends at once instead of after 60 s
    finally:
        cancel.reset()
        holder.communicate("\n", timeout=10)
    r = cancel.run(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n")
    with pytest.raises(subprocess.TimeoutExpired):
        cancel.run(["sleep", "30"], timeout=0.5)
