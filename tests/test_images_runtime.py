"""looplab's runtime in image roots: a checkout whose venv lies inside a folder the image has (/var/tmp/x)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import uuid
from pathlib import Path

from conftest import trial_results
from test_images_build import make_task

import looplab

SOLVE = """#!/bin/bash
ls /.looplab/runtime{venv}/bin/python > /app/seen.txt
echo "var-tmp: $(ls /var/tmp | tr '\\n' ' ')" > /app/var-tmp.txt
echo 42 > /app/answer.txt
"""
TEST_SH = """#!/bin/bash
cat /app/seen.txt /app/var-tmp.txt
[ "$(cat /app/answer.txt 2>/dev/null)" = 42 ] && echo 1 > /logs/verifier/reward.txt || echo 0 > /logs/verifier/reward.txt
"""


def test_a_venv_under_a_folder_the_image_has_runs_image_trials(tmp_path: Path, image_registry) -> None:
    deb = image_registry.ensure("debian")
    # a checkout's venv at /var/tmp/<x>/.venv (the image has /var/tmp, read-only in its sandboxes):
    # a real venv of the host's Python, seeing this venv's packages and looplab's source through a .pth
    checkout = Path("/var/tmp") / f"looplab-rt-{uuid.uuid4().hex[:8]}"
    venv = checkout / ".venv"
    try:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
        site = next((venv / "lib").glob("python3*/site-packages"))
        src = Path(looplab.__file__).resolve().parent.parent
        (site / "outer.pth").write_text(f"{sysconfig.get_paths()['purelib']}\n{src}\n")
        checkout.chmod(0o755)
        task = make_task(tmp_path / "suite" / "t", f"FROM {deb}\nWORKDIR /app\n")
        (task / "tests" / "test.sh").write_text(TEST_SH)
        (task / "solution").mkdir()
        (task / "solution" / "solve.sh").write_text(SOLVE.format(venv=venv))
        jobs = tmp_path / "jobs"
        r = subprocess.run(
            [
                str(venv / "bin" / "python"),
                "-m",
                "looplab",
                "run",
                "-p",
                str(task),
                "-a",
                "oracle",
                "--jobs-dir",
                str(jobs),
                "--job-name",
                "j",
                "--editable",
                "*.txt",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert r.returncode == 0, r.stdout + r.stderr
        (res,) = trial_results(jobs / "j")
        assert res["status"] == "completed" and res["reward"] == 1.0, res
        out = (jobs / "j" / res["trial_name"] / "verifier" / "test-stdout.txt").read_text()
        # the runtime is under /.looplab/runtime; the image's /var/tmp is its own (no mount point added)
        assert f"/.looplab/runtime{venv}/bin/python" in out
        (var_tmp,) = [ln for ln in out.splitlines() if ln.startswith("var-tmp:")]
        assert checkout.name not in var_tmp
    finally:
        shutil.rmtree(checkout, ignore_errors=True)
