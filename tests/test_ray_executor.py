"""The Ray executor with real Ray in local mode: same results and layout as local, lost workers retried."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from looplab.fsutil import read_json
from looplab.job.runner import JobSpec, run_job
from looplab.tasks.loader import load_task

ray = pytest.importorskip("ray")

FIXTURES = Path(__file__).parent / "fixtures"
CLIMB = FIXTURES / "climb"
SCRIPTS = FIXTURES / "climb_scripts"


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory: pytest.TempPathFactory):
    # Ray workers claim cores among themselves (a private claim folder, inherited by the workers),
    # not against other processes' trials on this machine, which would only make the tests wait.
    old = os.environ.get("LOOPLAB_CORE_CLAIMS")
    os.environ["LOOPLAB_CORE_CLAIMS"] = str(tmp_path_factory.mktemp("core-claims"))
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False)
    yield
    ray.shutdown()
    if old is None:
        os.environ.pop("LOOPLAB_CORE_CLAIMS", None)
    else:
        os.environ["LOOPLAB_CORE_CLAIMS"] = old


def _layout(job_dir: Path) -> dict[str, tuple[str, list[str]]]:
    """slot → (status, sorted relative paths of the trial folder), plus the job-level entries."""
    out: dict[str, tuple[str, list[str]]] = {}
    for d in sorted(job_dir.iterdir()):
        if d.is_dir() and (d / "result.json").is_file():
            r = read_json(d / "result.json")
            files = sorted(p.relative_to(d).as_posix() for p in d.rglob("*") if p.is_file())
            out[r["slot"]] = (r["status"], files)
    out["<job>"] = ("", sorted(p.name for p in job_dir.iterdir() if p.is_file()))
    return out


def test_ray_matches_local(tmp_path: Path, local_ray: None) -> None:
    task = load_task(CLIMB)
    results = {}
    for executor in ("local", "ray"):
        spec_plain = JobSpec(
            job_name=f"plain-{executor}",
            jobs_dir=tmp_path,
            task_paths=[str(CLIMB)],
            agents=["oracle", "nop"],
            concurrency=2,
        )
        spec = JobSpec(
            job_name=f"replay-{executor}",
            jobs_dir=tmp_path,
            task_paths=[str(CLIMB)],
            agents=["replay"],
            agent_kwargs={"script": str(SCRIPTS / "premature.yaml")},
        )
        s1 = run_job(spec_plain, [task], executor=executor)
        s2 = run_job(spec, [task], executor=executor)
        rewards = {t["slot"]: t["reward"] for t in s1["trials"] + s2["trials"]}
        results[executor] = (rewards, _layout(spec_plain.job_dir), _layout(spec.job_dir))
    assert (
        results["local"][0]
        == results["ray"][0]
        == {
            "climb/oracle/0": 1.0,
            "climb/nop/0": 0.0,
            "climb/replay/0": 0.3,
        }
    )
    assert results["local"][1] == results["ray"][1]
    assert results["local"][2] == results["ray"][2]
    dirs = sorted(d for job in ("plain-ray", "replay-ray") for d in (tmp_path / job).iterdir() if d.is_dir())
    for d in dirs:
        r = read_json(d / "result.json")
        assert r["executor"]["kind"] == "ray" and len(r["resources"]["cores"]) == 1
    # Ray trials that ran at the same time (separate worker processes) never shared a core
    for i, a in enumerate(dirs):
        for b in dirs[i + 1 :]:
            if _overlap(_held(a), _held(b)):
                ca, cb = (read_json(x / "result.json")["resources"]["cores"] for x in (a, b))
                assert not set(ca) & set(cb), (a.name, b.name)


def _held(trial_dir: Path) -> tuple[float, float]:
    """A sub-interval of the time a trial held its cores: first trajectory event → verifier record written."""
    first = json.loads((trial_dir / "agent" / "trajectory.jsonl").read_text().splitlines()[0])["time"]
    return dt.datetime.fromisoformat(first).timestamp(), (
        trial_dir / "verifier" / "result.json"
    ).stat().st_mtime


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _worker_pid(trial_prefix: str, deadline: float) -> int | None:
    """The pid of the Ray worker running the task named ``looplab:<trial_prefix>...``."""
    while time.monotonic() < deadline:
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if cmd.startswith("ray::looplab:" + trial_prefix):
                return int(pid)
        time.sleep(0.1)
    return None


def test_lost_worker_is_retried_as_a_new_trial(tmp_path: Path, local_ray: None) -> None:
    slow = tmp_path / "slow.yaml"
    slow.write_text(
        '- {at: 0.2, write: {path: /app/value.txt, content: "2\\n"}}\n- {dev_check: true}\n'
        "- {at: 4.0, finish: true}\n"
    )
    spec = JobSpec(
        job_name="lost",
        jobs_dir=tmp_path,
        task_paths=[str(CLIMB)],
        agents=["replay"],
        agent_kwargs={"script": str(slow)},
    )
    events: list[tuple[str, dict]] = []
    killed: dict = {}

    def killer() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(k == "submitted" for k, _ in events):
            time.sleep(0.05)
        first = next(i for k, i in events if k == "submitted")
        # wait until the trial is under way (its first checkpoint exists), then kill its worker
        while (
            time.monotonic() < deadline
            and not (spec.job_dir / first["trial"] / "checkpoints" / "index.jsonl").exists()
        ):
            time.sleep(0.05)
        pid = _worker_pid(first["trial"], deadline)
        if pid:
            killed["pid"], killed["trial"] = pid, first["trial"]
            os.kill(pid, signal.SIGKILL)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    summary = run_job(spec, [load_task(CLIMB)], on_event=lambda k, i: events.append((k, i)), executor="ray")
    t.join(5)
    assert killed, "did not find the Ray worker to kill"
    assert [k for k, _ in events].count("lost") == 1
    assert summary["n_trials"] == 1 and summary["n_trial_dirs"] == 2
    assert summary["trials"][0]["status"] == "completed" and summary["trials"][0]["reward"] == 0.2
    old = read_json(spec.job_dir / killed["trial"] / "result.json")
    assert old["status"] == "error" and old["exception_info"]["type"] == "WorkerLost"
    assert (spec.job_dir / killed["trial"] / "checkpoints" / "index.jsonl").is_file()  # kept as it was
    new = [d for d in spec.job_dir.iterdir() if d.is_dir() and d.name != killed["trial"]]
    assert len(new) == 1 and read_json(new[0] / "result.json")["executor"]["try"] == 1


def test_shipped_trial_archives_are_checked(tmp_path: Path) -> None:
    """A trial folder shipped back from a worker unpacks only under its own name, as plain files."""
    import io
    import tarfile

    from looplab.errors import LooplabError
    from looplab.job.ray_executor import _unpack

    def archive(members: list[tuple[str, bytes | None]]) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for name, data in members:
                info = tarfile.TarInfo(name)
                if data is None:
                    info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
                    tar.addfile(info)
                else:
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
        return buf.getvalue()

    _unpack(archive([("t__1/result.json", b"{}"), ("t__1/agent/trajectory.jsonl", b"")]), tmp_path, "t__1")
    assert (tmp_path / "t__1" / "result.json").read_bytes() == b"{}"
    for bad in ([("other/x", b"")], [("t__2/../../x", b"")], [("t__2/link", None)]):
        with pytest.raises(LooplabError):
            _unpack(archive(bad), tmp_path, "t__2")
    assert not (tmp_path / "t__2").exists()


def test_unschedulable_trial_is_refused(tmp_path: Path, local_ray: None) -> None:
    import shutil

    from looplab.errors import LooplabError

    wide = tmp_path / "wide"
    shutil.copytree(CLIMB, wide)
    toml = (wide / "task.toml").read_text().replace("cpus = 1", "cpus = 64")
    (wide / "task.toml").write_text(toml)
    spec = JobSpec(job_name="wide", jobs_dir=tmp_path / "jobs", task_paths=[str(wide)], agents=["nop"])
    with pytest.raises(LooplabError, match="asks for 64 CPU"):
        run_job(spec, [load_task(wide)], executor="ray")
    assert not (spec.job_dir / ".ray-token").exists()


def test_worker_without_the_job_folder_ships_the_trial_back(tmp_path: Path, local_ray: None) -> None:
    """A worker that cannot see the job folder (wrong token) runs in scratch and returns an archive."""
    from looplab.job.ray_executor import _unpack, looplab_trial
    from looplab.job.shipping import pack_task

    job_dir = tmp_path / "job"
    job_dir.mkdir()
    (job_dir / ".ray-token").write_text("the driver's token")
    digest, archive = pack_task(CLIMB)
    payload = {
        "job_dir": str(job_dir),
        "token": "another cluster's token",
        "trial_name": "climb__ship0001",
        "task_path": str(CLIMB),
        "task_name": "climb",
        "task_digest": digest,
        "task_archive": [ray.put(archive)],
        "job_name": "ship",
        "slot": "climb/oracle/0",
        "try": 0,
        "trial_config": {"agent": "oracle"},
    }
    items = [ray.get(ref) for ref in ray.remote(looplab_trial).remote(payload)]  # a generator task
    *live, out = items
    assert all(set(i) == {"live"} and i["live"] for i in live)  # live chunks while it ran, then the result
    for i in live:
        assert all(c[0] == "climb__ship0001" for c in i["live"])
    assert not (job_dir / "climb__ship0001").exists() and out["archive"]
    _unpack(out["archive"], job_dir, "climb__ship0001")
    r = read_json(job_dir / "climb__ship0001" / "result.json")
    assert r["status"] == "completed" and r["reward"] == 1.0 and r["executor"]["kind"] == "ray"
    assert r["task_path"] == str(CLIMB) and r["executor"]["task_copy"].endswith(f"/ray-tasks/{digest}/climb")
    assert (job_dir / "climb__ship0001" / "checkpoints" / "index.jsonl").is_file()
