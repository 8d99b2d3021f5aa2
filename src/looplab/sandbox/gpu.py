"""GPU passthrough for the bubblewrap sandbox: which NVIDIA devices, driver files and variables a trial gets.

The inventory (``host_gpus``) comes from ``nvidia-smi`` where it exists, else from the
``/dev/nvidia<N>`` nodes. A trial holding GPUs gets, the way nvidia-container-toolkit
assembles a container: its ``/dev/nvidia<N>`` nodes plus the shared control nodes
(``nvidiactl``, ``nvidia-uvm``, ``nvidia-uvm-tools``, ``nvidia-modeset``, ``nvidia-caps/``),
the driver's user-space libraries found in the ``ldconfig -p`` cache (``libcuda``,
``libnvidia-ml``, the PTX JIT...) and its tools (``nvidia-smi``...), all read-only, and
``CUDA_VISIBLE_DEVICES`` / ``NVIDIA_VISIBLE_DEVICES`` naming the held GPUs by UUID.
Libraries and tools the sandbox's own root already shows at their host path (the host
base binds the host's ``/usr``) are not bound twice; on any other root (an image) they
are bound under ``/run/looplab-gpu/lib`` and ``/bin``, the libraries put on ``LD_LIBRARY_PATH``. A trial
that holds no GPU gets none of this, so no NVIDIA device node exists inside it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from looplab.errors import LooplabError

GPU_NODE = re.compile(r"nvidia(\d+)")
CONTROL_NODES = ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset", "nvidia-caps")
# the libraries nvidia-container-toolkit mounts for the compute and utility capabilities
DRIVER_LIBRARIES = (
    "libcuda.so",
    "libcudadebugger.so",
    "libnvidia-ml.so",
    "libnvidia-ptxjitcompiler.so",
    "libnvidia-nvvm.so",
    "libnvidia-cfg.so",
    "libnvidia-gpucomp.so",
    "libnvidia-allocator.so",
    "libnvidia-opencl.so",
    "libnvidia-pkcs11.so",
    "libnvidia-pkcs11-openssl3.so",
)
DRIVER_TOOLS = (
    "nvidia-smi",
    "nvidia-debugdump",
    "nvidia-persistenced",
    "nvidia-cuda-mps-control",
    "nvidia-cuda-mps-server",
)
IMAGE_GPU_DIR = "/run/looplab-gpu"
SMI_FIELDS = "index,name,uuid,driver_version,memory.total"


@dataclass(frozen=True)
class GpuDevice:
    """One GPU of the machine: its index (``/dev/nvidia<index>``) and what nvidia-smi says of it."""

    index: int
    name: str = ""
    uuid: str = ""
    driver_version: str = ""
    memory_mb: int = 0

    def record(self) -> dict[str, object]:
        return {
            "index": self.index,
            "name": self.name,
            "uuid": self.uuid,
            "driver_version": self.driver_version,
            "memory_mb": self.memory_mb,
        }


@dataclass
class Passthrough:
    """What one sandbox gets for its GPUs: device nodes, read-only driver files, variables."""

    devices: list[tuple[Path, str]] = field(default_factory=list)  # (host node, sandbox path)
    ro_binds: list[tuple[Path, str]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    def bwrap_args(self) -> list[str]:
        argv: list[str] = []
        for host, dest in self.devices:
            argv += ["--dev-bind", str(host), dest]
        for host, dest in self.ro_binds:
            argv += ["--ro-bind", str(host), dest]
        for k, v in self.env.items():
            argv += ["--setenv", k, v]
        return argv


def device_nodes(dev_root: Path = Path("/dev")) -> list[int]:
    """Indices of the ``nvidia<N>`` nodes under ``dev_root`` (the host's GPUs, as the kernel driver made
    them)."""
    if not dev_root.is_dir():
        return []
    found = [int(m.group(1)) for p in dev_root.iterdir() if (m := GPU_NODE.fullmatch(p.name))]
    return sorted(found)


def parse_smi(text: str) -> list[GpuDevice]:
    """GPUs from ``nvidia-smi --query-gpu=index,name,uuid,driver_version,memory.total
    --format=csv,noheader,nounits``."""
    out: list[GpuDevice] = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 5 or not parts[0].isdigit():
            continue
        mem = int(float(parts[4])) if re.fullmatch(r"[\d.]+", parts[4]) else 0
        out.append(GpuDevice(int(parts[0]), parts[1], parts[2], parts[3], mem))
    return out


def host_gpus(dev_root: Path = Path("/dev")) -> list[GpuDevice]:
    """The machine's NVIDIA GPUs: nvidia-smi's list where it answers, else the device nodes alone."""
    nodes = device_nodes(dev_root)
    smi = shutil.which("nvidia-smi")
    if smi and nodes:
        try:
            r = subprocess.run(
                [smi, f"--query-gpu={SMI_FIELDS}", "--format=csv,noheader,nounits"],
                capture_output=True,
                text=True,
                timeout=30,
            )
            listed = [g for g in parse_smi(r.stdout) if g.index in nodes] if r.returncode == 0 else []
            if listed:
                return listed
        except (OSError, subprocess.TimeoutExpired):
            pass
    return [GpuDevice(i) for i in nodes]


def parse_ldconfig(text: str, arch: str = "x86-64") -> list[Path]:
    """Driver libraries in ``ldconfig -p`` output, for this architecture, the way the toolkit picks them."""
    found: dict[str, Path] = {}
    for line in text.splitlines():
        m = re.match(r"\s*(\S+) \(([^)]*)\) => (\S+)", line)
        if not m:
            continue
        soname, flags, path = m.groups()
        if arch not in flags and "x86-64" in arch:
            continue
        if any(soname.startswith(lib) for lib in DRIVER_LIBRARIES):
            found.setdefault(soname, Path(path))
    return sorted(found.values())


def driver_files(ldconfig: str | None = None) -> tuple[list[Path], list[Path]]:
    """The host driver's user-space libraries (ldconfig cache, each with its resolved target) and tools."""
    if ldconfig is None:
        exe = shutil.which("ldconfig") or "/sbin/ldconfig"
        try:
            ldconfig = subprocess.run([exe, "-p"], capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.TimeoutExpired):
            ldconfig = ""
    libs: list[Path] = []
    for p in parse_ldconfig(ldconfig):
        for q in (p, p.resolve()):
            if q.exists() and q not in libs:
                libs.append(q)
    tools = [Path(t) for name in DRIVER_TOOLS if (t := shutil.which(name))]
    return libs, tools


