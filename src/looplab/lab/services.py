"""Optional host services: a command started on the host and its port forwarded into the sandboxes.

Some pipelines need something that cannot run in a sandbox (a device, an emulator,
a licensed tool). ``[backend.host_service]`` names a command and a port: the lab
starts the command (in the lab folder, its own process group), waits until the
port accepts connections, and serves it through a Unix socket that is bound into
the agent's and/or the evaluation's sandbox, where a relay listens on the same
port at 127.0.0.1 (see ``looplab.sandbox.forward``). The service is stopped, with
its whole process group, when the run ends.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from looplab.errors import LooplabError
from looplab.lab.config import HostService, Lab
from looplab.sandbox.base import Sandbox
from looplab.sandbox.forward import SOCKET_DIR_IN_SANDBOX, UnixForwarder, start_relay


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


class ServiceHandle:
    """A running host service and its forwarder; ``attach`` wires it into a started sandbox."""

    def __init__(self, cfg: HostService, lab_dir: Path, socket_dir: Path, log_path: Path):
        self.cfg = cfg
        self.lab_dir = lab_dir
        self.socket_dir = socket_dir
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.forwarder = UnixForwarder(socket_dir / f"port-{cfg.port}.sock", cfg.port)

    @property
    def socket_in_sandbox(self) -> str:
        return f"{SOCKET_DIR_IN_SANDBOX}/port-{self.cfg.port}.sock"

    @property
    def pid_file(self) -> Path:
        return self.log_path.with_suffix(".pid")

    def _stop_stale(self) -> None:
        """Stop the service a killed run left behind (recognized by its pid file and command line)."""
        try:
            pid = int(self.pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return
        if cmdline[:3] == [b"/bin/sh", b"-c", self.cfg.command.encode()]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            deadline = time.monotonic() + 5
            while port_open(self.cfg.port) and time.monotonic() < deadline:
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)

    def start(self) -> None:
        self._stop_stale()
        if port_open(self.cfg.port):
            raise LooplabError(
                f"[backend.host_service] port {self.cfg.port} is already in use on this host; "
                "stop what holds it"
            )
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            ["/bin/sh", "-c", self.cfg.command],
            cwd=self.lab_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        self.pid_file.write_text(f"{self.proc.pid}\n")
        deadline = time.monotonic() + self.cfg.ready_timeout_sec
        while not port_open(self.cfg.port):
            if self.proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-300:]
                raise LooplabError(
                    f"[backend.host_service] command exited {self.proc.returncode} before port "
                    f"{self.cfg.port} opened: {tail.strip()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise LooplabError(
                    f"[backend.host_service] port {self.cfg.port} not open "
                    f"after {self.cfg.ready_timeout_sec:g} s"
                )
            time.sleep(0.1)
        self.forwarder.start()

    def ro_bind(self) -> tuple[Path, str]:
        return (self.socket_dir, SOCKET_DIR_IN_SANDBOX)

    def attach(self, sandbox: Sandbox) -> None:
        start_relay(sandbox, self.cfg.port, self.socket_in_sandbox)

    def stop(self) -> None:
        self.forwarder.stop()
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.pid_file.unlink(missing_ok=True)


def start_host_service(lab: Lab, socket_dir: Path) -> ServiceHandle | None:
    """Start the lab's ``[backend.host_service]`` (None when it has none), forwarded via ``socket_dir``."""
    cfg = lab.config.backend.host_service
    if cfg is None:
        return None
    service = ServiceHandle(cfg, lab.dir, socket_dir, lab.state_dir / "host-service.log")
    service.start()
    return service
