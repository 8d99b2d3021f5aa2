"""One-shot jails: one command in a fresh bubblewrap namespace, every process gone when it ends.

The candidate runner (``looplab.verify.runner``) starts one jail per build, check
and timed run. A jail is launched straight from the host (no exec server, no
shell in between), as the unprivileged sandbox uid:

- the root is a host folder bound read-only entry by entry, the host's system
  folders read-only on top, the entries named in ``hide`` (``tests``, ``logs``,
  ``solution`` by default) not there at all; only the ``rw`` binds are writable;
- ``/tmp`` and ``/dev/shm`` are fresh, empty tmpfs mounts (``HOME=/tmp``), so
  nothing one run leaves there reaches the next; ``/dev`` holds only ``null``,
  ``zero``, ``full``, ``random``, ``urandom`` and the ``fd``/``stdin``/``stdout``/
  ``stderr`` links (no terminal, no ptys) and is read-only;
- every namespace is new (no network, own PID namespace whose pid 1 is the
  command itself: when it exits the kernel kills whatever it left, and bwrap
  reaps it, so no process of the jail is left to the host's init);
- a fresh cgroup per run (where the host allows) pins the cores, caps memory
  and processes and counts the CPU time of every process the jail held; it is
  emptied and removed before ``run_jail`` returns; rlimits bound file size and
  CPU time (and address space where there is no cgroup); a CPU-second budget
  (``cpu_budget_s``) stops the jail once all its processes together have used
  that much CPU time (the cgroup's count, polled; per process RLIMIT_CPU where
  there is no cgroup);
- stdout and stderr go to in-memory files (no reader thread competes with the
  timed process, nothing touches the disk), and the wall time is the harness's
  clock around the process.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from looplab.procutil import exec_fields, kill_group, run_until
from looplab.sandbox.base import DEFAULT_OUTPUT_LIMIT, DEFAULT_PATH, ExecResult, sandbox_uid
from looplab.sandbox.bwrap import HOST_SYSTEM_ENTRIES, SANDBOX_MANAGED, bwrap_path, root_entry_binds
from looplab.sandbox.cgroups import Cgroup

HIDDEN_BY_DEFAULT = ("tests", "logs", "solution")
# the launcher's and bwrap's own environment (the jail's is set with --setenv): no locale to load, none
# of the harness's variables
LAUNCHER_ENV = {"PATH": DEFAULT_PATH}
DEV_NODES = ("null", "zero", "full", "random", "urandom")
DEV_LINKS = (
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
)


@dataclass
class JailSpec:
    """Where one jailed command runs and what bounds it."""

    root: Path  # host folder seen as / (read-only)
    hide: tuple[str, ...] = HIDDEN_BY_DEFAULT  # root entries left out entirely
    ro: list[tuple[Path, str]] = field(default_factory=list)  # extra read-only binds (host, jail path)
    rw: list[tuple[Path, str]] = field(default_factory=list)  # writable binds (host, jail path)
    devices: list[tuple[Path, str]] = field(default_factory=list)  # device nodes bound into /dev (a GPU's)
    env: dict[str, str] = field(default_factory=dict)
    cwd: str = "/"
    cpus: list[int] | None = None
    memory_mb: int | None = 2048
    pids_max: int = 256
    fsize_mb: int = 1024
    tmp_mb: int = 512  # size of each of /tmp and /dev/shm
    timeout_s: float | None = None  # wall clock; also bounds CPU time (RLIMIT_CPU)
    cpu_budget_s: float | None = None  # CPU seconds of every process of the jail together, then it is stopped
    output_limit: int = DEFAULT_OUTPUT_LIMIT
    # a cgroup the caller owns and reuses run after run (``JailCgroup``): a fresh memory cgroup per
    # run costs the kernel tens of ms; an emptied one, its counters read as deltas, is as clean
    cgroup: JailCgroup | None = None


class JailCgroup:
    """A cgroup reused by consecutive jails: emptied before and after each run, read as deltas."""

    def __init__(self, name: str, cpus: list[int] | None, memory_mb: int | None, pids_max: int):
        self.cg = Cgroup.create(
            f"{name}-{uuid.uuid4().hex[:10]}", cpus=cpus, memory_mb=memory_mb, pids_max=pids_max
        )

    def reset_peak(self) -> None:
        if self.cg is not None and self.cg.version == 1 and "memory" in self.cg.dirs:
            with contextlib.suppress(OSError):
                (self.cg.dirs["memory"] / "memory.max_usage_in_bytes").write_text("0")

    def close(self) -> None:
        if self.cg is not None:
            self.cg.remove()
            self.cg = None


@dataclass
class JailResult(ExecResult):
    """What the jailed command did; ``cpu_s`` covers every process of the jail."""

    cpu_s: float | None = None
    max_rss_mb: float | None = None
    memory_limit_hit: bool = False
    leftover_processes: int = 0
    cpu_source: str = ""  # "cgroup" or "rusage"
    cpu_limited: bool = False  # stopped because it used its CPU-second budget (``cpu_budget_s``)


def jail_argv(spec: JailSpec, argv: list[str]) -> list[str]:
    """The bwrap command line of one jail (no privilege drop: see ``run_jail``)."""
    root = Path(spec.root)
    out = [
        bwrap_path(),
        "--unshare-all",
        "--as-pid-1",
        "--die-with-parent",
        "--new-session",
        "--hostname",
        "jail",
    ]
    out += root_entry_binds(root, {*SANDBOX_MANAGED, *spec.hide})
    out += _host_system_binds()
    # /dev: the five harmless nodes and the fd links, no tmpfs, no tty, no devpts (bwrap's --dev mounts
    # eight things per jail); read-only like the rest of the root
    out += ["--proc", "/proc", "--dir", "/dev"]
    for node in DEV_NODES:
        out += ["--dev-bind", f"/dev/{node}", f"/dev/{node}"]
    for link, target in DEV_LINKS:
        out += ["--symlink", target, f"/dev/{link}"]
    for host, dest in spec.devices:
        out += ["--dev-bind", str(host), dest]
    for tmp in ("/tmp", "/dev/shm"):
        out += ["--size", str(int(spec.tmp_mb) << 20), "--tmpfs", tmp]
    for host, dest in spec.ro:
        out += ["--ro-bind", str(host), dest]
    for host, dest in spec.rw:
        out += ["--bind", str(host), dest]
    out += ["--remount-ro", "/", "--chdir", spec.cwd, "--clearenv"]
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "TMPDIR": "/tmp"}
    env.update(spec.env)
    for k, v in sorted(env.items()):
        out += ["--setenv", k, v]
    return [*out, "--", *argv]


def _memfile(name: str) -> BinaryIO:
    """An anonymous in-memory file (no disk, no reader thread), or a temporary file where memfd is missing."""
    try:
        return os.fdopen(os.memfd_create(f"jail-{name}", os.MFD_CLOEXEC), "w+b")
    except (AttributeError, OSError):
        return tempfile.TemporaryFile()  # noqa: SIM115 - closed by the caller's with


@functools.cache
def _host_system_binds() -> list[str]:
    """The host's system folders read-only (symlinks as such), looked up once per process."""
    out: list[str] = []
    for entry in HOST_SYSTEM_ENTRIES:
        host = Path("/") / entry
        if host.is_symlink():
            out += ["--symlink", os.readlink(host), f"/{entry}"]
        elif host.is_dir():
            out += ["--ro-bind", str(host), f"/{entry}"]
    return out


