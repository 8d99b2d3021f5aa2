"""Where measured commands run: as host subprocesses, or inside a ``Sandbox``.

Both runners take a shell command line and return a ``looplab.sandbox.ExecResult``
whose ``duration_s`` is the command's wall time, measured as tightly around the
process as the runner allows (the subprocess runner sends output to temporary files
instead of pipes, so no reader competes with the timed process). Paired timing and
instruction counting are written against the ``CommandRunner`` protocol, so the
same code measures on the host, in a test script inside a sandbox, or from the
verifier through ``sandbox.exec``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from typing import Protocol

from looplab.sandbox.base import DEFAULT_OUTPUT_LIMIT, ExecResult, Sandbox


class CommandRunner(Protocol):
    """Runs one shell command line and reports what it did and how long it took."""

    def run(self, command: str, timeout: float | None = None) -> ExecResult: ...


def _read_limited(fh: tempfile._TemporaryFileWrapper, limit: int) -> tuple[str, bool]:
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    fh.seek(max(0, size - limit))
    return fh.read().decode("utf-8", "replace"), size > limit


class SubprocessRunner:
    """Runs commands with ``/bin/bash -c`` as children of this process."""

    def __init__(
        self,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        inherit_env: bool = True,
        output_limit: int = DEFAULT_OUTPUT_LIMIT,
    ):
        self.cwd = cwd
        self.env = dict(os.environ) if inherit_env else {}
        self.env.update(env or {})
        self.output_limit = output_limit

    def run(self, command: str, timeout: float | None = None) -> ExecResult:
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            t0 = time.perf_counter()
            proc = subprocess.Popen(
                ["/bin/bash", "-c", command],
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
            timed_out = False
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            duration = time.perf_counter() - t0
            stdout, t1 = _read_limited(out, self.output_limit)
            stderr, t2 = _read_limited(err, self.output_limit)
        return ExecResult(
            exit_code=proc.returncode,
            stdout=stdout,
            stderr=stderr,
            timed_out=timed_out,
            duration_s=duration,
            truncated=t1 or t2,
        )


class SandboxRunner:
    """Runs commands through ``sandbox.exec``; the time is the sandbox's own measure."""

    def __init__(self, sandbox: Sandbox, cwd: str | None = None, env: dict[str, str] | None = None):
        self.sandbox = sandbox
        self.cwd = cwd
        self.env = dict(env or {})

    def run(self, command: str, timeout: float | None = None) -> ExecResult:
        return self.sandbox.exec(command, timeout=timeout, env=self.env, cwd=self.cwd)
