"""Where sandboxes come from: ``make_sandbox(spec)``, and what every sandbox needs to run looplab itself.

Callers build a ``SandboxSpec``, ask for a sandbox here and then talk only to the
``Sandbox`` protocol; which backend runs it (bubblewrap today) is decided in this
module alone. Every sandbox made here is tracked by ``looplab.cancel``, so
Ctrl-C stops it. ``runtime_ro_binds`` and ``runtime_path`` are the read-only binds and
``PATH`` that let looplab's own tools (its venv, its package source) run inside.
"""

from __future__ import annotations

from pathlib import Path

from looplab import cancel
from looplab.sandbox.base import Sandbox, SandboxSpec
from looplab.sandbox.bwrap import BwrapSandbox, is_image_root, looplab_runtime_paths, runtime_env_path

__all__ = ["is_image_root", "make_sandbox", "runtime_path", "runtime_ro_binds"]


def make_sandbox(spec: SandboxSpec) -> Sandbox:
    """A sandbox for ``spec``, not yet started; a cancellation request stops it (agents' first)."""
    box = BwrapSandbox(spec)
    cancel.track(box, "agent" if "agent" in (spec.name or "") else "other")
    return box


def runtime_ro_binds() -> list[tuple[Path, str]]:
    """Read-only binds of looplab's own runtime (venv, package source) at their host paths."""
    return [(p, str(p)) for p in looplab_runtime_paths()]


def runtime_path() -> str:
    """The ``PATH`` a sandbox needs to find looplab's tools and the system's."""
    return runtime_env_path()
