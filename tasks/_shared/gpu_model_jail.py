"""Run the agent's code inside the verifier so that it cannot touch the score.

The verifier and the agent's code run as the same user, so the agent's code is
run in a nested bubblewrap jail: the whole filesystem read-only, ``/tests`` and
``/logs`` replaced by empty folders (it can neither read the hidden verifier
files nor forge the reward), a private ``/tmp``, no network, its own PID
namespace (when the jailed command ends or is killed, every process it started
dies with it, daemons included) and only the folders named in ``rw`` writable.

With ``gpu`` the jail also gets the NVIDIA device nodes this sandbox shows (``--dev-bind``:
looplab's passthrough put only the trial's GPUs there) and the CUDA/NVIDIA visibility variables.

Where bubblewrap cannot run (a container without user namespaces) it falls back
to a plain subprocess in its own session, with the verifier made non-dumpable and
a child subreaper so every leftover process is killed afterwards; ``mode`` in the
result says which was used. The verifier imports everything it needs and
generates its secret inputs only after the jailed step has finished.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass

PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
HIDDEN = ("/tests", "/logs", "/solution")


@dataclass
class JailResult:
    exit_code: int | None  # None when it was killed at a limit
    timed_out: bool  # killed at the wall-clock or the CPU limit
    seconds: float  # wall clock
    mode: str  # "bwrap" or "subprocess"
    stdout: str
    stderr: str
    cpu_seconds: float = 0.0  # CPU time of the whole process tree
    cpu_limited: bool = False  # killed at the CPU limit


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


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds used so far by ``root`` and all its descendants (finished ones included).

    A finished child's time is in its parent's cutime/cstime once reaped, a live
    one's in its own utime/stime, so summing all four over the live tree counts
    every process once.
    """
    tick = os.sysconf("SC_CLK_TCK")
    parent: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        f = stat[stat.rfind(")") + 2 :].split()
        pid = int(entry)
        parent[pid] = int(f[1])
        ticks[pid] = int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
    total = 0
    for pid, t in ticks.items():
        p, hops = pid, 0
        while p not in (0, 1, root) and hops < 64:
            p, hops = parent.get(p, 0), hops + 1
        if p == root:
            total += t
    return total / tick


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
    cpu_limit_s: float | None = None,
    ro_binds: list[tuple[str, str]] | None = None,
    gpu: bool = False,
) -> JailResult:
    """Run argv jailed; stdout/stderr go to files in log_dir (a verifier folder).

    It is killed at ``timeout_s`` seconds of wall-clock time, or -- with
    ``cpu_limit_s`` -- as soon as the CPU time of its whole process tree (every
    thread and child, live or finished) reaches that many seconds. ``ro_binds``
    (outside path, inside path) show a folder read-only at another place, e.g. fresh
    data over /data; only a bwrap jail can do that (check ``bwrap_works()``).
    """
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
    if gpu:
        for k in ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "LD_LIBRARY_PATH"):
            if k in os.environ:
                base_env[k] = os.environ[k]
    base_env.update(env or {})
    mode = "bwrap" if bwrap_works() else "subprocess"
    if mode == "bwrap":
        cmd = [shutil.which("bwrap") or "bwrap", "--unshare-all", "--die-with-parent", "--new-session",
               "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]  # fmt: skip
        for h in HIDDEN:
            if os.path.isdir(h):
                cmd += ["--tmpfs", h]
        for src, dst in ro_binds or []:
            cmd += ["--ro-bind", src, dst]
        if gpu:
            for node in sorted(os.listdir("/dev")):
                if node.startswith("nvidia"):
                    cmd += ["--dev-bind", f"/dev/{node}", f"/dev/{node}"]
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

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    before = usage.ru_utime + usage.ru_stime
    t0 = time.monotonic()
    with open(os.devnull, "rb") as fin, open(out_path, "wb") as fout, open(err_path, "wb") as ferr:
        proc = subprocess.Popen(
            cmd, stdin=fin, stdout=fout, stderr=ferr, cwd=cwd, start_new_session=True, close_fds=True,
            env=base_env, preexec_fn=limits,
        )  # fmt: skip
        timed_out = cpu_out = False
        code: int | None = None
        cpu = 0.0
        while True:
            try:
                code = proc.wait(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                pass
            if cpu_limit_s is not None:
                cpu = max(cpu, tree_cpu_seconds(proc.pid))
                if cpu >= cpu_limit_s:
                    cpu_out = True
                    break
            if time.monotonic() - t0 >= timeout_s:
                timed_out = True
                break
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        if code is None:
            proc.wait()
            code = None
    seconds = time.monotonic() - t0
    kill_leftovers()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = after.ru_utime + after.ru_stime - before
    return JailResult(
        code, timed_out or cpu_out, seconds, mode, _tail(out_path), _tail(err_path),
        cpu_seconds=round(max(used, cpu), 3), cpu_limited=cpu_out,
    )  # fmt: skip


def main() -> None:
    """Run CMD as the verifier does.

    ``python3 jail.py --cpu 60 --wall 240 --rw /app/out --cwd /app -- CMD...``
    """
    ap = argparse.ArgumentParser(description="run a command the way the verifier runs the agent's code")
    ap.add_argument("--cwd", default=os.getcwd())
    ap.add_argument("--rw", action="append", default=[], help="a writable folder (repeatable)")
    ap.add_argument("--wall", type=float, required=True, help="wall-clock limit, seconds")
    ap.add_argument("--cpu", type=float, default=None, help="CPU-time limit of the process tree, seconds")
    ap.add_argument("--env", action="append", default=[], help="KEY=VALUE for the command (repeatable)")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    env = dict(e.split("=", 1) for e in args.env)
    with tempfile.TemporaryDirectory() as logs:
        res = run_jailed(cmd, cwd=args.cwd, rw=args.rw, timeout_s=args.wall, env=env, log_dir=logs,
                         cpu_limit_s=args.cpu)  # fmt: skip
    sys.stdout.write(res.stdout)
    sys.stderr.write(res.stderr)
    summary = {k: v for k, v in asdict(res).items() if k not in ("stdout", "stderr")}
    print(json.dumps(summary), file=sys.stderr)


if __name__ == "__main__":
    main()
