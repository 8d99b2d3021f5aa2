"""Resume after a crash or kill -9: no experiment lost, none counted twice, branch and log consistent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from lab_helpers import free_port, git, make_lab, records, run_lab, tip, tree_files

from looplab.lab.config import load_lab
from looplab.lab.loop import LabLoop, RunOptions

IMPROVE_BY_ONE = """
#!/bin/bash
f="$LOOPLAB_PIPELINE_DIR/pipeline/params.json"
x=$(python3 -c "import json; print(json.load(open('$f'))['x'])")
[ "$LOOPLAB_EXPERIMENT" = 2 ] && [ -n "$SLOW_SECOND" ] && sleep 3
python3 -c "import json; json.dump({'x': $x - 1}, open('$f', 'w'))"
echo "x=$x-1"
"""
SLOW_BACKEND = (
    "sleep 0.8; python3 -c \"import json; x = json.load(open('{pipeline_dir}/pipeline/params.json'))['x']; "
    "print(json.dumps({'score': abs(x - 3)}))\""
)


def cli(lab, *extra):
    if "--max-iterations" in extra:
        return [sys.executable, "-m", "looplab", "lab", "run", "--lab", str(lab), *extra]
    return [sys.executable, "-m", "looplab", "lab", "run", "--lab", str(lab), "--max-iterations", "4", *extra]


def wait_for_phase(lab, experiment, phase, proc, timeout=60.0):
    state = lab / ".looplab" / "state.json"
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        assert proc.poll() is None, proc.communicate()
        if state.exists():
            try:
                p = json.loads(state.read_text()).get("pending") or {}
            except ValueError:
                p = {}
            if p.get("experiment") == experiment and p.get("phase") == phase:
                return
        time.sleep(0.05)
    raise AssertionError(f"experiment {experiment} never reached phase {phase}")


def starts(lab, experiment):
    traj = lab / ".looplab" / "experiments" / f"{experiment:05d}" / "agent" / "trajectory.jsonl"
    return sum(json.loads(line)["type"] == "start" for line in traj.read_text().splitlines())


def check_consistent(repo, lab, n_experiments, initial):
    recs = records(lab)
    assert [r.experiment for r in recs] == list(range(n_experiments + 1))
    assert len({r.experiment for r in recs}) == len(recs)
    keeps = [r for r in recs if r.status == "keep"]
    chain = git(repo, "rev-list", "--reverse", f"{initial}..lab/t").split()
    assert chain == [r.commit for r in keeps]  # every keep is on the branch, in order, and nothing else
    assert tip(repo) == (keeps[-1].commit if keeps else initial)
    assert git(repo, "status", "--porcelain", "--untracked-files=all", "--", "pipeline") == ""
    assert json.loads((repo / "pipeline" / "params.json").read_text()) == json.loads(
        tree_files(repo, tip(repo), "pipeline")["pipeline/params.json"]
    )
    state = json.loads((lab / ".looplab" / "state.json").read_text())
    assert state["pending"] is None


def test_kill_9_during_an_evaluation_then_resume(tmp_path):
    repo = tmp_path / "r"
    lab = make_lab(repo, agent_script=IMPROVE_BY_ONE, backend="command", command=SLOW_BACKEND)
    initial = git(repo, "rev-parse", "HEAD").strip()
    proc = subprocess.Popen(cli(lab), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_phase(lab, 2, "evaluate", proc)
        time.sleep(0.4)  # inside the first evaluation of experiment 2
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    state = json.loads((lab / ".looplab" / "state.json").read_text())
    assert state["pending"]["experiment"] == 2 and state["pending"]["phase"] == "evaluate"
    assert [r.experiment for r in records(lab)] == [0, 1]
    keep1 = records(lab)[1].commit
    assert tip(repo) == keep1
    r = subprocess.run(cli(lab), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "resuming run 1" in r.stdout and "evaluating the saved candidate again" in r.stdout
    check_consistent(repo, lab, 4, initial)
    recs = records(lab)
    assert [x.status for x in recs] == ["baseline", "keep", "keep", "keep", "keep"]
    assert [x.score for x in recs] == [7, 6, 5, 4, 3]
    assert all(x.run == 1 for x in recs)  # the same run, resumed
    assert starts(lab, 2) == 1  # the agent's work was kept, not redone
    assert recs[2].notes == "x=9-1"


def test_kill_9_during_the_agent_phase_redoes_that_experiment_once(tmp_path):
    repo = tmp_path / "r"
    lab = make_lab(repo, agent_script=IMPROVE_BY_ONE.replace('-n "$SLOW_SECOND"', "-z ''"))
    initial = git(repo, "rev-parse", "HEAD").strip()
    proc = subprocess.Popen(cli(lab), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_phase(lab, 2, "agent", proc)
        time.sleep(1.0)  # the agent of experiment 2 sleeps 3 s
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    done = [r.experiment for r in records(lab)]
    assert 2 not in done
    r = subprocess.run(cli(lab), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "the agent phase was interrupted: redo it" in r.stdout
    check_consistent(repo, lab, 4, initial)
    assert [x.score for x in records(lab)] == [7, 6, 5, 4, 3]
    assert starts(lab, 2) == 2  # the interrupted agent phase, then its redo; logged once


class CrashAfter(LabLoop):
    """A loop that dies at a chosen point of the keep (fault injection: the same as a kill there)."""

    def __init__(self, *a, where: str, **k):
        super().__init__(*a, **k)
        self.where = where

    def _log_experiment(self, pending, status, commit):
        if self.where == "before-log" and status == "keep":
            raise KeyboardInterrupt("killed between the commit and the log")
        return super()._log_experiment(pending, status, commit)


def test_crash_between_commit_and_log(tmp_path):
    repo = tmp_path / "r"
    lab = make_lab(repo, agent_script=IMPROVE_BY_ONE)
    initial = git(repo, "rev-parse", "HEAD").strip()
    loop = CrashAfter(load_lab(lab), RunOptions(limits={"max_iterations": 2}), where="before-log")
    with pytest.raises(KeyboardInterrupt):
        loop.run()
    assert [r.experiment for r in records(lab)] == [0]
    moved = tip(repo)
    assert moved != initial  # the keep was committed, but not logged
    state = json.loads((lab / ".looplab" / "state.json").read_text())
    assert state["pending"]["phase"] == "commit"
    s = run_lab(lab, max_iterations=2)
    assert s.resumed and s.stop_reason == "max_iterations"
    check_consistent(repo, lab, 2, initial)
    assert records(lab)[1].commit == moved  # finished the same keep, no second commit


def test_interrupted_working_tree_sync_is_repaired(tmp_path):
    """A kill after update-ref but before the working tree was synced leaves a dirty pipeline; resume fixes it."""
    repo = tmp_path / "r"
    lab = make_lab(repo, agent_script=IMPROVE_BY_ONE)
    initial = git(repo, "rev-parse", "HEAD").strip()
    loop = CrashAfter(load_lab(lab), RunOptions(limits={"max_iterations": 1}), where="before-log")
    with pytest.raises(KeyboardInterrupt):
        loop.run()
    # put the working tree back to the pre-keep state, as if the sync had not happened
    git(repo, "checkout", initial, "--", "pipeline")
    (repo / "pipeline" / "stray.txt").write_text("half-written\n")
    s = run_lab(lab, max_iterations=1)
    assert s.resumed
    check_consistent(repo, lab, 1, initial)
    assert not (repo / "pipeline" / "stray.txt").exists()


def test_a_host_service_left_behind_by_a_kill_is_replaced_on_resume(tmp_path):
    from looplab.lab.services import port_open

    port = free_port()
    service = f"""
[backend.host_service]
command = "{sys.executable} -m http.server {port} --bind 127.0.0.1"
port = {port}
"""
    agent = '#!/bin/bash\n[ "$LOOPLAB_EXPERIMENT" = 1 ] && sleep 5\necho \'{"x": 4}\' > "$LOOPLAB_PIPELINE_DIR/pipeline/params.json"\n'
    repo = tmp_path / "r"
    lab = make_lab(repo, agent_script=agent, extra_toml=service)
    proc = subprocess.Popen(
        cli(lab, "--max-iterations", "1"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        wait_for_phase(lab, 1, "agent", proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert port_open(port)  # the orphaned service still holds the port
    r = subprocess.run(cli(lab, "--max-iterations", "1"), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert [x.status for x in records(lab)] == ["baseline", "keep"]
    assert not port_open(port)  # and the run stopped its own service at the end
