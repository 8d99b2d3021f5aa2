"""The machine fingerprint that keys calibrations: CPU model, core count, kernel.

Two machines with the same fingerprint are expected to give the same paired
speedup for the same pair of programs, so a reference speedup measured on one is
reused on the other. The fingerprint is read from /proc/cpuinfo, ``os.cpu_count``
and ``uname``; its ``key`` is a short stable hash of those fields, safe as a folder
name. Vendor, family and model id are recorded for people; the key is made of the
CPU model string, core count, kernel release and architecture.
"""

from __future__ import annotations

import hashlib
import os
import platform
from pathlib import Path

from pydantic import BaseModel


class MachineFingerprint(BaseModel):
    cpu_model: str
    cpu_vendor: str = ""
    cpu_family: str = ""
    cpu_model_id: str = ""
    cores: int
    kernel: str
    arch: str

    @property
    def key(self) -> str:
        """16 hex digits of sha256("model|cores|kernel|arch"): the same key ``looplab.hostinfo`` records."""
        raw = f"{self.cpu_model}|{self.cores}|{self.kernel}|{self.arch}"
        return hashlib.sha256(raw.encode()).hexdigest()[:16]

    def describe(self) -> str:
        return f"{self.cpu_model} × {self.cores} cores, {self.arch}, kernel {self.kernel}"


def _cpuinfo_fields(text: str) -> dict[str, str]:
    """The first value of each ``key : value`` line of /proc/cpuinfo (first processor block)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if ":" not in line:
            continue
        k, _, v = line.partition(":")
        fields.setdefault(k.strip().lower(), v.strip())
    return fields


def machine_fingerprint(cpuinfo_path: Path = Path("/proc/cpuinfo")) -> MachineFingerprint:
    try:
        info = _cpuinfo_fields(cpuinfo_path.read_text(errors="replace"))
    except OSError:
        info = {}
    model = info.get("model name") or info.get("cpu model") or info.get("hardware") or platform.processor()
    uname = platform.uname()
    return MachineFingerprint(
        cpu_model=" ".join((model or "unknown").split()),
        cpu_vendor=info.get("vendor_id", ""),
        cpu_family=info.get("cpu family", ""),
        cpu_model_id=info.get("model", ""),
        cores=os.cpu_count() or 1,
        kernel=uname.release,
        arch=uname.machine,
    )
