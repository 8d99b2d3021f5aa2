"""Where looplab keeps its files on this host: every path setting and its environment variable, in one place.

- ``LOOPLAB_CACHE_DIR``: layers, sandbox roots, locks, core claims, calibrations
  (default ``/var/tmp/looplab``);
- ``LOOPLAB_LOCK_DIR``: per-core measurement lock files (default ``$LOOPLAB_CACHE_DIR/locks``);
- ``LOOPLAB_CALIBRATION_DIR``: per-machine calibrations, ``looplab calibrate``
  (default ``$LOOPLAB_CACHE_DIR/calibration``);
- ``LOOPLAB_CORE_CLAIMS``: host-wide core claims, ``0`` (off) or a folder
  (default ``$LOOPLAB_CACHE_DIR/core-claims``);
- ``LOOPLAB_TASKS_DIR``: the task catalog (default ``tasks/`` of the source tree).

``current()`` reads them all at once into a frozen ``Settings``. It reads the
environment at each call, not at import, so a test (or a child process given
another environment) sees its own values. Job folders go under ``./jobs`` unless
``--jobs-dir`` says otherwise (``DEFAULT_JOBS_DIR``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_CACHE_DIR = Path("/var/tmp/looplab")
DEFAULT_JOBS_DIR = Path("jobs")
SOURCE_TASKS_DIR = Path(__file__).resolve().parents[2] / "tasks"


@dataclass(frozen=True)
class Settings:
    cache_dir: Path
    lock_dir: Path
    calibration_dir: Path
    core_claims: Path | None  # None: core claims are off
    tasks_dir: Path

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> Settings:
        cache = Path(env.get("LOOPLAB_CACHE_DIR") or DEFAULT_CACHE_DIR)
        claims = env.get("LOOPLAB_CORE_CLAIMS", "1")
        return cls(
            cache_dir=cache,
            lock_dir=Path(env.get("LOOPLAB_LOCK_DIR") or cache / "locks"),
            calibration_dir=Path(env.get("LOOPLAB_CALIBRATION_DIR") or cache / "calibration"),
            core_claims=None
            if claims == "0"
            else cache / "core-claims"
            if claims in ("", "1")
            else Path(claims),
            tasks_dir=Path(env.get("LOOPLAB_TASKS_DIR") or SOURCE_TASKS_DIR),
        )


def current() -> Settings:
    """The settings of this process's environment, now."""
    return Settings.from_environ(os.environ)


def runtime_dir() -> Path:
    """The cache folder, created: world-traversable so the sandbox uid can reach layers and roots in it."""
    base = current().cache_dir
    base.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(PermissionError):
        os.chmod(base, 0o711)
    return base
