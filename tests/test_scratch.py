"""Scratch folders of killed looplab processes are swept; live ones are left alone.

And whatever a sandbox leaves behind (a 1500-level tree, fifos, sockets, hard links,
sparse files, unreadable folders, a file the host cannot remove) never ends a job: the
host-side walks, copies and removals are iterative, every trial writes its
``result.json``, and the next ``looplab run`` still starts.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import run_cli, trial_results

from looplab.environment.build import runtime_dir, scratch_dir, sweep_stale_scratch
from looplab.fsutil import copy_tree, hash_tree, remove_tree, walk_tree

DEPTH = 1500

# What a hostile agent leaves in every folder it can write (/app and /logs/agent).
LITTER = f"""
set -e
for top in /app /logs/agent; do
  python3 -c "import os,sys
os.chdir(sys.argv[1])
for _ in range({DEPTH}): os.mkdir('d'); os.chdir('d')
os.mkfifo('fifo'); open('f', 'w').write('deep')" "$top"
  mkfifo "$top/fifo"
  python3 -c "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])" "$top/sock"
  truncate -s 64M "$top/sparse" && ln "$top/sparse" "$top/hardlink"
  ln -s / "$top/rootlink" && ln -s /etc "$top/etclink"
  mkdir -p "$top/locked/inner" && echo x > "$top/locked/inner/f"
  chmod 000 "$top/locked/inner" && chmod 500 "$top/locked"
done
"""


def _deep_tree(root: Path, depth: int = DEPTH, name: str = "d") -> Path:
    """A real ``depth``-level folder chain under ``root`` (built fd-relative, as a sandbox can)."""
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir(name, dir_fd=fd)
            nxt = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nxt
        os.mkfifo("fifo", dir_fd=fd)
        with open(os.open("leaf.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "w") as fh:
            fh.write("leaf\n")
    finally:
        os.close(fd)
    return root


def _litter(root: Path) -> list[socket.socket]:
    """Fifos, a bound socket, a sparse file, a hard link, symlinks out, unreadable folders."""
    os.mkfifo(root / "fifo")
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(root / "sock"))
    with open(root / "sparse", "wb") as fh:
        fh.truncate(1 << 40)
    os.link(root / "sparse", root / "hardlink")
    (root / "rootlink").symlink_to("/")
    (root / "locked" / "inner").mkdir(parents=True)
    (root / "locked" / "inner" / "f").write_text("x")
    os.chmod(root / "locked" / "inner", 0)
    os.chmod(root / "locked", 0o500)
    return [s]


def test_sweep_removes_only_dead_owners() -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = runtime_dir() / "sandboxes" / f"agent-x-p{dead.pid}-0123abcd"
    (stale / "work").mkdir(parents=True)
    live = scratch_dir("agent-y")
    assert f"-p{os.getpid()}-" in live.name
    sweep_stale_scratch()
    assert not stale.exists()
    assert live.exists()
    live.rmdir()


def test_fsutil_handles_a_deep_littered_tree_below_the_recursion_limit(tmp_path: Path) -> None:
    """Walk, hash, copy and remove a 1500-level tree with the recursion limit at 200."""
    src = _deep_tree(tmp_path / "src")
    os.mkfifo(src / "fifo")
    (src / "rootlink").symlink_to("/")
    (src / "a.txt").write_text("a")
    os.link(src / "a.txt", src / "a-hardlink")
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(200)
    try:
        dirs = sum(len(d) for _p, d, _f in walk_tree(src))
        assert dirs == DEPTH + 1  # the chain and the symlink to / (listed, not entered)
        digest = hash_tree(src)
        copy_tree(src, tmp_path / "copy")
        assert hash_tree(tmp_path / "copy") != digest  # the fifo is left out of the copy
        leaf = Path(*(["d"] * DEPTH), "leaf.txt")
        assert (tmp_path / "copy" / leaf).read_text() == "leaf\n"
        assert (tmp_path / "copy" / "rootlink").readlink() == Path("/")
        remove_tree(src)
        remove_tree(tmp_path / "copy")
    finally:
        sys.setrecursionlimit(old)
    assert not src.exists() and not (tmp_path / "copy").exists()
    assert Path("/etc/passwd").exists()  # nothing followed the symlink to /


def test_remove_tree_beyond_path_max(tmp_path: Path) -> None:
    """A chain whose full path is far longer than PATH_MAX (4096) is removed too."""
    root = _deep_tree(tmp_path / "long", depth=600, name="x" * 40)
    socks = _litter(root)
    remove_tree(root)
    assert not root.exists()
    for s in socks:
        s.close()


def test_sweep_survives_what_a_sandbox_left(tmp_path: Path) -> None:
    """Deep trees, fifos, sockets, unreadable folders, and a folder that cannot be removed at all."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    base = runtime_dir() / "sandboxes"
    deep = _deep_tree(base / f"agent-deep-p{dead.pid}-0badc0de" / "work")
    socks = _litter(deep)
    stuck = base / f"agent-stuck-p{dead.pid}-0badf00d"
    stuck.mkdir(parents=True)
    (stuck / "immutable").write_text("x")
    immutable = subprocess.run(["chattr", "+i", str(stuck / "immutable")], capture_output=True, check=False)
    odd = base / "agent-odd-p99999999999999999999-0123abcd"  # a pid no kernel has
    odd.mkdir()
    try:
        sweep_stale_scratch()
        assert not deep.parent.exists()
        assert not odd.exists()
        if immutable.returncode == 0:
            assert (stuck / "immutable").exists()  # reported and left, not raised
    finally:
        subprocess.run(["chattr", "-i", str(stuck / "immutable")], capture_output=True, check=False)
        remove_tree(stuck)
        for s in socks:
            s.close()


