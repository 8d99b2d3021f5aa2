"""Task shipping for Ray nodes that share no files: content-addressed archives, unpacked once per node."""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path

import pytest

from looplab.errors import LooplabError
from looplab.job.shipping import materialize_task, pack_task
from looplab.tasks.loader import load_task

CLIMB = Path(__file__).parent / "fixtures" / "climb"


def test_digest_names_content_not_path(tmp_path: Path) -> None:
    a, b = tmp_path / "a" / "climb", tmp_path / "b" / "climb"
    shutil.copytree(CLIMB, a)
    shutil.copytree(CLIMB, b)
    assert pack_task(a)[0] == pack_task(b)[0] == pack_task(CLIMB)[0]
    (b / "environment" / "value.txt").write_text("7\n")
    assert pack_task(b)[0] != pack_task(a)[0]
    renamed = tmp_path / "c" / "climb2"
    shutil.copytree(CLIMB, renamed)
    assert pack_task(renamed)[0] != pack_task(a)[0]  # the folder name is the task's name: part of it


def test_materialized_once_per_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOPLAB_CACHE_DIR", str(tmp_path / "cache"))
    digest, archive = pack_task(CLIMB)
    calls: list[int] = []

    def fetch() -> bytes:
        calls.append(1)
        return archive

    first = materialize_task(digest, "climb", fetch)
    second = materialize_task(digest, "climb", fetch)
    assert first == second and len(calls) == 1
    assert first.parent.name == digest and first.is_relative_to(tmp_path / "cache")
    task = load_task(first)
    assert (
        task.name == "climb"
        and (first / "solution" / "solve.sh").read_bytes() == (CLIMB / "solution" / "solve.sh").read_bytes()
    )
    assert pack_task(first)[0] == digest


def test_bad_shipments_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOPLAB_CACHE_DIR", str(tmp_path / "cache"))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("climb/link")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/shadow"
        tar.addfile(info)
    with pytest.raises(LooplabError, match="link or device"):
        materialize_task("abc123", "climb", lambda: buf.getvalue())
    for digest, name in (("../x", "climb"), ("abc", "../climb"), ("abc", "..")):
        with pytest.raises(LooplabError, match="bad digest or name"):
            materialize_task(digest, name, lambda: b"")
    root = tmp_path / "cache" / "ray-tasks"
    assert not (root / "abc123").exists() and not list(root.glob(".abc123.*"))  # nothing half-unpacked
