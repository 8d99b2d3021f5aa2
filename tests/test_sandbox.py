"""The bubblewrap sandbox's denials, tested for real: network, filesystem, processes, limits, deadlines."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from looplab.sandbox.base import SandboxSpec
from looplab.sandbox.bwrap import BwrapSandbox, looplab_runtime_paths, runtime_env_path


@pytest.fixture
def box(tmp_path: Path):
    root = Path("/var/tmp/looplab-test") / tmp_path.name / "root"
    (root / "orig").mkdir(parents=True, exist_ok=True)
    (root / "orig" / "pristine.txt").write_text("pristine")
    os.chmod(root.parent.parent, 0o755)
    os.chmod(root.parent, 0o755)
    app = root.parent / "app"
    sb = BwrapSandbox(
        SandboxSpec(
            root=root,
            binds=[(app, "/app")],
            cpus=[0],
            memory_mb=256,
            pids_max=256,
            env={"PATH": runtime_env_path()},
            ro_binds=[(p, str(p)) for p in looplab_runtime_paths()],
        )
    )
    sb.start()
    yield sb, app
    sb.stop()
    subprocess.run(["rm", "-rf", str(root.parent)], check=False)


def test_runs_as_unprivileged_user_pinned_to_its_core(box) -> None:
    sb, _ = box
    r = sb.exec("id -u; python3 -c 'import os; print(sorted(os.sched_getaffinity(0)))'")
    assert r.ok, r.stderr
    uid, cores = r.stdout.split("\n")[:2]
    assert uid == ("65534" if os.geteuid() == 0 else str(os.geteuid()))
    assert cores == "[0]"


def test_no_network_even_to_host_loopback(box) -> None:
    sb, _ = box
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    accepted: list[object] = []
    threading.Thread(target=lambda: accepted.append(srv.accept()), daemon=True).start()
    code = f"import socket; s=socket.socket(); s.settimeout(2); print(s.connect_ex(('127.0.0.1', {port})))"
    r = sb.exec(["python3", "-c", code])
    assert r.ok and r.stdout.strip() != "0"
    r = sb.exec(["python3", "-c", "import socket; socket.getaddrinfo('pypi.org', 443)"])
    assert not r.ok
    time.sleep(0.2)
    assert accepted == []
    srv.close()


def test_writes_outside_declared_paths_fail(box) -> None:
    sb, app = box
    for target in ("/usr/looplab-x", "/orig/pristine.txt", "/newdir", "/etc/looplab-x"):
        r = sb.exec(f"echo x > {target}")
        assert r.exit_code != 0, target
    assert sb.exec("echo ok > /app/a.txt && echo ok > /tmp/b.txt").ok
    assert (app / "a.txt").read_text() == "ok\n"


def test_host_processes_and_files_are_invisible(box, tmp_path: Path) -> None:
    sb, _ = box
    marker = f"looplab-marker-{os.getpid()}"
    host = subprocess.Popen(["sleep", "300", marker], stdout=subprocess.DEVNULL)  # noqa: F841 - visible on the host
    secret = Path("/var/tmp") / f"{marker}.secret"
    secret.write_text("host secret")
    os.chmod(secret, 0o644)
    try:
        r = sb.exec("ps -eo args")
        assert r.ok and marker not in r.stdout
        assert len([x for x in r.stdout.splitlines()[1:] if x.strip()]) <= 6
        assert sb.exec(f"cat {secret}").exit_code != 0
        assert sb.exec("cat /etc/shadow").exit_code != 0
        assert sb.exec("ls /root /work /home/*").exit_code != 0
    finally:
        host.kill()
        secret.unlink()


def test_background_process_dies_with_the_sandbox(box) -> None:
    sb, app = box
    sb.exec("nohup sh -c 'while true; do echo x >> /app/bg.txt; sleep 0.1; done' >/dev/null 2>&1 &")
    time.sleep(0.5)
    assert (app / "bg.txt").stat().st_size > 0
    sb.stop()
    size = (app / "bg.txt").stat().st_size
    time.sleep(0.6)
    assert (app / "bg.txt").stat().st_size == size
    out = subprocess.run(["pgrep", "-u", "65534", "-f", "bg.txt"], capture_output=True, text=True)
    assert out.stdout.strip() == ""


def test_deadline_kills_a_tree_that_ignores_sigterm(box) -> None:
    sb, _ = box
    t0 = time.monotonic()
    r = sb.exec("trap '' TERM; (trap '' TERM; sleep 300) & (trap '' TERM; sleep 301) & wait", timeout=1.0)
    assert r.timed_out and time.monotonic() - t0 < 15
    assert "sleep 30" not in sb.exec("ps -eo args").stdout


def test_memory_limit_holds(box) -> None:
    sb, _ = box
    r = sb.exec(["python3", "-c", "x = bytearray(1024 * 1024 * 1024); print(len(x))"], timeout=60)
    assert r.exit_code != 0


def test_output_is_capped(box) -> None:
    sb, _ = box
    sb.spec.output_limit = 1000
    r = sb.exec("head -c 100000 /dev/zero | tr '\\0' a")
    assert r.ok and len(r.stdout) == 1000 and r.truncated


def test_kill_processes_keeps_the_sandbox_usable(box) -> None:
    sb, app = box
    sb.exec("nohup sh -c 'while true; do echo x >> /app/daemon.txt; sleep 0.05; done' >/dev/null 2>&1 &")
    time.sleep(0.3)
    assert sb.kill_processes() >= 1
    size = (app / "daemon.txt").stat().st_size
    time.sleep(0.3)
    assert (app / "daemon.txt").stat().st_size == size
    assert sb.exec("echo still here").stdout == "still here\n"


def test_kill_commands_ends_running_commands_and_keeps_what_earlier_ones_left(box) -> None:
    """A kept sandbox at a step's deadline: the command still running dies, a process an earlier
    command left in the background runs on."""
    sb, app = box
    sb.exec("nohup sh -c 'while true; do echo x >> /app/kept.txt; sleep 0.05; done' >/dev/null 2>&1 &")
    out: dict = {}
    t = threading.Thread(target=lambda: out.update(r=sb.exec("sleep 120", timeout=300)))
    t.start()
    time.sleep(0.5)
    assert sb.kill_commands() == 1
    t.join(15)
    assert not t.is_alive() and out["r"].exit_code != 0
    size = (app / "kept.txt").stat().st_size
    time.sleep(0.3)
    assert (app / "kept.txt").stat().st_size > size


def test_put_get_and_host_path_take_absolute_paths(box, tmp_path: Path) -> None:
    sb, app = box
    src = tmp_path / "in.txt"
    src.write_text("data")
    sb.put(src, "/app/sub/in.txt")
    assert sb.exec("cat /app/sub/in.txt").stdout == "data"
    assert sb.host_path("/app/sub/in.txt") == app / "sub" / "in.txt"
    assert sb.host_path("/orig/pristine.txt") is None
    sb.get("/app/sub/in.txt", tmp_path / "out.txt")
    assert (tmp_path / "out.txt").read_text() == "data"
