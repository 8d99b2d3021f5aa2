"""A private network namespace shared by several sandboxes (a compose environment's services).

``NetNamespace.start()`` starts a holder process in a new network namespace: it brings
``lo`` up, lets unprivileged processes bind every port (``ip_unprivileged_port_start = 0``,
a per-namespace setting: service sandboxes run as an unprivileged uid, yet a service listens
on port 80 as in its container) and then waits on its stdin, so it dies with looplab even
when looplab is killed. The namespace holds nothing but loopback: no route leads out of it.
A sandbox joins it through ``SandboxSpec.netns`` (``nsenter --net`` before bubblewrap, see
``sandbox.bwrap``). Making a network namespace needs root (``CAP_SYS_ADMIN``); without it
``start`` fails in one line.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess

from looplab.errors import LooplabError

_HOLDER = (
    "ip link set lo up || exit 90; "
    "echo 0 > /proc/sys/net/ipv4/ip_unprivileged_port_start || exit 91; "
    "echo ready; exec cat >/dev/null"
)
_CONNECT = (
    "import socket,sys\n"
    "try:\n socket.create_connection((sys.argv[1], int(sys.argv[2])), 2).close()\n"
    "except OSError as e:\n print(e); sys.exit(1)\n"
)


class NetNamespace:
    """One private network namespace (loopback only), alive as long as its holder process."""

    def __init__(self, name: str = "net"):
        self.name = name
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def path(self) -> str:
        """The namespace's file (``nsenter --net=PATH``)."""
        if self._proc is None or self._proc.poll() is not None:
            raise LooplabError(f"network namespace {self.name!r} is not running")
        return f"/proc/{self._proc.pid}/ns/net"

    def start(self) -> NetNamespace:
        if os.geteuid() != 0:
            raise LooplabError(
                "compose environments need looplab to run as root: a private network namespace shared "
                "by the services cannot be made otherwise"
            )
        for tool in ("unshare", "nsenter", "ip"):
            if not shutil.which(tool):
                raise LooplabError(f"compose environments need {tool} (util-linux, iproute2) on the host")
        self._proc = subprocess.Popen(
            ["unshare", "--net", "--", "/bin/sh", "-c", _HOLDER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env={"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")},
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().decode(errors="replace").strip()
        if line != "ready":
            err = self._proc.stderr.read().decode(errors="replace").strip() if self._proc.stderr else ""
            self.stop()
            raise LooplabError(f"could not make a private network namespace: {err or 'holder exited'}")
        return self

    def can_connect(self, host: str, port: int) -> tuple[bool, str]:
        """Whether a TCP connection to ``host:port`` opens inside the namespace (host's Python, as root)."""
        py = shutil.which("python3") or "/usr/bin/python3"
        r = subprocess.run(
            ["nsenter", f"--net={self.path}", "--", py, "-I", "-S", "-c", _CONNECT, host, str(port)],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return r.returncode == 0, (r.stdout + r.stderr).strip()

    def stop(self) -> None:
        """Kill the holder; the namespace goes when its last process (a sandbox's) has gone."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError):
            if proc.stdin:
                proc.stdin.close()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, 9)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            with contextlib.suppress(OSError):
                if stream:
                    stream.close()
