"""Red team: attacks an agent can run through real sandboxes, and what stops each one.

Each test runs the attack for real (``looplab run`` with the replay agent, or a
``BwrapSandbox``) and asserts that it fails: the reward stays where honest work puts
it, no host file reaches the trial's records, and nothing outlives its sandbox.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from conftest import FIXTURES, REPO, run_cli, trial_results

from looplab.sandbox.base import SandboxSpec
from looplab.sandbox.bwrap import BwrapSandbox, looplab_runtime_paths, runtime_env_path

SECRET = "TOP-SECRET-HOST-FILE-5f1c"


@pytest.fixture
def host_secret(tmp_path: Path) -> Path:
    """A root-only host file the sandbox cannot see; an attack tries to get looplab to read it."""
    d = tmp_path / "host-secret"
    d.mkdir()
    f = d / "secret.txt"
    f.write_text(SECRET + "\n")
    f.chmod(0o600)
    (d / "reward.json").write_text('{"reward": 1.0}\n')
    (d / "reward.txt").write_text("1.0\n")
    return f


def _run(tmp_path: Path, task: Path, steps: list[dict], write_script, name: str) -> tuple[dict, Path]:
    script = write_script(steps, f"{name}.yaml")
    r = run_cli(
        "run",
        "-p",
        str(task),
        "-a",
        "replay",
        "--ak",
        f"script={script}",
        "--jobs-dir",
        str(tmp_path / "jobs"),
        "--job-name",
        name,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr + r.stdout
    (res,) = trial_results(tmp_path / "jobs" / name)
    assert res["status"] == "completed", res.get("exception_info")
    return res, tmp_path / "jobs" / name / res["trial_name"]


def _files_holding(root: Path, needle: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


def _task_running_candidate(tmp_path: Path) -> Path:
    """tiny_task, but test.sh first runs the agent's editable /app/prog.sh (as real tasks run candidates)."""
    task = tmp_path / "runs_candidate"
    shutil.copytree(FIXTURES / "tiny_task", task, symlinks=True)
    toml = task / "task.toml"
    toml.write_text(
        toml.read_text().replace('editable = ["value.txt"]', 'editable = ["value.txt", "prog.sh"]')
    )
    (task / "environment" / "prog.sh").write_text("#!/bin/bash\ntrue\n")
    df = task / "environment" / "Dockerfile"
    df.write_text(
        df.read_text().replace("COPY value.txt score.sh /app/", "COPY value.txt score.sh prog.sh /app/")
    )
    test_sh = task / "tests" / "test.sh"
    test_sh.write_text(
        test_sh.read_text().replace(
            "mkdir -p /logs/verifier\n", "mkdir -p /logs/verifier\nbash /app/prog.sh\n"
        )
    )
    return task


# ---- the agent phase: host files through paths the agent owns ------------------------------------


def test_agent_logs_replaced_by_a_symlink_copy_no_host_file(
    tmp_path: Path, tiny_task: Path, write_script, host_secret: Path
) -> None:
    # /logs/agent is copied into the trial as root after the agent phase: a symlink there
    # (to a host folder, or /proc with every process's environment) must not be followed
    steps = [
        {"write": {"path": "/app/value.txt", "content": "7\n"}},
        {"run": f"rm -rf /logs/agent && ln -s {host_secret.parent} /logs/agent"},
    ]
    res, trial = _run(tmp_path, tiny_task, steps, write_script, "logs-link")
    assert res["reward"] == 0.7
    assert _files_holding(trial, SECRET) == []


def test_editable_swapped_for_a_symlink_during_dev_checks_reads_no_host_file(
    tmp_path: Path, tiny_task: Path, write_script, host_secret: Path
) -> None:
    # dev checks snapshot the editable files while the agent's processes still run: a daemon
    # swapping value.txt between a regular file and a symlink to a host file races the snapshot
    swap = (
        "import os\nwhile True:\n"
        f"    os.symlink({str(host_secret)!r}, '/app/.l'); os.rename('/app/.l', '/app/value.txt')\n"
        "    open('/app/.v', 'w').write('7\\n'); os.rename('/app/.v', '/app/value.txt')\n"
    )
    steps = [
        {"write": {"path": "/tmp/swap.py", "content": swap}},
        {"run": "setsid nohup python3 /tmp/swap.py >/dev/null 2>&1 & echo $! > /tmp/pid; sleep 0.2"},
        *[{"dev_check": True}] * 300,
        {"run": "kill $(cat /tmp/pid); sleep 0.1; rm -f /app/value.txt; echo 7 > /app/value.txt"},
    ]
    res, trial = _run(tmp_path, tiny_task, steps, write_script, "swap")
    assert len((trial / "checkpoints" / "index.jsonl").read_text().splitlines()) == 301
    assert _files_holding(trial, SECRET) == []
    assert res["reward"] == 0.7


