"""Instruction counts with valgrind's callgrind (exact and repeatable), perf where a host has it.

A count only repeats when the program sees the same environment and arguments, so
the command runs under ``env -i`` with a fixed environment (PATH, HOME=/tmp,
LANG=LC_ALL=C, PYTHONHASHSEED=0, plus what the caller adds) and the exact argv.
A simple command (no shell syntax) is run directly under valgrind; anything else
runs through ``/bin/sh -c`` with ``--trace-children=yes``, every process writes its
own callgrind file, and the count sums every process, whatever its executable is
called: excluding processes by name (the shells') let a program hide its work in a
child named ``sh``. The shells' share is reported apart (``shell_instructions``), for
information only. ``function`` counts only
what runs inside one function and its callees (callgrind ``--toggle-collect``,
correct under recursion); a function never entered (misspelled, or inlined by the
compiler) is an error. Only the ``totals:`` lines of the callgrind files are read
back, so this works through any ``CommandRunner``, a sandbox's included.

Hardware counters via ``perf stat`` are used only where ``perf stat -e
instructions true`` reports a count (virtual machines usually say "not supported").
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import shutil
import stat
import subprocess
import uuid
from pathlib import Path

from pydantic import BaseModel, Field

from looplab.errors import LooplabError
from looplab.measure.runners import CommandRunner, SubprocessRunner
from looplab.sandbox.base import DEFAULT_PATH

SHELL_CHARS = set("|&;<>()$`\\*?[]{}~!#\n")
SHELLS = {"sh", "bash", "dash", "zsh", "ksh", "busybox"}
FIXED_ENV = {"HOME": "/tmp", "LANG": "C", "LC_ALL": "C", "PYTHONHASHSEED": "0", "TERM": "dumb"}


class ProcessCount(BaseModel):
    pid: int
    cmd: str
    instructions: int
    shell: bool = False


class InstructionCount(BaseModel):
    """The instruction count of one command and how it was obtained."""

    command: str
    instructions: int
    function: str | None = None
    tool: str = "callgrind"
    tool_version: str = ""
    processes: list[ProcessCount] = Field(default_factory=list)
    shell_instructions: int = 0  # of ``instructions``, what processes named like a shell executed
    via_shell: bool = False  # the command had shell syntax and ran under /bin/sh -c
    env: dict[str, str] = Field(default_factory=dict)
    argv: list[str] = Field(default_factory=list)
    cwd: str | None = None
    wall_s: float = 0.0


def _run_host(argv: list[str]) -> tuple[int, str]:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 127, str(exc)
    return p.returncode, p.stdout + p.stderr


@functools.cache
def valgrind_version() -> str:
    """``valgrind-3.19.0`` and the like; raises ``LooplabError`` when valgrind is missing."""
    if not shutil.which("valgrind"):
        raise LooplabError(
            "valgrind is not installed (apt-get install -y valgrind); instruction counts need it"
        )
    rc, out = _run_host(["valgrind", "--version"])
    if rc != 0:
        raise LooplabError(f"valgrind --version failed: {out.strip()[:200]}")
    return out.strip()


def is_simple_command(command: str) -> bool:
    """True when ``command`` is a plain argv (no pipes, redirections, variables, globs)."""
    if any(ch in SHELL_CHARS for ch in command):
        return False
    try:
        argv = shlex.split(command)
    except ValueError:
        return False
    return bool(argv) and "=" not in argv[0]


def callgrind_argv(
    command: str, out_pattern: str, function: str | None, env: dict[str, str]
) -> tuple[list[str], bool]:
    """The full argv that counts ``command``, and whether it goes through a shell."""
    vg = [
        shutil.which("valgrind") or "valgrind",
        "--tool=callgrind",
        "-q",
        f"--callgrind-out-file={out_pattern}",
        "--trace-children=yes",
        "--dump-line=no",
        "--dump-instr=no",
    ]
    if function:
        vg += ["--collect-atstart=no", f"--toggle-collect={function}"]
    simple = is_simple_command(command)
    target = shlex.split(command) if simple else ["/bin/sh", "-c", command]
    envs = [f"{k}={v}" for k, v in sorted(env.items())]
    return ["env", "-i", *envs, *vg, "--", *target], not simple


TOTALS_RE = re.compile(r"^(?P<file>[^:]*/cg\.(?P<pid>\d+)):(?P<key>cmd|totals|summary):\s*(?P<val>.*)$")


def parse_totals(grep_output: str) -> list[ProcessCount]:
    """Per-process counts from ``grep -H -E '^(cmd|totals|summary):'`` over callgrind files.

    ``totals:`` is the authoritative line; older files only have ``summary:``.
    """
    procs: dict[int, dict[str, str]] = {}
    for line in grep_output.splitlines():
        m = TOTALS_RE.match(line.strip())
        if m:
            procs.setdefault(int(m["pid"]), {})[m["key"]] = m["val"].strip()
    out: list[ProcessCount] = []
    for pid, e in sorted(procs.items()):
        value = e.get("totals", e.get("summary"))
        if value is None:
            continue
        try:
            count = int(value.split()[0])
        except (ValueError, IndexError):
            raise LooplabError(f"callgrind file for pid {pid}: unreadable totals line {value!r}") from None
        cmd = e.get("cmd", "")
        first = os.path.basename(cmd.split()[0]) if cmd.split() else ""
        out.append(ProcessCount(pid=pid, cmd=cmd, instructions=count, shell=first in SHELLS))
    return out


def count_instructions(
    command: str,
    *,
    function: str | None = None,
    runner: CommandRunner | None = None,
    env: dict[str, str] | None = None,
    path: str | None = None,
    timeout: float | None = None,
    tmp_dir: str = "/tmp",
    cwd: str | None = None,
) -> InstructionCount:
    """Count the instructions ``command`` executes (or those inside ``function``) with callgrind.

    ``runner`` decides where it runs (default: a host subprocess in ``cwd``); the
    environment is always the fixed one plus ``env``; ``path`` sets PATH (default:
    the PATH the runner's shell has).
    """
    version = valgrind_version()
    run = runner or SubprocessRunner(cwd=cwd)
    fixed = dict(FIXED_ENV)
    if path is None:
        probe = run.run('printf %s "$PATH"', timeout=60)
        path = probe.stdout.strip() or DEFAULT_PATH
    fixed["PATH"] = path
    fixed.update(env or {})
    out_dir = f"{tmp_dir.rstrip('/')}/looplab-cg-{uuid.uuid4().hex[:12]}"
    argv, via_shell = callgrind_argv(command, f"{out_dir}/cg.%p", function, fixed)
    line = " ".join(shlex.quote(a) for a in argv)
    res = run.run(f"mkdir -p {shlex.quote(out_dir)} && exec {line}", timeout=timeout)
    try:
        if res.timed_out:
            raise LooplabError(f"instruction count of {command!r} timed out after {timeout} s")
        if res.exit_code != 0:
            tail = res.stderr.strip().replace("\n", " | ")[-400:]
            raise LooplabError(
                f"instruction count: {command!r} exited {res.exit_code}; stderr: {tail or '(empty)'}"
            )
        grep = run.run(
            f"grep -H -E '^(cmd|totals|summary):' {shlex.quote(out_dir)}/cg.* 2>/dev/null", timeout=60
        )
    finally:
        run.run(f"rm -rf {shlex.quote(out_dir)}", timeout=60)
    procs = parse_totals(grep.stdout)
    if not procs:
        raise LooplabError(f"instruction count of {command!r}: callgrind wrote no totals")
    shell_total = sum(p.instructions for p in procs if p.shell)
    total = sum(p.instructions for p in procs)
    if function and total == 0:
        raise LooplabError(
            f"instruction count: function {function!r} was never entered by {command!r} "
            "(misspelled, or inlined by the compiler? mark it noinline or build with -fno-inline)"
        )
    return InstructionCount(
        command=command,
        instructions=total,
        function=function,
        tool="callgrind",
        tool_version=version,
        processes=procs,
        shell_instructions=shell_total,
        via_shell=via_shell,
        env=fixed,
        argv=argv,
        cwd=cwd,
        wall_s=res.duration_s,
    )


@functools.cache
def perf_available() -> bool:
    """Whether ``perf stat -e instructions true`` yields a hardware count on this host."""
    if not shutil.which("perf"):
        return False
    rc, out = _run_host(["perf", "stat", "-x,", "-e", "instructions", "true"])
    return rc == 0 and _parse_perf(out) is not None


def _parse_perf(out: str) -> int | None:
    for line in out.splitlines():
        fields = line.split(",")
        if len(fields) >= 3 and fields[2].startswith("instructions"):
            try:
                return int(float(fields[0]))
            except ValueError:
                return None
    return None


def count_instructions_perf(command: str, env: dict[str, str] | None = None, cwd: str | None = None) -> int:
    """Hardware instruction count of ``command`` on this host (user+kernel, not exact)."""
    if not perf_available():
        raise LooplabError(
            "perf hardware counters are not available on this host (perf stat says not supported)"
        )
    fixed = dict(FIXED_ENV, PATH=os.environ.get("PATH", DEFAULT_PATH), **(env or {}))
    target = shlex.split(command) if is_simple_command(command) else ["/bin/sh", "-c", command]
    p = subprocess.run(
        ["perf", "stat", "-x,", "-e", "instructions", "--", *target],
        capture_output=True,
        text=True,
        env=fixed,
        cwd=cwd,
    )
    if p.returncode != 0:
        raise LooplabError(f"perf stat of {command!r} exited {p.returncode}: {p.stderr.strip()[-300:]}")
    count = _parse_perf(p.stderr)
    if count is None:
        raise LooplabError(f"perf stat of {command!r}: no instruction count in its output")
    return count


# ---- the callgrind files of a jailed run: written by the processes they count ------------------
IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE = 0x2, 0x4, 0x8
IN_MOVED_FROM, IN_MOVED_TO, IN_DELETE = 0x40, 0x80, 0x200
IN_DELETE_SELF, IN_MOVE_SELF, IN_Q_OVERFLOW = 0x400, 0x800, 0x4000
_WATCHED = (
    IN_MODIFY
    | IN_ATTRIB
    | IN_CLOSE_WRITE
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_DELETE
    | IN_DELETE_SELF
    | IN_MOVE_SELF
)


class CountFolderWatch:
    """Watches (inotify, from the host) the folder a jailed run's callgrind files go to.

    Callgrind writes each process's file as that process exits, with the process's
    own uid: a process of the same run could rewrite a sibling's file afterwards
    (a child does the work, the parent sets its totals to 1). Callgrind opens its
    file at start-up (empty) and writes it once, at exit; so a file written again
    after a write was closed (through a new open or a held descriptor: inotify
    merges only identical consecutive events, never a write after a close), any
    rename, removal, link or attribute change in the folder, or lost events, is
    tampering (``tampering()`` says what); a file with more than one link is too
    (``counted_files``). Start it before the run; ask before reading the files.
    """

    def __init__(self, folder: Path | str):
        import ctypes

        self._libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise LooplabError(f"inotify_init1 failed: {os.strerror(ctypes.get_errno())}")
        if self._libc.inotify_add_watch(self.fd, str(folder).encode(), _WATCHED) < 0:
            err = os.strerror(ctypes.get_errno())
            os.close(self.fd)
            raise LooplabError(f"inotify_add_watch({folder}) failed: {err}")

    def _events(self) -> list[tuple[int, str]]:
        import struct

        out: list[tuple[int, str]] = []
        while True:
            try:
                buf = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return out
            i = 0
            while i + 16 <= len(buf):
                _wd, mask, _cookie, n = struct.unpack_from("iIII", buf, i)
                name = buf[i + 16 : i + 16 + n].split(b"\0", 1)[0].decode("utf-8", "replace")
                out.append((mask, name))
                i += 16 + n

    def tampering(self) -> str | None:
        """Why the folder's files cannot be trusted, or None; closes the watch."""
        if self.fd < 0:
            return None
        try:
            writing: dict[str, bool] = {}  # name -> a write is open now
            written: set[str] = set()  # names whose one write was closed
            for mask, name in self._events():
                if mask & IN_Q_OVERFLOW:
                    return "too many file events in the count folder"
                if mask & (IN_DELETE_SELF | IN_MOVE_SELF):
                    return "the count folder was moved or removed"
                if not name:
                    continue
                if mask & (IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE | IN_ATTRIB):
                    return f"{name} in the count folder was renamed, removed, linked or changed"
                if mask & IN_MODIFY:
                    if name in written:
                        return f"{name} in the count folder was written again after callgrind wrote it"
                    writing[name] = True
                if mask & IN_CLOSE_WRITE and writing.pop(name, False):
                    written.add(name)
            return None
        finally:
            os.close(self.fd)
            self.fd = -1


def counted_files(folder: Path | str) -> str:
    """The ``cmd:``/``totals:``/``summary:`` lines of a count folder's ``cg.PID`` files (as ``grep -H``).

    Only regular files with one link are read (never following a symlink); any
    other entry is tampering (``LooplabError``).
    """
    lines: list[str] = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        st = entry.stat(follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1 or not re.fullmatch(r"cg\.\d+", entry.name):
            raise LooplabError(f"{entry.name} in the count folder is not a callgrind file of one process")
        fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, errors="replace") as fh:
            keep = [ln for ln in fh if ln.startswith(("cmd:", "totals:", "summary:"))]
        if not any(ln.startswith(("totals:", "summary:")) for ln in keep):
            raise LooplabError(f"{entry.name} in the count folder has no totals (cut short or emptied)")
        lines += [f"{folder}/{entry.name}:{ln.rstrip()}" for ln in keep]
    return "\n".join(lines)
