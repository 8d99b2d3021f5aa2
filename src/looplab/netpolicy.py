"""A task's network policy per phase, enforced through the host-side egress proxy.

Harbor's fields: ``network_mode`` (``public`` | ``no-network`` | ``allowlist``) and
``allowed_hosts`` in ``[environment]`` set the baseline, the same keys in ``[agent]`` and
``[verifier]`` override it for that phase, and the older ``allow_internet`` (true: public,
false: no-network) stands for an unset baseline mode. A task that declares nothing gets
Harbor's default, ``public``, unless it has a ``[looplab]`` section (looplab's own tasks
default to no network). ``looplab run --network deny`` takes every network away, recorded
as an override.

Whatever the mode, a sandbox keeps its own network namespace with nothing but loopback:
a network is an ``EgressProxy`` on the host (a Unix socket bound into the sandbox, a relay
on ``127.0.0.1:EGRESS_PORT`` inside, ``HTTP(S)_PROXY`` pointing at it) that lets through
every destination (public) or only ``allowed_hosts`` (allowlist; none: nothing), and
logs each one to the phase's ``network.jsonl``.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from looplab.environment.build import runtime_dir
from looplab.errors import LooplabError
from looplab.fsutil import remove_tree
from looplab.sandbox.base import Sandbox, SandboxSpec
from looplab.sandbox.egress import EgressProxy, proxy_env
from looplab.sandbox.forward import start_relay
from looplab.tasks.model import TaskConfig

EGRESS_DIR = "/run/looplab-egress"
EGRESS_PORT = 18090
NETWORK_OVERRIDES = ("task", "deny")
Phase = Literal["agent", "verifier"]


@dataclass
class NetworkPolicy:
    mode: str  # public | no-network | allowlist
    allowed_hosts: list[str] = field(default_factory=list)
    source: str = "task"  # task | default | override (--network deny)

    @property
    def enabled(self) -> bool:
        return self.mode != "no-network"

    def describe(self) -> str:
        if self.source == "override":
            return "no network (looplab run --network deny)"
        if self.mode == "allowlist":
            return f"allowlist ({', '.join(self.allowed_hosts) or 'no host'})"
        return self.mode + (" (the default)" if self.source == "default" else "")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def resolve_network(config: TaskConfig, phase: Phase, override: str = "task") -> NetworkPolicy:
    """The network ``phase`` gets: ``[agent]``/``[verifier]`` over ``[environment]``, as in Harbor."""
    if override not in NETWORK_OVERRIDES:
        raise ValueError(f"--network must be one of {', '.join(NETWORK_OVERRIDES)}, got {override!r}")
    if override == "deny":
        return NetworkPolicy("no-network", source="override")
    env = config.environment
    sec = config.agent if phase == "agent" else config.verifier
    mode = sec.network_mode or env.network_mode
    if mode is None and env.allow_internet is not None:
        mode = "public" if env.allow_internet else "no-network"
    hosts = sec.allowed_hosts if sec.allowed_hosts is not None else env.allowed_hosts
    if mode is None:
        mode = "no-network" if "looplab" in config.model_fields_set else "public"
        return NetworkPolicy(mode, source="default")
    return NetworkPolicy(mode, list(hosts or []) if mode == "allowlist" else [])


class Egress:
    """One sandbox's way out: the proxy enforcing ``policy``, logging to ``log_path``.

    Use as a context manager around the sandbox's life: ``prepare(spec)`` before it starts
    (binds the socket, sets the proxy variables), ``start_in(sandbox)`` once it runs.
    """

    def __init__(self, policy: NetworkPolicy, log_path: Path):
        self.policy, self.log_path = policy, Path(log_path)
        self.proxy: EgressProxy | None = None
        self.dir: Path | None = None
        self.relay_error: str | None = None
        self._first = 0  # the first of the proxy's events that ``record`` counts

    def __enter__(self) -> Egress:
        if self.policy.enabled:
            self.dir = runtime_dir() / "sandboxes" / f"net-{uuid.uuid4().hex[:10]}"
            self.dir.mkdir(parents=True)
            os.chmod(self.dir, 0o755)
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self.proxy = EgressProxy(
                self.policy.allowed_hosts,
                self.dir / "egress.sock",
                self.log_path,
                allow_any=self.policy.mode == "public",
            ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proxy is not None:
            self.proxy.stop()
        if self.dir is not None:
            remove_tree(self.dir)

    def prepare(self, spec: SandboxSpec) -> None:
        spec.network = False  # never the host's network namespace: only the proxy leads out
        if self.dir is not None:
            spec.ro_binds.append((self.dir, EGRESS_DIR))
            spec.env.update(proxy_env(EGRESS_PORT))

    def begin(self, log_path: Path) -> None:
        """A new phase through the same proxy (the next step of a kept sandbox): its requests are
        logged to ``log_path`` and ``record`` counts only them."""
        self.log_path = Path(log_path)
        if self.proxy is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self.proxy.log_path = self.log_path
            self._first = len(self.proxy.events)

    def start_in(self, sandbox: Sandbox) -> None:
        """Start the relay inside; where it cannot run (no python3 in an image), the sandbox
        stays without a network and the record says why."""
        if self.proxy is not None:
            if not sandbox.exec(["/bin/sh", "-c", "command -v python3"], timeout=30).ok:
                self.relay_error = "no python3 in the sandbox to run the relay: no network"
                return
            try:
                start_relay(sandbox, EGRESS_PORT, f"{EGRESS_DIR}/egress.sock")
            except LooplabError as exc:
                self.relay_error = str(exc)

    def record(self) -> dict[str, Any]:
        """The policy and every destination asked for (``host:port`` → allowed, count)."""
        seen: Counter[tuple[str, bool]] = Counter()
        for ev in self.proxy.events[self._first :] if self.proxy is not None else []:
            seen[(f"{ev.get('host')}:{ev.get('port')}", bool(ev.get("allowed")))] += 1
        return {
            **self.policy.to_json(),
            **({"relay_error": self.relay_error} if self.relay_error else {}),
            "destinations": [
                {"destination": d, "allowed": a, "requests": n} for (d, a), n in sorted(seen.items())
            ],
        }
