"""The verifier on an image root: a private writable view (overlay), the pristine root never written."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from test_images_build import make_task

from looplab.environment.build import build_environment
from looplab.environment.private_root import private_root
from looplab.tasks.loader import load_task
from looplab.verify.verifier import verify

# a foreign task's test.sh may write anywhere in its container: /usr, /etc, the workdir
TEST_SH = """#!/bin/bash
seen=$(cat /usr/local/marker 2>/dev/null || echo none)
echo "seen=$seen"
echo dirty > /usr/local/marker
echo 'evil:x:0:0::/:/bin/sh' >> /etc/passwd
rm -f /etc/debian_version
echo 1 > /logs/verifier/reward.txt
"""


def test_verifier_writes_go_to_a_private_view_never_the_pristine_root(tmp_path: Path, image_registry) -> None:
    reg = image_registry.ensure("debian")
    task_dir = make_task(tmp_path / "t", f"FROM {reg}\nWORKDIR /app\n")
    (task_dir / "tests" / "test.sh").write_text(TEST_SH)
    task = load_task(task_dir)
    env = build_environment(task)
    pristine = Path(env.root)
    passwd = (pristine / "etc" / "passwd").read_text()
    work = tmp_path / "work"
    work.mkdir()
    for i in range(2):
        res = verify(task, env, work, tmp_path / f"logs{i}")
        assert res.reward == 1.0, res
        # the second verification starts from the pristine root again
        assert "seen=none" in (tmp_path / f"logs{i}" / "test-stdout.txt").read_text()
    assert not (pristine / "usr" / "local" / "marker").exists()
    assert (pristine / "etc" / "passwd").read_text() == passwd
    assert (pristine / "etc" / "debian_version").is_file()
    assert (pristine / "usr" / "bin").stat().st_uid != 65534  # not chowned through the view
    mounts = Path("/proc/self/mounts").read_text()
    assert str(pristine) not in mounts  # every overlay was unmounted


@pytest.mark.skipif(os.geteuid() != 0, reason="the overlay view needs host root (otherwise cp -a)")
def test_private_root_is_an_overlay_as_root_and_a_copy_without(tmp_path: Path, image_registry) -> None:
    reg = image_registry.ensure("debian")
    env = build_environment(load_task(make_task(tmp_path / "t", f"FROM {reg}\n")))
    with private_root(Path(env.root), tmp_path / "a" / "root") as how:
        assert how == "overlay"
        (tmp_path / "a" / "root" / "etc" / "hostname").write_text("changed\n")
    assert (Path(env.root) / "etc" / "hostname").read_text() != "changed\n"
    env_copy = dict(os.environ, LOOPLAB_PRIVATE_ROOT="copy")
    code = (
        "import sys; from pathlib import Path; from looplab.environment.private_root import private_root\n"
        "with private_root(Path(sys.argv[1]), Path(sys.argv[2])) as how: print(how)\n"
    )
    r = subprocess.run(
        [os.sys.executable, "-c", code, str(env.root), str(tmp_path / "b" / "root")],
        env=env_copy,
        capture_output=True,
        text=True,
        check=True,
    )
    assert r.stdout.strip() == "copy" and (tmp_path / "b" / "root" / "etc" / "passwd").is_file()


@pytest.mark.skipif(os.geteuid() != 0, reason="the overlay view needs host root (otherwise cp -a)")
def test_a_view_left_by_a_killed_process_is_unmounted_by_the_sweep(tmp_path: Path, image_registry) -> None:
    from looplab.environment.build import sweep_stale_scratch
    from looplab.settings import runtime_dir

    reg = image_registry.ensure("debian")
    env = build_environment(load_task(make_task(tmp_path / "t", f"FROM {reg}\n")))
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = runtime_dir() / "sandboxes" / f"verify-t-p{dead.pid}-0123abcd"
    view = private_root(Path(env.root), stale / "root")
    assert view.__enter__() == "overlay"  # never exited: as if the process had been killed
    (stale / "root" / "etc" / "hostname").write_text("stale\n")
    assert sweep_stale_scratch() >= 1
    assert not stale.exists() and str(stale) not in Path("/proc/self/mounts").read_text()
    assert (Path(env.root) / "etc" / "hostname").read_text() != "stale\n"
