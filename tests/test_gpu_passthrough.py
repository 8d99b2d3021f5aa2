"""GPU passthrough: which device nodes, driver files and variables a sandbox gets, and that no GPU leaks.

Against the host's real device list (on a machine without a GPU: the fail-closed line, and
no /dev/nvidia* or libcuda bound), against a /dev tree and driver files the test makes
(the functions take the root as a parameter), through real bubblewrap, and on a real GPU
(marked ``gpu``, skipped where none exists).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from looplab.errors import LooplabError
from looplab.sandbox.base import SandboxSpec
from looplab.sandbox.bwrap import BwrapSandbox, looplab_runtime_paths, runtime_env_path
from looplab.sandbox.gpu import (
    GpuDevice,
    check_request,
    device_nodes,
    driver_files,
    host_gpus,
    parse_ldconfig,
    parse_smi,
    passthrough,
)
from tests.gpu_helpers import HOST_GPUS, needs_gpu


def fake_dev(tmp_path: Path, n: int) -> Path:
    dev = tmp_path / "dev"
    (dev / "nvidia-caps").mkdir(parents=True)
    for name in [*(f"nvidia{i}" for i in range(n)), "nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "null"]:
        (dev / name).write_text(name)
    return dev


def fake_driver(tmp_path: Path) -> tuple[Path, str]:
    lib = tmp_path / "drv" / "lib"
    lib.mkdir(parents=True)
    (lib / "libcuda.so.550.1").write_text("cuda")
    (lib / "libcuda.so.1").symlink_to("libcuda.so.550.1")
    (lib / "libnvidia-ml.so.1").write_text("nvml")
    (lib / "libz.so.1").write_text("z")
    text = (
        "4 libs found in cache `/etc/ld.so.cache'\n"
        f"\tlibcuda.so.1 (libc6,x86-64) => {lib}/libcuda.so.1\n"
        f"\tlibcuda.so.1 (libc6) => /usr/lib32/libcuda.so.1\n"
        f"\tlibnvidia-ml.so.1 (libc6,x86-64) => {lib}/libnvidia-ml.so.1\n"
        f"\tlibz.so.1 (libc6,x86-64) => {lib}/libz.so.1\n"
    )
    return lib, text


def test_host_without_gpu_fails_closed_and_binds_nothing() -> None:
    if HOST_GPUS:
        pytest.skip("this machine has a GPU: the no-GPU case is checked on machines without one")
    with pytest.raises(LooplabError) as e:
        check_request(1, None, host_gpus(), "tasks/x/task.toml")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("tasks/x/task.toml: [environment] asks for 1 GPU(s)")
    assert "this machine has none" in msg
    argv = BwrapSandbox(SandboxSpec(root=Path("/var/tmp"))).bwrap_argv()
    joined = " ".join(argv)
    assert "/dev/nvidia" not in joined and "libcuda" not in joined and "CUDA_VISIBLE_DEVICES" not in joined


def test_no_gpu_requested_needs_nothing() -> None:
    check_request(0, ["H100"], [], "t")  # a task without GPUs runs anywhere
    assert passthrough([]).bwrap_args() == []


def test_types_are_honoured() -> None:
    machine = [GpuDevice(0, "NVIDIA A10G"), GpuDevice(1, "NVIDIA H100 80GB HBM3")]
    check_request(1, ["H100"], machine, "t")
    check_request(2, None, machine, "t")
    with pytest.raises(
        LooplabError, match=r"asks for 2 GPU\(s\) of type H100; this machine has 0: NVIDIA A10G"
    ):
        check_request(2, ["H100"], machine, "t")
    with pytest.raises(LooplabError, match="of type H200"):
        check_request(1, ["H200"], machine, "t")


def test_device_nodes_of_a_dev_tree(tmp_path: Path) -> None:
    dev = fake_dev(tmp_path, 3)
    assert device_nodes(dev) == [0, 1, 2]
    assert device_nodes(tmp_path / "absent") == []


def test_passthrough_binds_only_held_gpu_and_control_nodes(tmp_path: Path) -> None:
    dev = fake_dev(tmp_path, 2)
    lib, ldc = fake_driver(tmp_path)
    image = tmp_path / "image"
    (image / "usr" / "lib").mkdir(parents=True)
    pt = passthrough([GpuDevice(1, uuid="GPU-abc")], dev_root=dev, sandbox_root=image, ldconfig=ldc)
    dests = [d for _, d in pt.devices]
    assert "/dev/nvidia1" in dests and "/dev/nvidia0" not in dests
    assert {"/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-caps"} <= set(dests)
    bound = {str(h): d for h, d in pt.ro_binds}
    assert bound[str(lib / "libcuda.so.1")] == "/run/looplab-gpu/lib/libcuda.so.1"
    assert (
        bound[str(lib / "libcuda.so.550.1")] == "/run/looplab-gpu/lib/libcuda.so.550.1"
    )  # the link's target too
    assert str(lib / "libnvidia-ml.so.1") in bound and str(lib / "libz.so.1") not in bound
    assert pt.env["CUDA_VISIBLE_DEVICES"] == "GPU-abc" == pt.env["NVIDIA_VISIBLE_DEVICES"]
    assert pt.env["LD_LIBRARY_PATH"] == "/run/looplab-gpu/lib"
    args = pt.bwrap_args()
    assert args[args.index(str(dev / "nvidia1")) - 1] == "--dev-bind"


def test_passthrough_skips_files_the_root_already_shows(tmp_path: Path) -> None:
    dev = fake_dev(tmp_path, 1)
    lib, ldc = fake_driver(tmp_path)
    pt = passthrough([GpuDevice(0)], dev_root=dev, sandbox_root=Path("/"), ldconfig=ldc)
    assert pt.ro_binds == [] and "LD_LIBRARY_PATH" not in pt.env  # the host base shows them at their paths
    assert pt.env["CUDA_VISIBLE_DEVICES"] == "0"


def test_missing_node_fails_closed(tmp_path: Path) -> None:
    dev = fake_dev(tmp_path, 1)
    with pytest.raises(LooplabError, match="GPU 3 has no device node"):
        passthrough([GpuDevice(3)], dev_root=dev, ldconfig="")


def test_parsers() -> None:
    smi = "0, NVIDIA H200, GPU-1234, 560.35.03, 143771\n1, NVIDIA H200, GPU-5678, 560.35.03, [N/A]\n"
    gpus = parse_smi(smi)
    assert gpus[0] == GpuDevice(0, "NVIDIA H200", "GPU-1234", "560.35.03", 143771)
    assert gpus[1].memory_mb == 0 and gpus[1].uuid == "GPU-5678"
    assert parse_ldconfig("\tlibfoo.so (libc6,x86-64) => /x/libfoo.so\n") == []


def test_real_ldconfig_cache_has_no_driver_here() -> None:
    libs, tools = driver_files()
    if HOST_GPUS:
        assert any(p.name.startswith("libcuda.so") for p in libs)
    else:
        assert not any(p.name.startswith("libcuda.so") for p in libs) or shutil.which("nvidia-smi") is None


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
def test_bwrap_shows_only_the_held_node(tmp_path: Path) -> None:
    dev = fake_dev(tmp_path, 2)
    pt = passthrough([GpuDevice(1, uuid="GPU-x")], dev_root=dev, ldconfig="")
    argv = [
        "bwrap",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        *pt.bwrap_args(),
        "--",
        "sh",
        "-c",
        "ls /dev; cat /dev/nvidia1; echo; echo $CUDA_VISIBLE_DEVICES",
    ]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    listing = r.stdout.split()
    assert "nvidia1" in listing and "nvidia0" not in listing and "nvidiactl" in listing
    assert "nvidia1" in r.stdout.splitlines()[-2] and r.stdout.splitlines()[-1] == "GPU-x"


@pytest.fixture
def root(tmp_path: Path):
    r = Path("/var/tmp/looplab-test") / f"gpu-{tmp_path.name}" / "root"
    r.mkdir(parents=True, exist_ok=True)
    for p in (r.parent.parent, r.parent, r):
        os.chmod(p, 0o755)
    yield r
    subprocess.run(["rm", "-rf", str(r.parent)], check=False)


def _box(root: Path, gpus: list[GpuDevice]) -> BwrapSandbox:
    return BwrapSandbox(
        SandboxSpec(
            root=root,
            workdir="/",
            env={"PATH": runtime_env_path()},
            gpus=gpus,
            ro_binds=[(p, str(p)) for p in looplab_runtime_paths()],
        )
    )


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
def test_sandbox_without_gpus_sees_no_nvidia_device(root: Path) -> None:
    with _box(root, []) as sb:
        r = sb.exec("ls /dev; echo cvd=${CUDA_VISIBLE_DEVICES-unset}", timeout=30)
    assert r.ok, r.stderr
    assert "nvidia" not in r.stdout and "cvd=unset" in r.stdout


@pytest.mark.gpu
@needs_gpu
def test_sandbox_with_one_gpu_sees_exactly_it(root: Path) -> None:
    held = HOST_GPUS[-1]
    with _box(root, [held]) as sb:
        r = sb.exec("nvidia-smi --query-gpu=uuid --format=csv,noheader", timeout=60)
        t = sb.exec("python3 -c 'import torch; print(torch.cuda.device_count())'", timeout=120)
    assert r.ok, r.stderr
    assert r.stdout.split() == [held.uuid]
    if "No module named" not in t.stderr:
        assert t.ok and t.stdout.strip() == "1", t.stderr


@pytest.mark.gpu
@needs_gpu
def test_sandbox_without_gpus_cannot_reach_one_on_a_gpu_machine(root: Path) -> None:
    with _box(root, []) as sb:
        r = sb.exec("ls /dev | grep -c nvidia; nvidia-smi -L", timeout=60)
    assert r.stdout.split()[0] == "0" and "GPU-" not in r.stdout
