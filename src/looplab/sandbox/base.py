"""The sandbox every backend implements, and the spec that configures one.

A sandbox is a running, isolated place to execute commands: ``start`` it, ``exec``
commands in it (each with its own timeout, environment and working folder), move
files in and out with ``put``/``get``, and ``stop`` it, which kills every process
it holds. ``Sandbox`` is the base class every backend (``looplab.sandbox.bwrap``)
implements; what is the same for every backend (a command's argv and environment,
host paths behind writable sandbox paths, ``put``/``get``) is written in it once.
Sandboxes are made by ``looplab.sandbox.factory.make_sandbox``: the agent phase, the
verifier, the lab's evaluator and the environment builders talk only to this class.
"""

from __future__ import annotations

import os
import posixpath
import shutil
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from looplab.errors import LooplabError
from looplab.fsutil import chown_tree
from looplab.sandbox.gpu import GpuDevice, visible_env

DEFAULT_OUTPUT_LIMIT = 1 << 20  # bytes kept of each of stdout and stderr
DEFAULT_MAX_FILE_MB = 16384  # largest file an agent or verifier may write where the task sets no storage_mb
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SANDBOX_UID = int(os.environ.get("LOOPLAB_SANDBOX_UID", "65534"))
SANDBOX_GID = int(os.environ.get("LOOPLAB_SANDBOX_GID", "65534"))


@dataclass
class ExecResult:
    """What one command did: exit code (-signal when killed), captured output, timing."""

    exit_code: int
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False
    duration_s: float = 0.0
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


@dataclass
class SandboxSpec:
    """How to build one sandbox.

    ``root`` is the host folder seen as ``/``: read-only except the paths in
    ``writable`` (sandbox paths whose host folders are ``root/<path>`` unless given
    in ``binds``). With ``root_writable`` the whole root is writable (build steps,
    and the verifier's private copy). Host system folders (/usr, /etc, ...) are
    always bound read-only on top.
    """

    root: Path
    writable: list[str] = field(default_factory=list)
    root_writable: bool = False
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/app"
    network: bool = False
    cpus: list[int] | None = None  # cores this sandbox is pinned to
    cpu_quota: float | None = None  # CPU-seconds per second, e.g. 1.5
    memory_mb: int | None = None
    pids_max: int | None = 4096
    max_file_mb: int | None = None  # largest file a sandboxed process may write (RLIMIT_FSIZE)
    ro_binds: list[tuple[Path, str]] = field(default_factory=list)  # (host path, sandbox path)
    binds: list[tuple[Path, str]] = field(default_factory=list)  # writable (host path, sandbox path)
    output_limit: int = DEFAULT_OUTPUT_LIMIT
    name: str = "sandbox"
    userns_root: bool = False  # build steps: root of a user namespace mapping a whole host uid range
    gpus: list[GpuDevice] = field(default_factory=list)  # GPUs passed through (looplab.sandbox.gpu)
    # the uid/gid processes see (an image's USER): only the sandbox's own unprivileged host uid is mapped
    run_as: tuple[int, int] | None = None
    # a network namespace file to join instead of a fresh one (a compose environment's, sandbox.netns)
    netns: str | None = None
    # more tmpfs mounts (a compose service's ``tmpfs``): (sandbox path, size in bytes or None, mode or None)
    tmpfs: list[tuple[str, int | None, int | None]] = field(default_factory=list)


@dataclass
class ExecRequest:
    """One command as a backend runs it: the argv, its whole environment, where, and its limits."""

    argv: list[str]
    env: dict[str, str]
    cwd: str
    timeout: float | None = None
    stdin: str | None = None
    user: tuple[int, int] | None = None  # (uid, gid) inside a ``userns_root`` build sandbox


