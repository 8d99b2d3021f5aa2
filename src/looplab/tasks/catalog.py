"""The built-in task catalog: the ``tasks/`` folder shipped beside the package.

``resolve_task_path("int_sort")`` finds a catalog task by name; a real path wins.
``LOOPLAB_TASKS_DIR`` points at another catalog.
"""

from __future__ import annotations

from pathlib import Path

from looplab import settings
from looplab.errors import LooplabError


def catalog_dir() -> Path:
    return settings.current().tasks_dir


def catalog_task_paths() -> list[Path]:
    d = catalog_dir()
    if not d.is_dir():
        return []
    return sorted(p for p in d.iterdir() if (p / "task.toml").is_file())


def resolve_task_path(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.exists():
        return p
    cand = catalog_dir() / name_or_path
    if (cand / "task.toml").is_file():
        return cand
    raise LooplabError(
        f"{name_or_path}: no such task folder, and no catalog task of that name in {catalog_dir()}"
    )
