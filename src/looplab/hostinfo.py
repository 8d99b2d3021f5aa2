"""What machine a trial ran on: CPU model, cores, kernel and tool versions.

Timed rewards only compare on the same hardware, so every trial records this, and
``machine_fingerprint`` keys per-machine caches (calibrations).
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import re
import shutil
import subprocess


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(cmd: list[str]) -> str | None:
    if not shutil.which(cmd[0]):
        return None
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (r.stdout or r.stderr).strip().splitlines()
    return text[0].strip() if text else None


@functools.lru_cache(maxsize=1)
def host_info() -> dict:
    import looplab

    return {
        "hostname": platform.node(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable_cores": sorted(os.sched_getaffinity(0)),
        "kernel": platform.release(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "looplab": looplab.__version__,
        "tools": {
            "bwrap": _version(["bwrap", "--version"]),
            "gcc": _version(["gcc", "--version"]),
            "valgrind": _version(["valgrind", "--version"]),
        },
        "fingerprint": machine_fingerprint(),
    }


def machine_fingerprint() -> str:
    """A short stable key for 'the same hardware': CPU model, core count, kernel."""
    model = re.sub(r"\s+", " ", cpu_model())
    raw = f"{model}|{os.cpu_count()}|{platform.release()}|{platform.machine()}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]