def _run(tmp_path: Path, task: Path, write_script, name: str, steps: list[dict]) -> dict:
    script = write_script(steps, f"{name}.yaml")
    r = run_cli(
        "run",
        "-p",
        str(task),
        "-a",
        "replay",
        "--ak",
        f"script={script}",
        "--jobs-dir",
        str(tmp_path / "jobs"),
        "--job-name",
        name,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:] + r.stdout[-3000:]
    (res,) = trial_results(tmp_path / "jobs" / name)
    return res


def _own_scratch(before: set[str]) -> set[str]:
    base = runtime_dir() / "sandboxes"
    return {p.name for p in base.iterdir()} - before if base.is_dir() else set()


def test_trial_with_a_littered_sandbox_completes_and_cleans_up(
    tmp_path: Path, tiny_task: Path, write_script
) -> None:
    """A 1500-level tree etc. in /app and /logs/agent: a full record, no scratch left, next run starts."""
    base = runtime_dir() / "sandboxes"
    before = {p.name for p in base.iterdir()} if base.is_dir() else set()
    res = _run(
        tmp_path,
        tiny_task,
        write_script,
        "littered",
        [
            {"run": LITTER, "timeout": 300},
            {"write": {"path": "/app/value.txt", "content": "7\n"}},
            {"finish": True},
        ],
    )
    assert res["status"] == "completed", res.get("exception_info")
    assert res["reward"] == pytest.approx(0.7)
    assert "cleanup_error" not in res
    assert not _own_scratch(before)
    # the agent's deep /logs/agent was copied only as far as the bounded walk reaches: no crash
    assert (tmp_path / "jobs" / "littered" / res["trial_name"] / "agent").is_dir()
    again = _run(tmp_path, tiny_task, write_script, "again", [{"finish": True}])
    assert again["status"] == "completed"


def test_trial_writes_result_json_when_clean_up_fails(tmp_path: Path, tiny_task: Path, write_script) -> None:
    """A file the host cannot remove in the trial's scratch: result.json still comes, naming the failure."""
    probe = tmp_path / "probe"
    probe.write_text("x")
    if subprocess.run(["chattr", "+i", str(probe)], capture_output=True, check=False).returncode != 0:
        pytest.skip("chattr +i is not supported on this filesystem")
    subprocess.run(["chattr", "-i", str(probe)], check=True)
    base = runtime_dir() / "sandboxes"
    before = {p.name for p in base.iterdir()} if base.is_dir() else set()
    pinned: list[Path] = []

    def pin() -> None:  # once the agent wrote /app/stuck, make it immutable on the host
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not pinned:
            for name in _own_scratch(before):
                f = base / name / "work" / "stuck"
                if name.startswith("agent-") and f.is_file():
                    subprocess.run(["chattr", "+i", str(f)], check=True)
                    pinned.append(f)
                    break
            time.sleep(0.1)

    t = threading.Thread(target=pin)
    t.start()
    try:
        res = _run(
            tmp_path,
            tiny_task,
            write_script,
            "cleanfail",
            [
                {"write": {"path": "/app/stuck", "content": "x"}},
                {"sleep": 3},
                {"write": {"path": "/app/value.txt", "content": "5\n"}},
                {"finish": True},
            ],
        )
    finally:
        t.join()
        for f in pinned:
            subprocess.run(["chattr", "-i", str(f)], check=False)
            remove_tree(f.parent.parent)
    assert pinned, "the agent's scratch folder was never seen"
    assert res["status"] == "completed"
    assert res["reward"] == pytest.approx(0.5)
    assert "cleanup_error" in res and "stuck" in res["cleanup_error"]
