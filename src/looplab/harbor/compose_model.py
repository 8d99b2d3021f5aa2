"""The compose file's models: a service's keys and their values as looplab reads them (``harbor.compose``
checks a file against them and loads it).

``ports`` entries (``[IP:][HOST:]CONTAINER[/PROTO]``, ranges, or the long form) give the ports the
service listens on inside the trial's network; what they would publish on the host is kept, not
opened. ``restart`` is ``no``, ``always``, ``unless-stopped`` or ``on-failure[:N]``. ``tmpfs`` is a
path or a list of ``PATH[:size=…,mode=…]``.
"""

from __future__ import annotations

import re
import shlex
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

_RESTART = re.compile(r"^(no|always|unless-stopped|on-failure(?::(\d+))?)$")
_PORT = re.compile(r"^(?:(?:\[?[0-9a-fA-F.:]*\]?):)??(?:(\d+(?:-\d+)?):)?(\d+(?:-\d+)?)(?:/(tcp|udp|sctp))?$")
TMPFS_OPTIONS = {"size", "mode", "rw", "nosuid", "nodev"}  # a sandbox's tmpfs is always nosuid, nodev


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ComposeBuild(_Strict):
    context: str = "."
    dockerfile: str = "Dockerfile"


class ComposeHealthcheck(_Strict):
    test: str | list[str] | None = None
    interval: str | float = "30s"
    timeout: str | float = "30s"
    retries: int = Field(default=3, ge=1)
    start_period: str | float = "0s"
    start_interval: str | float = "5s"
    disable: bool = False

    def command(self) -> str | None:
        """The check as one shell command (``CMD``, ``CMD-SHELL``, a string); None: no check."""
        t = self.test
        if self.disable or t is None or t == ["NONE"]:
            return None
        if isinstance(t, str):
            return t
        if t and t[0] == "CMD-SHELL":
            return " ".join(t[1:])
        if t and t[0] == "CMD":
            return shlex.join(t[1:])
        raise ValueError("test: a list starts with CMD, CMD-SHELL or NONE")

    def fields(self) -> dict[str, Any] | None:
        """The check as task.toml's ``healthcheck`` fields (seconds); None: no check."""
        cmd = self.command()
        if cmd is None:
            return None
        return {
            "command": cmd,
            "interval_sec": duration_s(self.interval),
            "timeout_sec": max(duration_s(self.timeout), 0.001),
            "start_period_sec": duration_s(self.start_period),
            "start_interval_sec": duration_s(self.start_interval),
            "retries": self.retries,
        }


class DependsOn(_Strict):
    condition: Literal["service_started", "service_healthy", "service_completed_successfully"] = (
        "service_started"
    )
    required: bool = True
    restart: bool = False


class ComposeMount(_Strict):
    """A ``volumes`` entry in Compose's long form (the short ``SRC:DST[:ro]`` is read into one)."""

    type: Literal["bind", "volume"] = "volume"
    source: str | None = None
    target: str
    read_only: bool = False

    @field_validator("target")
    @classmethod
    def _target(cls, v: str) -> str:
        if not v.startswith("/") or ".." in v.split("/"):
            raise ValueError(f"target {v!r}: an absolute path without '..'")
        return v.rstrip("/") or "/"


def _mount(v: str | ComposeMount) -> ComposeMount:
    if isinstance(v, ComposeMount):
        return v
    parts = v.split(":")
    if len(parts) == 1:
        return ComposeMount(target=parts[0])
    if len(parts) > 3:
        raise ValueError(f"{v!r}: expected SOURCE:TARGET[:MODE]")
    mode = parts[2].split(",") if len(parts) == 3 else []
    kind = "bind" if parts[0].startswith((".", "/", "~")) else "volume"
    return ComposeMount(type=kind, source=parts[0], target=parts[1], read_only="ro" in mode)


class ComposePort(_Strict):
    """A ``ports`` entry in Compose's long form (the short ``[IP:][HOST:]CONTAINER[/PROTO]`` is read
    into one): the container's port is the service's; the published one is recorded, not opened."""

    target: int
    published: str | int | None = None
    host_ip: str | None = None
    protocol: Literal["tcp", "udp", "sctp"] = "tcp"
    mode: str | None = None
    name: str | None = None
    app_protocol: str | None = None


def _ports(v: str | int | ComposePort) -> list[ComposePort]:
    if isinstance(v, ComposePort):
        return [v]
    m = _PORT.match(str(v).strip())
    if m is None:
        raise ValueError(f"{v!r}: expected [IP:][HOST:]CONTAINER[/PROTOCOL] (e.g. 8080:80, 9000-9001/udp)")
    host, container, proto = m.group(1), m.group(2), m.group(3) or "tcp"
    lo, _, hi = container.partition("-")
    targets = list(range(int(lo), int(hi or lo) + 1))
    hosts: list[str | None] = [None] * len(targets)
    if host:
        hlo, _, hhi = host.partition("-")
        span = list(range(int(hlo), int(hhi or hlo) + 1))
        hosts = [str(p) for p in span] if len(span) == len(targets) else [host] * len(targets)
    return [ComposePort(target=t, published=h, protocol=proto) for t, h in zip(targets, hosts, strict=True)]