def test_hidden_files_are_nowhere_in_the_agent_sandbox(tmp_path: Path, tiny_task: Path, write_script) -> None:
    # the task folder, the repo's tasks and fixtures, the environment cache and the jobs folder
    # are host paths that hold tests/ or solution/: none is readable from the agent's sandbox
    looks = [
        tiny_task / "tests" / "test.sh",
        tiny_task / "solution" / "solve.sh",
        REPO / "tests" / "fixtures" / "tiny_task" / "tests" / "test.sh",
        REPO / "tasks",
        Path("/var/tmp/looplab/envs"),
        Path("/var/tmp/looplab/sandboxes"),
        tmp_path / "jobs",
    ]
    probe = "; ".join(f"ls {p} >/dev/null 2>&1 && echo {p}" for p in looks)
    steps = [
        {
            "run": f"({probe}) > /tmp/found; [ -s /tmp/found ] && echo 10 > /app/value.txt || echo 3 > /app/value.txt"
        }
    ]
    res, trial = _run(tmp_path, tiny_task, steps, write_script, "peek-host")
    obs = [json.loads(x) for x in (trial / "agent" / "trajectory.jsonl").read_text().splitlines()]
    assert res["reward"] == 0.3, [e.get("stdout") for e in obs if e["type"] == "observation"]


# ---- the verifier: what the candidate does while test.sh runs it --------------------------------


def test_verifier_logs_replaced_by_a_symlink_to_a_host_folder(
    tmp_path: Path, write_script, host_secret: Path
) -> None:
    # the candidate, run by test.sh, swaps /logs/verifier for a symlink to a host folder holding
    # reward.json = 1: the host must not read the reward through it
    task = _task_running_candidate(tmp_path)
    prog = f"#!/bin/bash\nmv /logs/verifier /logs/old && ln -s {host_secret.parent} /logs/verifier\n"
    steps = [
        {"write": {"path": "/app/value.txt", "content": "7\n"}},
        {"write": {"path": "/app/prog.sh", "content": prog}},
    ]
    res, _trial = _run(tmp_path, task, steps, write_script, "verifier-link")
    assert res["reward"] == 0.0
    assert res["verifier_result"]["reward_source"] is None, res["verifier_result"]


def test_candidate_can_lock_only_its_own_cores_measurement_locks(tmp_path: Path, write_script) -> None:
    # holding another trial's core locks while test.sh runs would stall that trial's
    # measurements: the verifier's lock folder holds the files of its own cores only
    task = _task_running_candidate(tmp_path)
    prog = '#!/bin/bash\necho "LOCKS: $(ls "$LOOPLAB_LOCK_DIR" | tr "\\n" " ")"\n'
    steps = [{"write": {"path": "/app/prog.sh", "content": prog}}]
    res, trial = _run(tmp_path, task, steps, write_script, "locks")
    cores = res["resources"]["cores"]
    assert cores, res["resources"]
    (line,) = [
        x for x in (trial / "verifier" / "test-stdout.txt").read_text().splitlines() if x.startswith("LOCKS:")
    ]
    assert line.split()[1:] == [f"cpu{c}.lock" for c in cores]


def test_huge_sparse_reward_txt_is_read_only_at_its_head(tmp_path: Path, write_script) -> None:
    # reward.json made a folder (so test.sh cannot write it) and a 4 GiB sparse reward.txt:
    # the host reads its head, not 4 GiB into memory
    task = _task_running_candidate(tmp_path)
    prog = "#!/bin/bash\nmkdir -p /logs/verifier/reward.json\nprintf 'x' > /logs/verifier/reward.txt; truncate -s 4G /logs/verifier/reward.txt\n"
    steps = [{"write": {"path": "/app/prog.sh", "content": prog}}]
    t0 = time.monotonic()
    res, _trial = _run(tmp_path, task, steps, write_script, "sparse")
    assert res["reward"] == 0.0 and "not a number" in res["verifier_result"]["reason"]
    assert time.monotonic() - t0 < 30


# ---- paired measurement: a daemon left by one timed run --------------------------------------------

SPIN = r"""
import os, time
if os.fork():
    os._exit(0)
os.setsid()
needle = b"/orig/" + b"loop"
while True:
    busy = False
    for p in os.listdir("/proc"):
        if p.isdigit() and int(p) != os.getpid():
            try:
                busy = busy or needle in open("/proc/%s/cmdline" % p, "rb").read()
            except OSError:
                pass
    if busy:  # steal the core while the baseline runs
        t = time.perf_counter()
        while time.perf_counter() - t < 0.02:
            pass
    else:
        time.sleep(0.002)
"""


