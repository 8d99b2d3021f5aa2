"""Run the agent's code inside the verifier so that it cannot touch the score.

The verifier and the agent's code run as the same user, so the agent's code is
run in a nested bubblewrap jail: the whole filesystem read-only, ``/tests`` and
``/logs`` replaced by empty folders (it can neither read the hidden verifier
files nor forge the reward), a private ``/tmp``, no network, its own PID
namespace (when the jailed command ends or is killed, every process it started
dies with it, daemons included) and only the folders named in ``rw`` writable.

Where bubblewrap cannot run (a container without user namespaces) it falls back
to a plain subprocess in its own session, with the verifier made non-dumpable and
a child subreaper so every leftover process is killed afterwards; ``mode`` in the
result says which was used. The verifier imports everything it needs and
generates its secret inputs only after the jailed step has finished.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass

PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
HIDDEN = ("/tests", "/logs", "/solution")


@dataclass
class JailResult:
    exit_code: int | None  # None when it was killed at the time limit
    timed_out: bool
    seconds: float
    mode: str  # "bwrap" or "subprocess"
    stdout: str
    stderr: str


def harden_self() -> None:
    """Non-dumpable (no ptrace or /proc/PID/mem from the candidate) and a subreaper for orphans."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except OSError:
        pass


_BWRAP_OK: bool | None = None


def bwrap_works() -> bool:
    global _BWRAP_OK
    if _BWRAP_OK is None:
        exe = shutil.which("bwrap")
        ok = False
        if exe:
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                r = subprocess.run(
                    [exe, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--proc", "/proc",
                     "--dev", "/dev", "--", "/bin/true"],
                    capture_output=True, timeout=30, check=False,
                )  # fmt: skip
                ok = r.returncode == 0
        _BWRAP_OK = ok
    return _BWRAP_OK


def _children(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            kids.append(int(entry))
    return kids


def kill_leftovers() -> None:
    """SIGKILL and reap every remaining child of this process (re-parented orphans included)."""
    me = os.getpid()
    for _ in range(200):
        kids = _children(me)
        if not kids:
            return
        for k in kids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(k, signal.SIGKILL)
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                time.sleep(0.01)


def _tail(path: str, cap: int = 20_000) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - cap))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


def run_jailed(
    argv: list[str],
    *,
    cwd: str,
    rw: list[str],
    timeout_s: float,
    env: dict[str, str] | None = None,
    log_dir: str,
    max_file_bytes: int = 1 << 30,
) -> JailResult:
    """Run argv jailed with a wall-clock limit; stdout/stderr go to files in log_dir (a verifier folder)."""
    harden_self()
    os.makedirs(log_dir, exist_ok=True)
    out_path, err_path = os.path.join(log_dir, "stdout.txt"), os.path.join(log_dir, "stderr.txt")
    base_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": cwd,
        "LANG": "C.UTF-8",
        "TMPDIR": "/tmp",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    base_env.update(env or {})
    mode = "bwrap" if bwrap_works() else "subprocess"
    if mode == "bwrap":
        cmd = [shutil.which("bwrap") or "bwrap", "--unshare-all", "--die-with-parent", "--new-session",
               "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]  # fmt: skip
        for h in HIDDEN:
            if os.path.isdir(h):
                cmd += ["--tmpfs", h]
        for p in rw:
            cmd += ["--bind", p, p]
        cmd += ["--chdir", cwd, "--clearenv"]
        for k, v in base_env.items():
            cmd += ["--setenv", k, v]
        cmd += ["--", *argv]
    else:
        cmd = list(argv)

    def limits() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    t0 = time.monotonic()
    with open(os.devnull, "rb") as fin, open(out_path, "wb") as fout, open(err_path, "wb") as ferr:
        proc = subprocess.Popen(
            cmd, stdin=fin, stdout=fout, stderr=ferr, cwd=cwd, start_new_session=True, close_fds=True,
            env=base_env, preexec_fn=limits,
        )  # fmt: skip
        timed_out = False
        try:
            code: int | None = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out, code = True, None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        if timed_out:
            proc.wait()
    seconds = time.monotonic() - t0
    kill_leftovers()
    return JailResult(code, timed_out, seconds, mode, _tail(out_path), _tail(err_path))
