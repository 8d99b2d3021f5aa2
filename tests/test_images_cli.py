"""`looplab images pull|list|load|prune` against the test registry and archives on disk."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from conftest import run_cli
from test_images_build import build, make_task


def test_pull_list_load_prune(tmp_path: Path, image_registry) -> None:
    ref = image_registry.ensure("debian")
    env = {"LOOPLAB_CACHE_DIR": str(tmp_path / "cache")}
    r = run_cli("images", "pull", ref, env=env)
    assert r.returncode == 0 and "sha256:" in r.stdout, r.stderr
    digest = r.stdout.split()[-1]
    # a docker-archive tarball (what `docker save` writes) loads without any registry
    archive = tmp_path / "debian.tar"
    subprocess.run(
        [
            "skopeo",
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            f"docker://{ref}",
            f"docker-archive:{archive}:offline/debian:saved",
        ],
        check=True,
        capture_output=True,
    )
    r = run_cli("images", "load", str(archive), env=env)
    assert r.returncode == 0 and "docker.io/offline/debian:saved" in r.stdout, r.stdout + r.stderr
    r = run_cli("images", "list", env=env)
    assert ref in r.stdout and "offline/debian:saved" in r.stdout and digest[:19] in r.stdout
    r = run_cli("images", "load", str(tmp_path / "nope.tar"), env=env)
    assert r.returncode != 0 and "nope.tar: no such file or folder" in r.stderr
    r = run_cli("images", "prune", "--all", env=env)
    assert r.returncode == 0 and "removed 2 image(s)" in r.stdout, r.stdout + r.stderr
    assert not any((tmp_path / "cache" / "images" / "roots").iterdir())
    assert ref not in run_cli("images", "list", env=env).stdout


def test_host_base_says_which_from_was_ignored(tmp_path: Path, monkeypatch) -> None:
    task = make_task(
        tmp_path / "t",
        "FROM python:3.9-slim\nRUN pip install numpy==1.26.4\nWORKDIR /app\n",
        looplab='[looplab]\nbase = "host"\n',
    )
    env = build(task)
    assert env.base == "host" and not env.images
    text = "\n".join(env.warnings)
    assert "FROM python:3.9-slim ignored (host base): missing on this host: python 3.9" in text
    assert "numpy==1.26.4 is pinned but this host has numpy" in text
    monkeypatch.setenv("LOOPLAB_BASE", "nonsense")
    try:
        build(task)
    except Exception as exc:  # noqa: BLE001 - the message is what matters
        assert "base must be 'host' or 'image'" in str(exc)
    else:
        raise AssertionError("a bad --base was accepted")
    assert os.environ["LOOPLAB_BASE"] == "nonsense"