@functools.cache
def _tool(name: str) -> str:
    """``name``'s absolute path on the harness's PATH, looked up once (the launcher gets no PATH search)."""
    return shutil.which(name) or name


def _launcher(
    join_files: list[str], spec: JailSpec, uid: int, gid: int, has_cgroup: bool, cpu_counted: bool
) -> list[str]:
    """The argv prefix that joins the cgroup, sets rlimits and drops to the sandbox uid, then execs.

    A small ``/bin/sh`` script and ``setpriv``: cheaper than a Python ``preexec_fn``
    (which forces a full fork of the harness process) and done before bwrap starts,
    so nothing in the jail runs outside its cgroup or its limits.
    """
    limits = [f"-f {int(spec.fsize_mb) << 10}", "-c 0"]
    cpu_limits = [int(spec.timeout_s) + 1] if spec.timeout_s else []
    if spec.cpu_budget_s and not cpu_counted:  # no jail-wide count: each process is bounded alone
        cpu_limits.append(max(1, int(spec.cpu_budget_s)))
    if cpu_limits:
        limits.append(f"-t {min(cpu_limits)}")
    if not has_cgroup and spec.memory_mb:
        limits.append(f"-v {int(spec.memory_mb) << 11}")
    script = "".join(f'echo 0 > "${i + 1}" || exit 97; ' for i in range(len(join_files)))
    script += "".join(f"ulimit {lim} || exit 97; " for lim in limits)
    if join_files:
        script += f"shift {len(join_files)}; "
    if not has_cgroup and spec.cpus:
        script += f'exec {_tool("taskset")} -c "$0" "$@"'
    else:
        script += 'exec "$@"'
    cpus = ",".join(map(str, spec.cpus or [])) or "jail"
    prefix = ["/bin/sh", "-c", script, cpus, *join_files]
    if os.geteuid() == 0:
        prefix += [
            _tool("setpriv"),
            f"--reuid={uid}",
            f"--regid={gid}",
            "--clear-groups",
            "--inh-caps=-all",
            "--no-new-privs",
            "--",
        ]
    return prefix


