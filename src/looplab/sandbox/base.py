"""The sandbox protocol every backend implements, and the spec that configures one.

A sandbox is a running, isolated place to execute commands: ``start`` it, ``exec``
commands in it (each with its own timeout, environment and working folder), move
files in and out with ``put``/``get``, and ``stop`` it, which kills every process
it holds. Sandboxes are made by ``looplab.sandbox.factory.make_sandbox``; the agent
phase, the verifier and the lab's evaluator then talk only to this protocol (the
environment builder alone drives bubblewrap directly, for its build steps).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from looplab.sandbox.gpu import GpuDevice

DEFAULT_OUTPUT_LIMIT = 1 << 20  # bytes kept of each of stdout and stderr
DEFAULT_MAX_FILE_MB = 16384  # largest file an agent or verifier may write where the task sets no storage_mb


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


@runtime_checkable
class Sandbox(Protocol):
    """A running isolated environment."""

    spec: SandboxSpec

    def start(self) -> None: ...

    def exec(
        self,
        command: str | list[str],
        timeout: float | None = None,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        stdin: str | None = None,
    ) -> ExecResult: ...

    def put(self, host_path: Path, sandbox_path: str) -> None: ...

    def get(self, sandbox_path: str, host_path: Path) -> None: ...

    def stop(self) -> None: ...

    def kill_processes(self) -> int:
        """Kill every process still running in the sandbox (it stays up); return how many there were."""
        ...

    def host_path(self, sandbox_path: str) -> Path | None:
        """The host folder behind a writable sandbox path, if it has one."""
        ...

    def usage(self) -> dict[str, float]:
        """Resource use so far: cpu_s (from the cgroup where one exists), max_rss_mb."""
        ...