def check_request(gpus: int, gpu_types: list[str] | None, machine: list[GpuDevice], where: str) -> None:
    """Fail closed, in one line, when a task asks for GPUs this machine does not have."""
    if gpus <= 0:
        return
    fit = [g for g in machine if matches_type(g, gpu_types)]
    if len(fit) >= gpus:
        return
    kinds = f" of type {' or '.join(gpu_types)}" if gpu_types else ""
    have = (
        ", ".join(f"{g.index}: {g.name or 'unnamed'}" for g in machine) or "none (no /dev/nvidia<N> device)"
    )
    raise LooplabError(f"{where}: [environment] asks for {gpus} GPU(s){kinds}; this machine has {have}")


def matches_type(gpu: GpuDevice, gpu_types: list[str] | None) -> bool:
    """Whether ``gpu`` is one of ``gpu_types`` (case-insensitive substring of its name, e.g. "H100")."""
    if not gpu_types:
        return True
    return any(t.lower().replace("nvidia ", "") in gpu.name.lower() for t in gpu_types)


def present_nodes(dev_root: Path = Path("/dev")) -> list[Path]:
    """The GPU device nodes this process sees (``nvidia<N>`` and the control nodes): what a jail
    started from inside a GPU sandbox binds on."""
    nodes = [dev_root / f"nvidia{i}" for i in device_nodes(dev_root)]
    return nodes + [dev_root / n for n in CONTROL_NODES if (dev_root / n).exists()]


def visible_env(held: list[GpuDevice]) -> dict[str, str]:
    """``CUDA_VISIBLE_DEVICES`` / ``NVIDIA_VISIBLE_DEVICES`` for the held GPUs (by UUID where known); {}
    for none."""
    if not held:
        return {}
    ids = ",".join(g.uuid or str(i) for i, g in enumerate(held))
    return {"CUDA_VISIBLE_DEVICES": ids, "NVIDIA_VISIBLE_DEVICES": ids}


def passthrough(
    held: list[GpuDevice],
    dev_root: Path = Path("/dev"),
    sandbox_root: Path | None = None,
    ldconfig: str | None = None,
) -> Passthrough:
    """What a sandbox holding ``held`` gets; ``sandbox_root`` is its system root (None: the host's own
    ``/usr``)."""
    pt = Passthrough()
    if not held:
        return pt
    for g in held:
        node = dev_root / f"nvidia{g.index}"
        if not node.exists():
            raise LooplabError(f"GPU {g.index} has no device node {node}")
        pt.devices.append((node, f"/dev/nvidia{g.index}"))
    for name in CONTROL_NODES:
        if (dev_root / name).exists():
            pt.devices.append((dev_root / name, f"/dev/{name}"))
    libs, tools = driver_files(ldconfig)
    lib_dirs: list[str] = []
    for f, kind in [*((p, "lib") for p in libs), *((p, "bin") for p in tools)]:
        if sandbox_root is None:
            continue  # the host's system folders are bound whole: the driver files are there already
        shown = sandbox_root / str(f).lstrip("/")
        if shown.exists():
            continue
        dest = f"{IMAGE_GPU_DIR}/{kind}/{f.name}"
        pt.ro_binds.append((f, dest))
        if kind == "lib" and f"{IMAGE_GPU_DIR}/lib" not in lib_dirs:
            lib_dirs.append(f"{IMAGE_GPU_DIR}/lib")
    pt.env = visible_env(held)
    if lib_dirs:
        pt.env["LD_LIBRARY_PATH"] = ":".join(lib_dirs)
    return pt
