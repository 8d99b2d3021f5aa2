"""Files catalog tasks share (tasks/_shared/manifest.toml): every task's copy equals the source."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import sync_task_shared  # noqa: E402

from looplab.verify.runner import load_declaration  # noqa: E402


def test_every_copy_named_in_the_manifest_equals_its_source() -> None:
    pairs = sync_task_shared.copies()
    assert pairs, "the manifest names no shared file"
    for src, dst in pairs:
        assert dst.is_file(), f"{dst} is missing: run scripts/sync_task_shared.py"
        assert dst.read_bytes() == src.read_bytes(), (
            f"{dst} differs from {src}: run scripts/sync_task_shared.py"
        )


def test_check_mode_reports_a_stale_copy(tmp_path: Path) -> None:
    src, dst = sync_task_shared.copies()[0]
    saved = dst.read_bytes()
    try:
        dst.write_bytes(saved + b"# edited\n")
        r = subprocess.run(
            [sys.executable, str(REPO / "scripts" / "sync_task_shared.py"), "--check"],
            capture_output=True,
            text=True,
        )
        assert r.returncode == 1 and str(dst.relative_to(REPO)) in r.stdout
    finally:
        dst.write_bytes(saved)


def test_every_declared_task_ships_the_fallback_its_test_sh_runs() -> None:
    for task in sorted((REPO / "tasks").iterdir()):
        decl = load_declaration(task / "tests") if (task / "tests").is_dir() else None
        if decl is not None and decl.mode == "exact":
            # exact tasks: test.sh runs the same trusted scripts the declared check runs
            scripts = re.findall(r"/tests/[\w.]+\.py", decl.check.command)
            assert scripts, f"{task.name}: the check runs no script of /tests"
            test_sh = (task / "tests" / "test.sh").read_text()
            assert all(sc in test_sh for sc in scripts), f"{task.name}: test.sh does not run {scripts}"
        elif decl is not None:
            assert (task / "tests" / "harbor_run.py").is_file(), (
                f"{task.name}: declares runs but has no harbor_run.py"
            )
            assert "harbor_run.py" in (task / "tests" / "test.sh").read_text(), (
                f"{task.name}: test.sh does not run it"
            )
