"""A real local Ray cluster for tests and benches: a head and workers started with ``ray start``.

Token authentication is on (``RAY_AUTH_MODE=token`` with a fresh ``RAY_AUTH_TOKEN``), every
node listens on 127.0.0.1, and a worker can run in a private mount namespace
(``unshare -m``) with empty tmpfs folders over ``hide``, so it cannot see the driver's
files. Each node is its own process group; ``stop`` kills the groups and then every
process whose command line names this cluster's temp folder, so nothing outlives it.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

# ``ray start`` under this interpreter, so Ray's workers import this checkout's looplab
RAY = [sys.executable, "-c", "import sys; from ray.scripts.scripts import main; sys.argv[0] = 'ray'; main()"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalCluster:
    """``lean``: no log monitor and no metrics collection on any node (for benches, where every
    simulated node's background services share this machine's cores with the trials)."""

    def __init__(self, lean: bool = False) -> None:
        self.lean = lean
        self.temp = Path(tempfile.mkdtemp(prefix="rl-", dir="/tmp"))  # short: Ray's socket paths
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": uuid.uuid4().hex,
            "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_health_check_period_ms": "500",
            "RAY_health_check_timeout_ms": "1000",
            "RAY_health_check_failure_threshold": "3",
            **({"RAY_enable_metrics_collection": "false"} if lean else {}),
        }
        self.nodes: dict[str, subprocess.Popen] = {}

    def _common(self) -> list[str]:
        return [
            "--node-ip-address=127.0.0.1",
            f"--dashboard-agent-listen-port={free_port()}",
            "--disable-usage-stats",
            *(["--include-log-monitor=false"] if self.lean else []),
            "--block",
        ]

    def start_head(self, num_cpus: int = 0) -> None:
        cmd = [
            *RAY,
            "start",
            "--head",
            f"--port={self.port}",
            f"--num-cpus={num_cpus}",
            "--num-gpus=0",
            "--include-dashboard=false",
            f"--temp-dir={self.temp}",
            *self._common(),
        ]
        self._spawn("head", cmd, self.env)
        self.wait_nodes(1)

    def start_worker(
        self, name: str, num_cpus: int = 1, hide: list[Path] = (), env: dict | None = None
    ) -> None:
        ray = [
            *RAY,
            "start",
            f"--address={self.address}",
            f"--num-cpus={num_cpus}",
            "--num-gpus=0",
            *self._common(),
        ]
        mounts = "".join(f"mount -t tmpfs -o mode=0755 tmpfs {shlex.quote(str(p))} && " for p in hide)
        cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c", mounts + "exec " + shlex.join(ray)]
        before = self.alive_count()
        self._spawn(name, cmd, {**self.env, **(env or {})})
        self.wait_nodes(before + 1)

    def _spawn(self, name: str, cmd: list[str], env: dict) -> None:
        log = open(self.temp / f"{name}.log", "wb")  # noqa: SIM115 - kept open for the node's life
        self.nodes[name] = subprocess.Popen(
            cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def alive_count(self) -> int:
        out = subprocess.run(
            [sys.executable, "-c", _COUNT, self.address],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return int(out.stdout.strip() or 0) if out.returncode == 0 else 0

    def wait_nodes(self, n: int, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.alive_count() >= n:
                return
            time.sleep(0.5)
        logs = {p.name: p.read_text(errors="replace")[-1500:] for p in self.temp.glob("*.log")}
        raise RuntimeError(f"Ray cluster did not reach {n} alive nodes: {logs}")

    def kill(self, name: str) -> None:
        """SIGKILL a node's whole process group (raylet, object store, its workers)."""
        proc = self.nodes.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def stop(self) -> None:
        for name in list(self.nodes):
            self.kill(name)
        tag = str(self.temp).encode()
        for pid in os.listdir("/proc"):  # anything that left its group but still names our temp folder
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            try:
                if tag in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.kill(int(pid), signal.SIGKILL)
            except OSError:
                continue

    def leftover_pids(self) -> list[int]:
        tag = str(self.temp).encode()
        out = []
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    if tag in Path(f"/proc/{pid}/cmdline").read_bytes():
                        out.append(int(pid))
                except OSError:
                    pass
        return out


_COUNT = """
import sys, ray
ray.init(address=sys.argv[1], _node_ip_address="127.0.0.1", configure_logging=False, log_to_driver=False)
print(sum(1 for n in ray.nodes() if n["Alive"]))
"""


_DRIVER = """
import json, sys, time
from pathlib import Path
from looplab.job.runner import JobSpec, run_job
from looplab.tasks.loader import load_task
args = json.loads(sys.argv[1])
args_executor = args.pop("executor")
events = open(args.pop("events"), "a", buffering=1)
spec = JobSpec(**args)
def on_event(kind, info):
    events.write(json.dumps({"kind": kind, **{k: v for k, v in info.items() if k in ("slot", "trial", "try")}}) + "\\n")
t0 = time.monotonic()
summary = run_job(spec, [load_task(p) for p in spec.task_paths], on_event=on_event, executor=args_executor)
summary["driver_wall_s"] = time.monotonic() - t0
print(json.dumps(summary, default=str))
"""


def run_driver(
    cluster: LocalCluster | None, spec: dict, events: Path, timeout: float = 300, env: dict | None = None
) -> dict:
    """Run a job from a separate driver process: on ``cluster`` (token auth set before Ray is imported),
    or with the local pool when ``cluster`` is None. ``driver_wall_s`` in the summary times ``run_job``."""
    import json

    if cluster is None:
        env = {**os.environ, **(env or {})}
        args = json.dumps({**spec, "executor": "local", "events": str(events)}, default=str)
    else:
        env = {**cluster.env, "LOOPLAB_RAY_NODE_IP": "127.0.0.1", **(env or {})}
        args = json.dumps(
            {**spec, "executor": "ray", "ray_address": cluster.address, "events": str(events)}, default=str
        )
    out = subprocess.run(
        [sys.executable, "-c", _DRIVER, args], env=env, capture_output=True, text=True, timeout=timeout
    )
    if out.returncode != 0:
        raise RuntimeError(f"driver failed ({out.returncode}): {out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])
