"""Shared test helpers: the looplab CLI as a real subprocess, fixture tasks copied to tmp dirs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
LOOPLAB = [sys.executable, "-m", "looplab"]


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 600, env: dict | None = None
) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [*LOOPLAB, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout, env=full_env, check=False
    )


def run_job(
    task: Path,
    jobs: Path,
    *agents: str,
    name: str = "j",
    extra: Sequence[str] = (),
    timeout: float = 600,
) -> subprocess.CompletedProcess:
    """``looplab run -p TASK -a AGENT… --jobs-dir JOBS --job-name NAME EXTRA…`` through :func:`run_cli`."""
    picks = [a for agent in agents for a in ("-a", agent)]
    return run_cli(
        "run", "-p", str(task), *picks, "--jobs-dir", str(jobs), "--job-name", name, *extra, timeout=timeout
    )


def trial_results(job_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(Path(job_dir).glob("*/result.json"))]


@pytest.fixture(autouse=True)
def _restore_environ():
    """Each test starts from the session's environment: a setting one test applies in-process
    (``set_build_options`` writes ``LOOPLAB_BASE``) must not leak into the CLIs later tests start."""
    saved = dict(os.environ)
    yield
    if os.environ != saved:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture
def tiny_task(tmp_path: Path) -> Path:
    dst = tmp_path / "tiny_task"
    shutil.copytree(FIXTURES / "tiny_task", dst, symlinks=True)
    return dst


@pytest.fixture
def write_script(tmp_path: Path):
    import yaml

    def _write(steps: list[dict], name: str = "script.yaml") -> Path:
        p = tmp_path / name
        p.write_text(yaml.safe_dump(steps))
        return p

    return _write


@pytest.fixture(scope="session")
def image_registry():
    """Debian's docker-registry on 127.0.0.1 holding the stand-in base images (see image_helpers)."""
    import shutil as _shutil

    from image_helpers import Registry, session_port

    missing = [t for t in ("docker-registry", "skopeo", "umoci", "mmdebstrap") if not _shutil.which(t)]
    if missing:
        pytest.fail(f"image tests need {' '.join(missing)}: run scripts/setup.sh as root")
    reg = Registry(session_port()).start()
    yield reg
    reg.stop()