class Sandbox(ABC):
    """A running isolated environment; a backend implements the abstract methods.

    What does not depend on the backend is written here once: how a command's argv and
    environment are made (``exec``), and how sandbox paths map to host folders for
    ``put``/``get`` (writable paths and binds live on the host).
    """

    spec: SandboxSpec
    uid: int  # the host uid/gid its processes run as (``sandbox_uid``)
    gid: int

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def stop(self) -> None:
        """Kill every process it holds and release it; stopping twice is a no-op."""

    @abstractmethod
    def kill_processes(self) -> int:
        """Kill every process still running in the sandbox (it stays up); return how many there were."""

    @abstractmethod
    def kill_commands(self) -> int:
        """Kill the process group of every command still running (what they started in the
        background with a session of its own stays); return how many there were."""

    @abstractmethod
    def usage(self) -> dict[str, float]:
        """Resource use so far: cpu_s (from the cgroup where one exists), max_rss_mb."""

    @abstractmethod
    def run_request(self, req: ExecRequest) -> ExecResult:
        """Run one command in the started sandbox."""

    def exec(
        self,
        command: str | list[str],
        timeout: float | None = None,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        stdin: str | None = None,
        user: tuple[int, int] | None = None,
    ) -> ExecResult:
        """Run ``command`` (a string goes to ``bash -c``); ``user`` (uid, gid) applies in a build sandbox."""
        argv = ["/bin/bash", "-c", command] if isinstance(command, str) else list(command)
        full_env = {"PATH": DEFAULT_PATH, "HOME": "/tmp", "LANG": "C.UTF-8", "TERM": "dumb"}
        full_env.update(visible_env(self.spec.gpus))
        full_env.update(self.spec.env)
        full_env.update(env or {})
        return self.run_request(
            ExecRequest(argv, full_env, cwd or self.spec.workdir or "/", timeout, stdin, user)
        )

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- files -----------------------------------------------------------------------------
    def host_path(self, sandbox_path: str) -> Path | None:
        """The host folder behind a writable sandbox path, if it has one."""
        p = posixpath.normpath("/" + sandbox_path.lstrip("/"))
        best: tuple[int, Path] | None = None
        for host, dest in self.spec.binds:
            d = posixpath.normpath(dest)
            inside = p == d or p.startswith(d.rstrip("/") + "/")
            if inside and (best is None or len(d) > best[0]):
                best = (len(d), safe_host_path(Path(host), p[len(d) :]))
        if best:
            return best[1]
        writable = self.spec.root_writable or any(
            p == posixpath.normpath("/" + w.lstrip("/"))
            or p.startswith(posixpath.normpath("/" + w.lstrip("/")) + "/")
            for w in self.spec.writable
        )
        return safe_host_path(Path(self.spec.root), p) if writable else None

    def put(self, host_path: Path, sandbox_path: str) -> None:
        """Copy a host file or folder to a writable sandbox path (owned by the sandbox uid)."""
        target = self.host_path(sandbox_path)
        if target is None:
            raise LooplabError(f"cannot put into read-only sandbox path {sandbox_path}")
        host_path = Path(host_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if host_path.is_dir():
            shutil.copytree(host_path, target, symlinks=True, dirs_exist_ok=True)
        else:
            shutil.copy2(host_path, target, follow_symlinks=False)
        if os.geteuid() == 0:
            chown_tree(target, self.uid, self.gid)

    def get(self, sandbox_path: str, host_path: Path) -> None:
        """Copy a sandbox file or folder (writable, or in the root) to the host."""
        src = self.host_path(sandbox_path)
        if src is None:
            src = safe_host_path(Path(self.spec.root), posixpath.normpath("/" + sandbox_path.lstrip("/")))
        host_path = Path(host_path)
        host_path.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir() and not src.is_symlink():
            shutil.copytree(src, host_path, symlinks=True, dirs_exist_ok=True)
        elif src.is_file() or src.is_symlink():
            shutil.copy2(src, host_path, follow_symlinks=False)
        else:
            raise LooplabError(f"no such file in sandbox: {sandbox_path}")


def sandbox_uid() -> tuple[int, int]:
    """The uid/gid sandboxed processes run as: unprivileged when looplab runs as root."""
    if os.geteuid() == 0:
        return SANDBOX_UID, SANDBOX_GID
    return os.geteuid(), os.getegid()


def safe_host_path(base: Path, rel: str) -> Path:
    """Join ``rel`` onto ``base`` refusing any symlink on the way (no escapes to the host)."""
    cur = base
    for part in [p for p in rel.split("/") if p and p != "."]:
        if part == "..":
            raise LooplabError(f"sandbox path may not contain '..': {rel}")
        cur = cur / part
        if cur.is_symlink():
            raise LooplabError(f"sandbox path goes through a symlink: {rel}")
    return cur
