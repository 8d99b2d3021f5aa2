"""A task's ``environment/docker-compose.yaml`` (or ``.yml``, ``compose.yaml``/``.yml``), read and checked.

Harbor merges the task's compose file over its own base one, where service ``main`` is the
task's environment (``environment/Dockerfile``, or ``docker_image``): the agent and the
verifier run there, and every other service is a sidecar it reaches by name. looplab reads
the same file and runs each service in a sandbox of its own, all in one private network
namespace (``looplab.harbor.services``).

Supported service keys: ``image``, ``build`` (a context folder under ``environment/``, or
``{context, dockerfile}``), ``environment`` (a list of ``K=V`` or a table), ``command`` and
``entrypoint`` (a string or a list; without them the image's own ENTRYPOINT/CMD, resolved by
``harbor.services``), ``working_dir``, ``depends_on`` (a list, or a table of
``condition: service_started | service_healthy | service_completed_successfully``),
``healthcheck`` (Docker's ``test``/``interval``/``timeout``/``retries``/``start_period``/
``start_interval``/``disable``), ``expose`` and ``volumes`` (``SRC:DST[:ro]`` or the long form;
a named volume declared in the top-level ``volumes``, an anonymous one, or a path under
``environment/``). ``main`` takes only ``depends_on``, ``environment``, ``healthcheck`` and
``volumes`` (plus ``image: ${MAIN_IMAGE_NAME}`` or ``build: .``, which
name the task's environment). Values are interpolated as Compose does: ``${VAR}``,
``${VAR:-default}`` from the host, ``$$`` for ``$``; Harbor's ``${CONTEXT_DIR}`` is the
environment folder. Any other key is refused in one line
naming it, and ``looplab tasks lint`` reports each. Two services exposing the same port are
refused: they share one loopback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from looplab.errors import LooplabError
from looplab.harbor.compose_model import ComposeBuild, ComposeFile, ComposeService

COMPOSE_FILES = ("docker-compose.yaml", "docker-compose.yml", "compose.yaml", "compose.yml")
MAIN = "main"
MAIN_IMAGE = "${MAIN_IMAGE_NAME}"
TOP_KEYS = {"services", "version", "name", "volumes"}
SERVICE_KEYS = {
    "image",
    "build",
    "environment",
    "command",
    "entrypoint",
    "working_dir",
    "depends_on",
    "healthcheck",
    "expose",
    "volumes",
    "ports",
    "restart",
    "tmpfs",
}
MAIN_KEYS = {"image", "build", "environment", "depends_on", "healthcheck", "volumes", "tmpfs"}
# Compose's interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:+alt}, ${VAR:?error}, $VAR
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
_WHY = {
    "network_mode": "services share the trial's private network namespace",
    "networks": "services share the trial's private network namespace",
    "privileged": "sandboxes never get privileges",
    "cap_add": "sandboxes never get capabilities",
}


@dataclass
class Compose:
    """A checked compose file: its services and the order they start in (dependencies first)."""

    path: Path
    doc: ComposeFile
    order: list[str] = field(default_factory=list)  # every service but main

    @property
    def main(self) -> ComposeService:
        return self.doc.services.get(MAIN) or ComposeService()

    def sidecars(self) -> dict[str, ComposeService]:
        return {n: self.doc.services[n] for n in self.order}


def compose_file(env_dir: Path) -> Path | None:
    """The compose file of a task's ``environment/`` folder, if it has one."""
    return next((env_dir / n for n in COMPOSE_FILES if (env_dir / n).is_file()), None)