@pytest.mark.skipif(not shutil.which("gcc"), reason="needs gcc")
def test_daemon_left_by_a_candidate_run_cannot_slow_the_baseline(tmp_path: Path, write_script) -> None:
    # the candidate does exactly the baseline's work, but its first timed run leaves a daemon that
    # burns the (shared) core whenever the baseline runs: without a reaper it reads as a 2x speedup
    task = tmp_path / "paired"
    shutil.copytree(FIXTURES / "paired_task", task, symlinks=True)
    env = task / "environment"
    (env / "iters.txt").write_text("100000000\n")
    (env / "run.sh").write_text("#!/bin/bash\nexec /app/loop $(cat /app/iters.txt)\n")
    df = env / "Dockerfile"
    df.write_text(df.read_text().replace("COPY loop.c iters.txt /app/", "COPY loop.c iters.txt run.sh /app/"))
    toml = task / "task.toml"
    toml.write_text(
        toml.read_text()
        .replace('editable = ["iters.txt"]', 'editable = ["iters.txt", "run.sh"]')
        .replace('candidate = "/app/loop $(cat /app/iters.txt)"', 'candidate = "bash /app/run.sh"')
        .replace('time_source = "stdout"', 'time_source = "wall"')
    )
    run_sh = (
        "#!/bin/bash\n[ -e /tmp/.spin ] || { touch /tmp/.spin; python3 - >/dev/null 2>&1 </dev/null <<'PY'\n"
        + SPIN
        + "PY\n}\nexec /app/loop $(cat /app/iters.txt)\n"
    )
    res, _trial = _run(
        tmp_path, task, [{"write": {"path": "/app/run.sh", "content": run_sh}}], write_script, "spin"
    )
    m = res["verifier_result"]["measurement"]
    assert m["speedup"] == pytest.approx(1.0, abs=0.1), m
    assert res["reward"] == 0.0


# ---- the sandbox itself: limits and isolation ----------------------------------------------------


@pytest.fixture
def box_factory(tmp_path: Path):
    made: list[tuple[BwrapSandbox, Path]] = []

    def make(**kw) -> tuple[BwrapSandbox, Path]:
        root = Path("/var/tmp/looplab-test") / f"{tmp_path.name}-{len(made)}" / "root"
        root.mkdir(parents=True, exist_ok=True)
        os.chmod(root.parent.parent, 0o755)
        os.chmod(root.parent, 0o755)
        app = root.parent / "app"
        spec = SandboxSpec(
            root=root,
            binds=[(app, "/app")],
            cpus=[0],
            memory_mb=256,
            env={"PATH": runtime_env_path()},
            ro_binds=[(p, str(p)) for p in looplab_runtime_paths()],
            **kw,
        )
        sb = BwrapSandbox(spec)
        sb.start()
        made.append((sb, root.parent))
        return sb, app

    yield make
    for sb, d in made:
        sb.stop()
        subprocess.run(["rm", "-rf", str(d)], check=False)


def test_without_cgroups_a_session_leader_ignoring_sigterm_still_dies(box_factory, monkeypatch) -> None:
    monkeypatch.setenv("LOOPLAB_NO_CGROUPS", "1")
    sb, app = box_factory()
    assert sb._cgroup is None
    sb.exec(
        'setsid sh -c \'trap "" TERM HUP; (trap "" TERM HUP; while :; do echo x >> /app/bg; sleep 0.05; done) &\' '
        ">/dev/null 2>&1 </dev/null"
    )
    time.sleep(0.4)
    assert (app / "bg").stat().st_size > 0
    sb.stop()
    size = (app / "bg").stat().st_size
    time.sleep(0.5)
    assert (app / "bg").stat().st_size == size


def test_one_file_cannot_fill_the_host_disk_and_tmp_is_bounded(box_factory) -> None:
    sb, app = box_factory(max_file_mb=20)
    r = sb.exec(
        "head -c 30000000 /dev/zero > /app/big; fallocate -l 50M /app/big2; truncate -s 1G /app/big3; true"
    )
    assert (app / "big").stat().st_size <= 20 << 20
    assert (app / "big2").stat().st_size == 0 and (app / "big3").stat().st_size == 0, r.stderr
    r = sb.exec("df -B1M --output=size /tmp /dev/shm | tail -2")
    assert [int(x) for x in r.stdout.split()] == [256, 256]


def test_abstract_unix_socket_and_shm_of_the_host_are_out_of_reach(box_factory) -> None:
    sb, _app = box_factory()
    name = f"\0looplab-redteam-{os.getpid()}"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(name)
    srv.listen(1)
    shm = Path("/dev/shm") / f"looplab-redteam-{os.getpid()}"
    shm.write_text("host")
    try:
        code = f"import socket; s=socket.socket(socket.AF_UNIX); s.connect({name!r})"
        assert sb.exec(["python3", "-c", code]).exit_code != 0
        assert sb.exec(f"cat {shm}").exit_code != 0
        assert sb.exec("echo x > /dev/shm/from-sandbox").ok
        assert not (Path("/dev/shm") / "from-sandbox").exists()
    finally:
        srv.close()
        shm.unlink()
