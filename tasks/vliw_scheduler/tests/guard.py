"""Run the agent's program inside the verifier without letting it touch the score.

The agent's code runs as the same user as the verifier, so this module (used by
verify.py, which imports everything it needs *before* the candidate starts):
- marks the verifier process non-dumpable, so the candidate cannot ptrace it or
  read/write its memory through /proc;
- makes the verifier a child subreaper, so every process the candidate leaves
  behind (double-forked, setsid'd daemons included) is re-parented to the verifier
  and killed once the candidate ends — nothing can rewrite the reward later;
- gives the candidate /dev/null as stdin, files (not pipes) for stdout and stderr,
  a private working folder, a wall-clock limit and a file-size limit;
- writes reward.json last, after repairing whatever the candidate did to
  /logs/verifier (a symlink, a folder named reward.json, a read-only mode).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import shutil
import signal
import subprocess
import tempfile
import time

PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36


def harden_self() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


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


def kill_leftovers() -> int:
    """SIGKILL and reap every remaining child of this process (re-parented orphans included)."""
    me = os.getpid()
    killed = 0
    for _ in range(200):
        kids = _children(me)
        if not kids:
            break
        for k in kids:
            try:
                os.kill(k, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                time.sleep(0.01)
    return killed


class RunResult:
    def __init__(self, exit_code: int | None, timed_out: bool, stdout: bytes, stderr: bytes, seconds: float):
        self.exit_code, self.timed_out = exit_code, timed_out
        self.stdout, self.stderr, self.seconds = stdout, stderr, seconds


def run_candidate(argv: list[str], stdin_bytes: bytes | None, timeout_s: float, max_output: int) -> RunResult:
    """Run argv with a wall-clock limit; stdout/stderr are captured through files, capped at max_output."""
    work = tempfile.mkdtemp(prefix="candidate-")
    os.chmod(work, 0o700)
    out_path, err_path, in_path = (os.path.join(work, x) for x in ("stdout", "stderr", "stdin"))
    with open(in_path, "wb") as fh:
        fh.write(stdin_bytes or b"")
    run_dir = os.path.join(work, "cwd")
    os.mkdir(run_dir)

    def limits() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_output + 4096, max_output + 4096))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": run_dir,
        "LANG": "C.UTF-8",
        "TMPDIR": run_dir,
    }
    t0 = time.monotonic()
    with open(in_path, "rb") as fin, open(out_path, "wb") as fout, open(err_path, "wb") as ferr:
        proc = subprocess.Popen(
            argv, stdin=fin, stdout=fout, stderr=ferr, cwd=run_dir, env=env,
            start_new_session=True, preexec_fn=limits, close_fds=True,
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
    out = _read_capped(out_path, max_output)
    err = _read_capped(err_path, 20_000)
    shutil.rmtree(work, ignore_errors=True)
    return RunResult(code, timed_out, out, err, seconds)


def _read_capped(path: str, cap: int) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(cap + 1)
    except OSError:
        return b""


def write_reward(out_dir: str, data: dict) -> None:
    """Write reward.json atomically, undoing anything done to out_dir by the candidate."""
    if os.path.islink(out_dir) or (os.path.exists(out_dir) and not os.path.isdir(out_dir)):
        os.unlink(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    os.chmod(out_dir, 0o755)
    for name in ("reward.json", "reward.txt", ".reward.json.tmp"):
        p = os.path.join(out_dir, name)
        if os.path.islink(p) or os.path.isfile(p):
            os.unlink(p)
        elif os.path.isdir(p):
            shutil.rmtree(p, ignore_errors=True)
    tmp = os.path.join(out_dir, ".reward.json.tmp")
    with open(tmp, "w") as fh:
        json.dump(data, fh)
        fh.write("\n")
    os.replace(tmp, os.path.join(out_dir, "reward.json"))
