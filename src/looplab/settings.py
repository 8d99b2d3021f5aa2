"""Where looplab keeps its files on this host: every path setting and its environment variable, in one place.

- ``LOOPLAB_CACHE_DIR``: layers, sandbox roots, locks, core claims, calibrations
  (default ``/var/tmp/looplab``);
- ``LOOPLAB_LOCK_DIR``: per-core measurement lock files (default ``$LOOPLAB_CACHE_DIR/locks``);
- ``LOOPLAB_CALIBRATION_DIR``: per-machine calibrations, ``looplab calibrate``
  (default ``$LOOPLAB_CACHE_DIR/calibration``);
- ``LOOPLAB_CORE_CLAIMS``: host-wide core claims, ``0`` (off) or a folder
  (default ``$LOOPLAB_CACHE_DIR/core-claims``);
- ``LOOPLAB_TASKS_DIR``: the task catalog (default ``tasks/`` of the source tree);
- ``LOOPLAB_JOBS_DIR``: where ``looplab run`` puts job folders (default ``./jobs``;
  ``--jobs-dir`` overrides it).

Defaults for ``jobs_dir``, ``cache_dir`` and ``tasks_dir`` can also come from a user
config file, ``$LOOPLAB_CONFIG`` or ``$XDG_CONFIG_HOME/looplab/config.toml``
(``~/.config/looplab/config.toml``); an environment variable beats the file, a flag
beats both. An unknown key in the file is an error naming it.

``current()`` reads them all at once into a frozen ``Settings``. It reads the
environment at each call, not at import, so a test (or a child process given
another environment) sees its own values. ``check_cache_dir`` fails early, with the
fix, when the sandbox user cannot traverse the cache folder's parents.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from looplab.errors import LooplabError, validation_message

DEFAULT_CACHE_DIR = Path("/var/tmp/looplab")
DEFAULT_JOBS_DIR = Path("jobs")
SOURCE_TASKS_DIR = Path(__file__).resolve().parents[2] / "tasks"


class UserConfig(BaseModel):
    """``~/.config/looplab/config.toml``: defaults for the folders looplab uses."""

    model_config = ConfigDict(extra="forbid")
    jobs_dir: Path | None = None
    cache_dir: Path | None = None
    tasks_dir: Path | None = None


def config_file(env: Mapping[str, str]) -> Path | None:
    """The user config file this environment names (it may not exist), or None."""
    if env.get("LOOPLAB_CONFIG"):
        return Path(env["LOOPLAB_CONFIG"])
    if env.get("XDG_CONFIG_HOME"):
        return Path(env["XDG_CONFIG_HOME"]) / "looplab" / "config.toml"
    if env.get("HOME"):
        return Path(env["HOME"]) / ".config" / "looplab" / "config.toml"
    return None


def read_user_config(path: Path | None) -> UserConfig:
    if path is None or not path.is_file():
        return UserConfig()
    try:
        data = tomllib.loads(path.read_text())
        return UserConfig.model_validate(data)
    except tomllib.TOMLDecodeError as exc:
        raise LooplabError(f"{path}: not valid TOML ({exc})") from None
    except ValidationError as exc:
        raise LooplabError(validation_message(str(path), exc, UserConfig)) from None


@dataclass(frozen=True)
class Settings:
    cache_dir: Path
    lock_dir: Path
    calibration_dir: Path
    core_claims: Path | None  # None: core claims are off
    tasks_dir: Path
    jobs_dir: Path = DEFAULT_JOBS_DIR

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> Settings:
        user = read_user_config(config_file(env))
        cache = Path(env.get("LOOPLAB_CACHE_DIR") or user.cache_dir or DEFAULT_CACHE_DIR)
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
            tasks_dir=Path(env.get("LOOPLAB_TASKS_DIR") or user.tasks_dir or SOURCE_TASKS_DIR),
            jobs_dir=Path(env.get("LOOPLAB_JOBS_DIR") or user.jobs_dir or DEFAULT_JOBS_DIR),
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


def check_cache_dir(path: Path | None = None) -> None:
    """Fail, with the fix, when a parent of the cache folder is not traversable by other users:
    sandboxes run as an unprivileged uid and must reach the layers kept there."""
    cache = Path(path or current().cache_dir).absolute()
    for parent in reversed(cache.parents):  # the folder itself is made traversable by runtime_dir
        try:
            mode = parent.stat().st_mode
        except FileNotFoundError:
            return  # created later, world-traversable (runtime_dir)
        except PermissionError:
            mode = 0
        if not mode & stat.S_IXOTH:
            raise LooplabError(
                f"cache folder {cache}: the sandbox user cannot traverse {parent} "
                f"(mode {stat.filemode(mode)}); fix: chmod o+x {parent}, or set LOOPLAB_CACHE_DIR "
                "to a folder under /var/tmp"
            )