def _interpolate(value: Any, host: dict[str, str], where: str, problems: list[str]) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, host, f"{where}.{k}", problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, host, f"{where}[{i}]", problems) for i, v in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value
    if value == MAIN_IMAGE:
        return value

    def rep(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(4)
        op, arg, val = m.group(2), m.group(3) or "", host.get(name)
        is_set = val is not None and (val != "" or not (op or "").startswith(":"))
        if op in (":-", "-"):
            return val if is_set else arg  # type: ignore[return-value]
        if op in (":+", "+"):
            return arg if is_set else ""
        if not is_set and (op in (":?", "?") or val is None):
            why = f" ({arg})" if arg else " and has no default (${VAR:-default})"
            problems.append(f"{where}: ${{{name}}} is not set on the host{why}")
        return val or ""

    return _VAR.sub(rep, value.replace("$$", "\0")).replace("\0", "$")


def problems(path: Path, host: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """Every problem of the compose file at ``path`` as (field, message); empty: it is usable."""
    try:
        _check(path, host)
    except _Problems as exc:
        return exc.items
    return []


class _Problems(Exception):
    def __init__(self, items: list[tuple[str, str]]):
        self.items = items


def load_compose(path: Path, env_dir: Path, host: dict[str, str] | None = None) -> Compose:
    """The checked compose file at ``path``; a ``LooplabError`` naming the file and the first bad field."""
    try:
        return _check(path, host, env_dir)
    except _Problems as exc:
        where, msg = exc.items[0]
        raise LooplabError(f"{path}: {where}: {msg}") from None


def _check(path: Path, host: dict[str, str] | None, env_dir: Path | None = None) -> Compose:  # noqa: C901
    import os

    env_dir = env_dir or path.parent
    try:
        raw = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise _Problems([("-", f"not valid YAML: {str(exc).splitlines()[0]}")]) from None
    if not isinstance(raw, dict):
        raise _Problems([("-", "not a compose file (a mapping with services)")])
    out: list[tuple[str, str]] = []
    for k in raw:
        if k not in TOP_KEYS:
            why = "top-level networks, configs and secrets are not supported"
            out.append((str(k), f"not supported ({why})"))
    services = raw.get("services")
    if isinstance(services, dict):
        for name, svc in services.items():
            if not _NAME.match(str(name)):
                out.append((f"services.{name}", "not a valid service name"))
            if not isinstance(svc, dict):
                continue
            allowed = MAIN_KEYS if name == MAIN else SERVICE_KEYS
            for k in svc:
                if k not in allowed:
                    why = _WHY.get(k) or (
                        "the main service is the task's environment: the agent and the verifier run there"
                        if name == MAIN and k in SERVICE_KEYS
                        else f"supported keys: {', '.join(sorted(allowed))}"
                    )
                    out.append((f"services.{name}.{k}", f"not supported ({why})"))
    if out:
        raise _Problems(out)
    text_problems: list[str] = []
    values = dict(os.environ if host is None else host)
    values["CONTEXT_DIR"] = str(env_dir.resolve())  # Harbor's variable: the environment folder
    raw = _interpolate(raw, values, "", text_problems)
    if text_problems:
        raise _Problems([(p.split(":")[0].lstrip("."), p.split(": ", 1)[1]) for p in text_problems])
    try:
        doc = ComposeFile.model_validate(raw)
    except ValidationError as exc:
        raise _Problems(_value_problems(exc)) from None
    for name, svc in doc.services.items():
        where = f"services.{name}"
        if name == MAIN:
            if svc.image not in (None, MAIN_IMAGE):
                out.append(
                    (f"{where}.image", f"the main service is the task's environment: only {MAIN_IMAGE}")
                )
            b = svc.build
            ctx = b if isinstance(b, str) else b.context if b else "."
            if b is not None and (
                (env_dir / ctx).resolve() != env_dir.resolve()
                or (not isinstance(b, str) and b.dockerfile != "Dockerfile")
            ):
                out.append((f"{where}.build", "the main service is built from environment/Dockerfile only"))
        else:
            if (svc.image is None) == (svc.build is None):
                out.append((where, "needs exactly one of image or build"))
            if svc.build is not None:
                b = svc.build if isinstance(svc.build, ComposeBuild) else ComposeBuild(context=svc.build)
                ctx_dir = (env_dir / b.context).resolve()
                if not ctx_dir.is_relative_to(env_dir.resolve()):
                    out.append((f"{where}.build.context", f"{b.context!r} is outside environment/"))
                elif not (ctx_dir / b.dockerfile).is_file():
                    out.append((f"{where}.build", f"no {b.dockerfile} in {ctx_dir}"))
        for i, m in enumerate(svc.mounts()):
            at = f"{where}.volumes[{i}]"
            if m.type == "volume" and m.source is not None and m.source not in doc.volumes:
                out.append((at, f"volume {m.source!r} is not declared in the top-level volumes"))
            elif m.type == "bind":
                src = (env_dir / (m.source or "")).resolve()
                if not (m.source or "").startswith((".", "/")) or not src.is_relative_to(env_dir.resolve()):
                    out.append(
                        (at, f"{m.source!r}: only paths under environment/ are mounted, not the host's")
                    )
                elif not src.exists():
                    out.append((at, f"{m.source!r}: no such file under environment/"))
        for dep in svc.dependencies():
            if dep not in doc.services or dep == MAIN:
                out.append((f"{where}.depends_on", f"{dep!r} is not a sidecar service of this file"))
            elif dep == name:
                out.append((f"{where}.depends_on", "a service cannot depend on itself"))
    seen: dict[int, str] = {}
    for name, svc in doc.services.items():
        try:
            ports, exposed = svc.listening_ports(), set(svc.exposed_ports())
        except ValueError:
            out.append((f"services.{name}.expose", "ports are numbers or ranges (8000, 8000-8010/tcp)"))
            continue
        for p in ports:
            if p in seen:
                out.append(
                    (
                        f"services.{name}.{'expose' if p in exposed else 'ports'}",
                        f"port {p} is also exposed by {seen[p]!r}: the services share one loopback, "
                        "two cannot listen on the same port",
                    )
                )
            seen.setdefault(p, name)
    if out:
        raise _Problems(out)
    order = _order(doc)
    if isinstance(order, tuple):
        raise _Problems([order])
    return Compose(path=path, doc=doc, order=order)


def _order(doc: ComposeFile) -> list[str] | tuple[str, str]:
    """The sidecars, each after what it depends on; a cycle is a problem."""
    done: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str, chain: list[str]) -> str | None:
        if state.get(name) == 2:
            return None
        if state.get(name) == 1:
            return " -> ".join([*chain, name])
        state[name] = 1
        for dep in doc.services[name].dependencies():
            cycle = visit(dep, [*chain, name])
            if cycle:
                return cycle
        state[name] = 2
        if name != MAIN:
            done.append(name)
        return None

    for name in doc.services:
        cycle = visit(name, [])
        if cycle:
            return (f"services.{name}.depends_on", f"a dependency cycle: {cycle}")
    return done


_TYPE_TAG = re.compile(r"^(str|int|float|bool|list\[.*\]|dict\[.*\]|Compose\w+|DependsOn|literal\[.*\])$")


def _value_problems(exc: ValidationError) -> list[tuple[str, str]]:
    """One problem per field: a value that fits no form of a union is named by its deepest error."""
    best: dict[str, tuple[int, str, str]] = {}
    for err in exc.errors():
        raw = [str(x) for x in err.get("loc", ())]
        loc = [x for x in raw if not _TYPE_TAG.match(x) and not x.startswith("function-")]
        field = ".".join(loc) or "(top level)"
        top = ".".join(loc[:3])  # services.<name>.<key>
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if err.get("type") == "extra_forbidden":
            msg = "unknown key"
        if top not in best or len(raw) > best[top][0]:
            best[top] = (len(raw), field, msg)
    return [(f, m) for _, f, m in best.values()]
