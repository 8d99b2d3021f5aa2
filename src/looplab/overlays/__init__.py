"""Task overlays: a ``[looplab]`` section kept outside a foreign task's folder.

An overlay folder holds one ``<task folder name>.toml`` per task, with a ``[looplab]`` table
only (editable globs, measurement, base, rebased scoring). ``looplab run --overlays NAME|PATH``
names a folder shipped here (``autolab``: AutoLab v1.1's CPU tasks) or one on disk; every task
loaded in that run (and in its workers: the choice travels as ``LOOPLAB_OVERLAYS``) gets its
overlay's section as if its task.toml had it, so a whole suite runs sealed unmodified. A task
with an overlay stays a foreign task otherwise: its verifier root is a private writable copy.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from pydantic import ValidationError

from looplab.errors import LooplabError
from looplab.tasks.model import LooplabSection, TaskConfig

OVERLAYS_ENV = "LOOPLAB_OVERLAYS"
SHIPPED_DIR = Path(__file__).parent


def shipped_overlays() -> list[str]:
    """Names of the overlay folders shipped with looplab."""
    return sorted(p.name for p in SHIPPED_DIR.iterdir() if p.is_dir() and any(p.glob("*.toml")))


def resolve_overlays(name_or_path: str) -> Path:
    """A shipped overlay folder by name, or a folder on disk."""
    if (SHIPPED_DIR / name_or_path).is_dir() and "/" not in name_or_path:
        return SHIPPED_DIR / name_or_path
    p = Path(name_or_path).expanduser()
    if not p.is_dir():
        known = ", ".join(shipped_overlays())
        raise LooplabError(f"--overlays {name_or_path}: neither a shipped overlay set ({known}) nor a folder")
    return p.resolve()


def set_overlays(name_or_path: str | None) -> None:
    """Apply ``--overlays`` to this process and the workers it starts."""
    if name_or_path:
        os.environ[OVERLAYS_ENV] = str(resolve_overlays(name_or_path))


def overlay_file(task_name: str) -> Path | None:
    """The overlay file of this task in the run's overlay folder, if the run has one."""
    folder = os.environ.get(OVERLAYS_ENV)
    if not folder:
        return None
    f = Path(folder) / f"{task_name}.toml"
    return f if f.is_file() else None


def apply_overlay(cfg: TaskConfig, task_toml: Path, overlay: Path) -> TaskConfig:
    """``cfg`` with the overlay's ``[looplab]`` section added (one-line errors naming the file)."""
    try:
        raw = tomllib.loads(overlay.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise LooplabError(f"{overlay}: not valid TOML: {exc}") from None
    extra = sorted(set(raw) - {"looplab"})
    if extra or "looplab" not in raw:
        raise LooplabError(f"{overlay}: an overlay holds a [looplab] table only (found: {extra or 'none'})")
    if "looplab" in cfg.model_fields_set:
        raise LooplabError(f"{overlay}: {task_toml} has its own [looplab] section; an overlay only adds one")
    try:
        section = LooplabSection.model_validate(raw["looplab"])
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err.get("loc", ()))
        raise LooplabError(f"{overlay}: field looplab.{loc}: {err.get('msg', 'invalid')}") from None
    return cfg.model_copy(update={"looplab": section})
