"""The verifier's private root: a writable view of the pristine environment, with tests/ staged.

Used by the sealed verifier and by rebased scoring's pristine runs (``verify.rebased``), so
both see the same root for the same task.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

from looplab.environment.build import Environment
from looplab.environment.private_root import private_root
from looplab.fsutil import remove_tree
from looplab.sandbox.factory import is_image_root
from looplab.tasks.loader import Task


@contextlib.contextmanager
def root_view(env: Environment, root: Path) -> Iterator[None]:
    """``root``: a private writable view of the pristine environment layer while the context lasts."""
    if is_image_root(env.root):  # a whole image: an overlay on the pristine root (or cp -a)
        with private_root(env.root, root):
            yield
    else:
        shutil.copytree(env.root, root, symlinks=True)
        yield


def stage_verifier_root(
    task: Task, root: Path, tests_dirs: list[Path] | None = None, upload: bool = True
) -> None:
    """Merge the task's tests/ (or ``tests_dirs``, in order: a step's tests over the task's)
    into /tests (unless not ``upload``: a separate verifier's own image holds them) and start
    /logs/verifier empty."""
    tests_host = root / "tests"
    if tests_host.is_symlink() and upload:
        tests_host.unlink()
    for d in ([task.tests_dir] if tests_dirs is None else tests_dirs) if upload else []:
        shutil.copytree(d, tests_host, symlinks=True, dirs_exist_ok=True)
    verifier_logs = root / "logs" / "verifier"
    remove_tree(verifier_logs)
    verifier_logs.mkdir(parents=True)
