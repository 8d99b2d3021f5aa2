"""The per-core measurement lock between real processes: disjoint cores don't block, shared ones wait."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from looplab.errors import LooplabError
from looplab.measure.lock import MeasurementLock, affinity_cores, lock_file

HOLDER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from looplab.measure.lock import MeasurementLock
    lock_dir, pin, ready, release = sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
    if pin != "none":
        os.sched_setaffinity(0, {int(c) for c in pin.split(",")})
    with MeasurementLock(lock_dir=Path(lock_dir), label="holder") as rec:
        ready.write_text(",".join(map(str, rec.cores)))
        deadline = time.monotonic() + 30
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    """
)


def start_holder(tmp_path: Path, lock_dir: Path, pin: str) -> tuple[subprocess.Popen, Path]:
    ready, release = tmp_path / f"ready-{pin}", tmp_path / f"release-{pin}"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock_dir), pin, str(ready), str(release)])
    deadline = time.monotonic() + 20
    while not ready.exists():
        assert proc.poll() is None, "lock holder died"
        assert time.monotonic() < deadline, "lock holder never got the lock"
        time.sleep(0.01)
    return proc, release


needs_two_cores = pytest.mark.skipif(len(affinity_cores()) < 2, reason="needs two cores")


@needs_two_cores
def test_disjoint_cores_do_not_block(tmp_path):
    lock_dir = tmp_path / "locks"
    c0, c1 = affinity_cores()[:2]
    proc, release = start_holder(tmp_path, lock_dir, str(c0))
    try:
        with MeasurementLock(cores=[c1], lock_dir=lock_dir, timeout=5) as rec:
            assert not rec.contended and rec.waited_s < 1.0
    finally:
        release.touch()
        proc.wait(timeout=20)


@needs_two_cores
def test_a_shared_core_waits_and_records_who_held_it(tmp_path):
    lock_dir = tmp_path / "locks"
    c0 = affinity_cores()[0]
    proc, release = start_holder(tmp_path, lock_dir, str(c0))
    lock = MeasurementLock(cores=[c0], lock_dir=lock_dir, timeout=20, label="waiter")
    releaser = subprocess.Popen(["/bin/sh", "-c", f"sleep 0.5; touch {release}"])
    try:
        rec = lock.acquire()
        assert rec.contended
        assert rec.waited_s >= 0.3
        assert any(f"core {c0}" in w and f"pid {proc.pid} holder" in w for w in rec.waited_for), (
            rec.waited_for
        )
        assert lock_file(lock_dir, c0).read_text().startswith(f"pid {os.getpid()} waiter")
    finally:
        lock.release()
        releaser.wait(timeout=20)
        proc.wait(timeout=20)
    assert lock.record.held_s >= 0.0
    assert lock_file(lock_dir, c0).read_text() == ""  # the note is cleared on release


@needs_two_cores
def test_an_unpinned_process_locks_the_whole_host(tmp_path):
    lock_dir = tmp_path / "locks"
    proc, release = start_holder(tmp_path, lock_dir, "none")
    assert (tmp_path / "ready-none").read_text() == ",".join(map(str, affinity_cores()))
    try:
        for core in affinity_cores():
            with pytest.raises(LooplabError, match=f"core {core} still busy"):
                MeasurementLock(cores=[core], lock_dir=lock_dir, timeout=0.2).acquire()
    finally:
        release.touch()
        proc.wait(timeout=20)
    with MeasurementLock(lock_dir=lock_dir, timeout=5) as rec:
        assert not rec.contended


def test_read_only_lock_files_still_lock(tmp_path):
    """Inside a verifier sandbox the lock folder is a read-only bind: a read-only fd must do."""
    lock_dir = tmp_path / "locks"
    lock_dir.mkdir()
    core = affinity_cores()[0]
    lock_file(lock_dir, core).touch()
    os.chmod(lock_file(lock_dir, core), 0o444)
    os.chmod(lock_dir, 0o555)
    try:
        a = MeasurementLock(cores=[core], lock_dir=lock_dir)
        a.acquire()
        if os.geteuid() != 0:  # root may still open for writing; what matters is that flock excludes
            assert lock_file(lock_dir, core).read_text() == ""
        with pytest.raises(LooplabError, match="still busy"):
            MeasurementLock(cores=[core], lock_dir=lock_dir, timeout=0.1).acquire()
        a.release()
        with MeasurementLock(cores=[core], lock_dir=lock_dir, timeout=1) as rec:
            assert rec.available and not rec.contended
    finally:
        os.chmod(lock_dir, 0o755)


def test_unusable_lock_folder_measures_anyway_or_fails_when_required(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with MeasurementLock(lock_dir=blocker / "locks") as rec:
        assert not rec.available and rec.reason
    with pytest.raises(LooplabError, match="lock folder"):
        MeasurementLock(lock_dir=blocker / "locks", required=True).acquire()


def test_lock_dir_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOPLAB_LOCK_DIR", str(tmp_path / "a"))
    assert MeasurementLock().lock_dir == tmp_path / "a"
    monkeypatch.delenv("LOOPLAB_LOCK_DIR")
    monkeypatch.setenv("LOOPLAB_CACHE_DIR", str(tmp_path / "cache"))
    assert MeasurementLock().lock_dir == tmp_path / "cache" / "locks"


def test_created_lock_folder_is_sticky_and_world_writable(tmp_path):
    lock_dir = tmp_path / "new" / "locks"
    with MeasurementLock(cores=[affinity_cores()[0]], lock_dir=lock_dir):
        pass
    assert lock_dir.stat().st_mode & 0o7777 == 0o1777
