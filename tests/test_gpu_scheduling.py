"""GPU scheduling: whole GPUs claimed host-wide (flock), one trial per GPU, types honoured, Ray resources."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from looplab.errors import LooplabError
from looplab.job.gpus import GpuAllocator, check_job_gpus, ray_held_gpus, ray_type_resources
from looplab.sandbox.gpu import GpuDevice
from looplab.tasks.loader import load_task

MACHINE = [
    GpuDevice(0, "NVIDIA H100", "GPU-a", "550.1"),
    GpuDevice(1, "NVIDIA H100", "GPU-b", "550.1"),
    GpuDevice(2, "NVIDIA A10G", "GPU-c", "550.1"),
]


def test_no_request_gets_nothing(tmp_path: Path) -> None:
    g = GpuAllocator(MACHINE, claims=tmp_path).acquire(0)
    assert g.devices == [] and g.record() == []


def test_one_trial_per_gpu_and_release(tmp_path: Path) -> None:
    a = GpuAllocator(MACHINE, claims=tmp_path)
    g1 = a.acquire(1, ["H100"])
    g2 = a.acquire(1, ["H100"])
    assert {g1.devices[0].index, g2.devices[0].index} == {0, 1}
    got: list = []
    t = threading.Thread(target=lambda: got.append(a.acquire(1, ["H100"])))
    t.start()
    time.sleep(0.6)
    assert not got  # both H100s are held: the third waits
    a.release(g1)
    t.join(5)
    assert got and got[0].devices == g1.devices and got[0].waited_s > 0.3
    assert g2.record()[0] == {
        "index": g2.devices[0].index,
        "name": "NVIDIA H100",
        "uuid": g2.devices[0].uuid,
        "driver_version": "550.1",
        "memory_mb": 0,
    }


def test_claims_are_host_wide(tmp_path: Path) -> None:
    """Another process holding gpu0.lock keeps this one off GPU 0 until it exits."""
    code = (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(tmp_path / 'gpu0.lock')!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(1.5)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    a = GpuAllocator(MACHINE[:1], claims=tmp_path)
    t0 = time.monotonic()
    g = a.acquire(1)
    assert time.monotonic() - t0 > 0.5 and holder.poll() is not None  # it got GPU 0 only once the holder died
    assert g.devices[0].index == 0
    a.release(g)
    holder.wait()


def test_request_beyond_machine_fails_closed(tmp_path: Path) -> None:
    a = GpuAllocator(MACHINE, claims=tmp_path)
    with pytest.raises(LooplabError, match=r"t.toml: \[environment\] asks for 3 GPU\(s\) of type H100"):
        a.acquire(3, ["H100"], "t.toml")
    with pytest.raises(LooplabError, match="this machine has none"):
        GpuAllocator([], claims=tmp_path).acquire(1)


def test_job_check_names_the_task(tmp_path: Path) -> None:
    task_dir = tmp_path / "needs_gpu"
    (task_dir / "environment").mkdir(parents=True)
    (task_dir / "tests").mkdir()
    (task_dir / "instruction.md").write_text("x\n")
    (task_dir / "tests" / "test.sh").write_text("true\n")
    (task_dir / "task.toml").write_text('[environment]\ngpus = 1\ngpu_types = ["H200"]\n')
    task = load_task(task_dir)
    check_job_gpus([task], [GpuDevice(0, "NVIDIA H200")])
    with pytest.raises(LooplabError, match=f"{task_dir}/task.toml: .*asks for 1 GPU.*of type H200"):
        check_job_gpus([task], MACHINE)


def test_ray_resources_and_assignment() -> None:
    assert ray_type_resources(0, ["H100"]) == {}
    assert ray_type_resources(1, None) == {}
    assert ray_type_resources(1, ["h100", "H200"]) == {"accelerator_type:H100": 0.001}
    assert [g.uuid for g in ray_held_gpus([1], MACHINE)] == ["GPU-b"]
    with pytest.raises(LooplabError, match="Ray assigned GPU"):
        ray_held_gpus([7], MACHINE)


def test_run_of_a_gpu_task_without_a_gpu_stops_before_any_trial(tmp_path: Path) -> None:
    """`looplab run` on a GPU task where no GPU exists: one line naming the task.toml, no trial folder."""
    from conftest import REPO, run_cli

    from tests.gpu_helpers import HOST_GPUS

    if HOST_GPUS:
        pytest.skip("this machine has a GPU: the no-GPU case is checked on machines without one")
    task = REPO / "tasks" / "gpu_softmax"
    r = run_cli("run", "-p", str(task), "-a", "nop", "--jobs-dir", str(tmp_path / "jobs"), "--job-name", "j")
    assert r.returncode != 0
    assert f"{task}/task.toml: [environment] asks for 1 GPU(s); this machine has none" in r.stdout + r.stderr
    assert not list((tmp_path / "jobs").glob("j/*/result.json"))