def _tmpfs(v: str) -> tuple[str, int | None, int | None]:
    """``PATH[:size=64m,mode=1777]`` as (path, size in bytes, mode)."""
    path, _, opts = v.partition(":")
    if not path.startswith("/") or ".." in path.split("/"):
        raise ValueError(f"{v!r}: an absolute path without '..'")
    size = mode = None
    for opt in filter(None, opts.split(",")):
        key, _, val = opt.partition("=")
        if key not in TMPFS_OPTIONS:
            raise ValueError(f"{v!r}: option {key!r} is not supported ({', '.join(sorted(TMPFS_OPTIONS))})")
        if key == "size":
            m = re.match(r"^(\d+)([kmg]?)b?$", val.lower())
            if m is None:
                raise ValueError(f"{v!r}: size {val!r} (e.g. 65536k, 64m, 1g)")
            size = int(m.group(1)) << {"": 0, "k": 10, "m": 20, "g": 30}[m.group(2)]
        elif key == "mode":
            if not re.match(r"^[0-7]{3,4}$", val):
                raise ValueError(f"{v!r}: mode {val!r} is not an octal mode (e.g. 1777)")
            mode = int(val, 8)
    return path.rstrip("/") or "/", size, mode


class ComposeVolume(_Strict):
    """A top-level ``volumes`` entry: a named volume, made empty for each trial."""

    name: str | None = None


class ComposeService(_Strict):
    image: str | None = None
    build: str | ComposeBuild | None = None
    environment: dict[str, str | int | float | bool | None] | list[str] = Field(default_factory=dict)
    command: str | list[str] | None = None
    entrypoint: str | list[str] | None = None
    working_dir: str | None = None
    depends_on: list[str] | dict[str, DependsOn] = Field(default_factory=list)
    healthcheck: ComposeHealthcheck | None = None
    expose: list[str | int] = Field(default_factory=list)
    volumes: list[str | ComposeMount] = Field(default_factory=list)
    ports: list[str | int | ComposePort] = Field(default_factory=list)
    restart: str = "no"
    tmpfs: str | list[str] = Field(default_factory=list)

    @field_validator("ports")
    @classmethod
    def _check_ports(cls, v: list[str | int | ComposePort]) -> list[str | int | ComposePort]:
        for p in v:
            _ports(p)
        return v

    @field_validator("restart")
    @classmethod
    def _check_restart(cls, v: str) -> str:
        if not _RESTART.match(v):
            raise ValueError(f"{v!r}: one of no, always, unless-stopped, on-failure[:N]")
        return v

    @field_validator("tmpfs")
    @classmethod
    def _check_tmpfs(cls, v: str | list[str]) -> str | list[str]:
        for t in [v] if isinstance(v, str) else v:
            _tmpfs(t)
        return v

    def port_mappings(self) -> list[ComposePort]:
        return [m for p in self.ports for m in _ports(p)]

    def restart_policy(self) -> tuple[str, int | None]:
        """The policy's name and, for ``on-failure:N``, its most restarts (None: no limit)."""
        m = _RESTART.match(self.restart)
        assert m is not None
        return m.group(1).split(":")[0], int(m.group(2)) if m.group(2) else None

    def tmpfs_mounts(self) -> list[tuple[str, int | None, int | None]]:
        return [_tmpfs(t) for t in ([self.tmpfs] if isinstance(self.tmpfs, str) else self.tmpfs)]

    @field_validator("volumes")
    @classmethod
    def _volumes(cls, v: list[str | ComposeMount]) -> list[str | ComposeMount]:
        return [_mount(x) for x in v]

    def mounts(self) -> list[ComposeMount]:
        return [_mount(x) for x in self.volumes]

    @field_validator("healthcheck")
    @classmethod
    def _test(cls, v: ComposeHealthcheck | None) -> ComposeHealthcheck | None:
        if v is not None:
            v.command()
            for k in ("interval", "timeout", "start_period", "start_interval"):
                duration_s(getattr(v, k))
        return v

    def env(self) -> dict[str, str]:
        if isinstance(self.environment, list):
            out = {}
            for item in self.environment:
                k, sep, v = item.partition("=")
                if sep:  # a bare NAME (the host's value) is not passed: nothing of the host leaks
                    out[k] = v
            return out
        return {k: _scalar(v) for k, v in self.environment.items() if v is not None}

    def dependencies(self) -> dict[str, DependsOn]:
        if isinstance(self.depends_on, list):
            return {name: DependsOn() for name in self.depends_on}
        return dict(self.depends_on)

    def argv(self) -> list[str] | None:
        """``entrypoint`` + ``command`` as one argv (a string is split into words, as Compose does)."""
        parts: list[str] = []
        for v in (self.entrypoint, self.command):
            parts += shlex.split(v) if isinstance(v, str) else list(v or [])
        return parts or None

    def exposed_ports(self) -> list[int]:
        out = []
        for p in self.expose:
            text = str(p).split("/")[0]
            lo, _, hi = text.partition("-")
            out += list(range(int(lo), int(hi or lo) + 1))
        return out

    def listening_ports(self) -> list[int]:
        """The ports the service listens on: ``expose``'s and the container side of ``ports``."""
        out = self.exposed_ports()
        return out + [m.target for m in self.port_mappings() if m.target not in out]


class ComposeFile(_Strict):
    services: dict[str, ComposeService] = Field(min_length=1)
    volumes: dict[str, ComposeVolume | None] = Field(default_factory=dict)
    version: str | None = None
    name: str | None = None


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def duration_s(v: str | float) -> float:
    """A Compose duration (``1m30s``, ``500ms``, ``10s``, a number of seconds) in seconds."""
    if isinstance(v, int | float):
        return float(v)
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", v.strip())
    if not parts or "".join(a + b for a, b in parts) != v.strip():
        raise ValueError(f"bad duration {v!r} (e.g. 10s, 1m30s, 500ms)")
    unit = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    return sum(float(a) * unit[b] for a, b in parts)