def run_jail(argv: list[str], spec: JailSpec, stdin: bytes | None = None) -> JailResult:
    """Run ``argv`` in a fresh jail; return when it and every process it started are gone."""
    uid, gid = sandbox_uid()
    for host, _ in spec.rw:
        if os.geteuid() == 0:
            os.chown(host, uid, gid)
    owned = spec.cgroup is None
    if owned:
        cg = Cgroup.create(
            f"jail-{uuid.uuid4().hex[:12]}", cpus=spec.cpus, memory_mb=spec.memory_mb, pids_max=spec.pids_max
        )
    else:
        cg = spec.cgroup.cg
        _kill(0, cg)  # nothing of an earlier run may be there (there never is: it was emptied)
        spec.cgroup.reset_peak()
    counted = cg.cpu_seconds() if cg is not None else None
    cpu0 = counted or 0.0
    oom0 = _failcnt(cg)
    full = jail_argv(spec, argv)
    try:
        with _memfile("out") as out, _memfile("err") as err, _memfile("in") as inp:
            if stdin:
                inp.write(stdin)
                inp.seek(0)
            files = [str(f) for f in cg.join_files()] if cg else []
            full = _launcher(files, spec, uid, gid, cg is not None, counted is not None) + full
            budget = _CpuBudget(cg if counted is not None else None, cpu0, spec.cpu_budget_s)

            def start() -> subprocess.Popen[bytes]:
                proc = subprocess.Popen(
                    full, stdin=inp, stdout=out, stderr=err, start_new_session=True, env=LAUNCHER_ENV
                )
                budget.watch(lambda: _kill(proc.pid, cg))
                return proc

            try:
                done = run_until(start, spec.timeout_s, lambda pid: _kill(pid, cg))
            finally:
                budget.stop()
            leftover = 0 if cg is None or cg.charged() == 0 else len(cg.pids())
            _kill(0, cg)  # the launcher is reaped: its pid may be another process's by now
            fields = exec_fields(done, out, err, spec.output_limit)
        if cg is not None:
            after = cg.cpu_seconds()
            cpu, source = (after - cpu0 if after is not None else None), "cgroup"
            rss, oom = cg.max_rss_mb(), _failcnt(cg) > oom0
        else:
            cpu, source = done.cpu_s, "rusage"
            rss, oom = done.usage.ru_maxrss / 1024, False
        # without a cgroup RLIMIT_CPU stops a process at the budget: SIGXCPU, or SIGKILL past the soft limit
        limited = budget.fired or (
            counted is None
            and spec.cpu_budget_s is not None
            and done.exit_code in (-signal.SIGXCPU, -signal.SIGKILL)
            and (cpu or 0.0) >= int(spec.cpu_budget_s) - 0.5
        )
        return JailResult(
            **fields,
            cpu_s=cpu,
            max_rss_mb=rss,
            memory_limit_hit=oom,
            leftover_processes=leftover,
            cpu_source=source,
            cpu_limited=limited and not done.timed_out,
        )
    finally:
        if cg is not None and owned:
            cg.remove()


class _CpuBudget:
    """Stops a jail once its cgroup has used ``budget`` CPU seconds since ``cpu0`` (polled from a thread)."""

    POLL_S = 0.02

    def __init__(self, cg: Cgroup | None, cpu0: float, budget: float | None):
        self.cg, self.cpu0, self.budget = cg, cpu0, budget
        self.fired = False
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def watch(self, kill: Callable[[], None]) -> None:
        if self.cg is None or self.budget is None:
            return

        def poll() -> None:
            assert self.cg is not None and self.budget is not None
            while not self._done.wait(self.POLL_S):
                used = self.cg.cpu_seconds()
                if used is not None and used - self.cpu0 >= self.budget:
                    self.fired = True
                    kill()
                    return

        self._thread = threading.Thread(target=poll, name="jail-cpu-budget", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()


def _failcnt(cg: Cgroup | None) -> int:
    """How often the cgroup hit its memory limit so far (v1 failcnt, v2 oom_kill events)."""
    if cg is None:
        return 0
    try:
        if cg.version == 1 and "memory" in cg.dirs:
            return int((cg.dirs["memory"] / "memory.failcnt").read_text())
        if cg.version == 2:
            for line in (cg.dirs["unified"] / "memory.events").read_text().splitlines():
                k, v = line.split()
                if k == "oom_kill":
                    return int(v)
    except (OSError, ValueError):
        return 0
    return 0


def _kill(pid: int, cg: Cgroup | None) -> None:
    """SIGKILL what runs in the jail, then the launcher (``pid``; 0 when it is already reaped).

    The jail's processes go first so that bwrap, still waiting on its child, reaps it:
    killed first, bwrap would leave its child to the host's init, whose late reaping
    keeps a pid charged to the cgroup (a reused cgroup then runs out of pids); so while the
    launcher lives it is killed only once the cgroup's pids count shows nothing else. Right
    after the jail's pid 1 exits its processes are often still being torn down;
    polling at a millisecond keeps a one-shot jail cheap.
    """
    if cg is not None:
        delay, deadline = 0.0005, time.monotonic() + 5
        while time.monotonic() < deadline:
            charged = cg.charged()
            if charged == 0:  # nothing live and no zombie: every process joined all hierarchies
                break
            pids = [p for p in cg.pids() if p != pid]
            # a killed process is gone from cgroup.procs before its parent reaps it: while the launcher
            # lives, wait until it alone is charged (bwrap has reaped the jail's pid 1)
            if not pids and (pid <= 0 or (charged or 0) <= 1):
                break
            for p in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(p, signal.SIGKILL)
            time.sleep(delay)
            delay = min(delay * 2, 0.02)
        else:
            cg.kill_all()
    if pid > 0:
        kill_group(pid)
