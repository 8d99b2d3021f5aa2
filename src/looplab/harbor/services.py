"""A trial's services: a compose environment's sidecars and the task's MCP servers that looplab starts.

One private network namespace is made for the trial (``sandbox.netns``: loopback only, no
route out). Every sidecar runs in a bubblewrap sandbox of its own on its own image (built
or pulled as the task's environment is, in image mode), inside that namespace; the agent's
sandbox and the verifier's join it too (``join``). Each service name gets its own loopback
address (``127.0.0.2`` is ``main``, the sidecars follow), written into every sandbox's
``/etc/hosts``, so ``http://api:8000`` reaches the sidecar ``api``, and nothing outside the
trial is reachable: another trial's services live in another namespace. ``volumes`` are
folders made for the trial (named ones shared by the services that mount them, main's in the
agent's and the verifier's sandboxes too; a task file is a copy, read-only with ``:ro``).

Sidecars start in dependency order; a ``depends_on`` condition is waited for before the
dependent starts (``service_healthy``: its compose healthcheck passes, with Docker's
semantics, ``harbor.healthcheck``; ``service_completed_successfully``: it exited 0), and
main's conditions before the agent (``wait_for_main``). An ``sse``/``streamable-http`` MCP
server with a ``command`` is started the same way, on the task's environment, under its
name, and is ready when its URL's port accepts connections. ``stop`` kills every service
(a cancellation request does too: each sandbox is tracked by ``looplab.cancel``) and gives
the records: address, state (``exited`` with its exit code, or ``stopped`` while running),
healthcheck, and ``services/<name>/output.log`` in the trial folder.
"""

from __future__ import annotations

import os
import shlex
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from looplab import cancel
from looplab.clock import now_iso
from looplab.environment.build import Environment, scratch_dir
from looplab.errors import LooplabError
from looplab.fsutil import chown_tree, read_regular_under, remove_tree
from looplab.harbor.artifacts import Collector
from looplab.harbor.compose import MAIN, Compose, compose_file, load_compose
from looplab.harbor.compose_model import ComposeService
from looplab.harbor.healthcheck import wait_healthy
from looplab.harbor.service_images import build_of, build_sidecar, sidecar_command
from looplab.sandbox.base import (
    DEFAULT_MAX_FILE_MB,
    ExecResult,
    Sandbox,
    SandboxSpec,
    safe_host_path,
    sandbox_uid,
)
from looplab.sandbox.bwrap import HOST_SYSTEM_ENTRIES
from looplab.sandbox.factory import is_image_root, make_sandbox
from looplab.sandbox.netns import NetNamespace
from looplab.tasks.loader import Task
from looplab.tasks.model import Artifact, Healthcheck, McpServer

LOG_DIR_IN_SANDBOX = "/.looplab-service"
MAX_LOG = 8 << 20
MCP_READY_TIMEOUT_S = 60.0
RESTART_DELAY_S, RESTART_MAX_DELAY_S = 0.1, 10.0  # Docker's: doubled after each quick exit
RESTART_RESET_S = 10.0  # a run this long starts the delay again from RESTART_DELAY_S


def started_mcp_servers(task: Task) -> list[McpServer]:
    """The task's URL MCP servers that looplab starts itself: those with a ``command``."""
    return [m for m in task.config.environment.mcp_servers if m.transport != "stdio" and m.command]


def needs_services(task: Task) -> bool:
    return compose_file(task.environment_dir) is not None or bool(started_mcp_servers(task))


@dataclass
class _Service:
    name: str
    kind: str  # compose | mcp
    address: str
    argv: list[str]
    env: Environment | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    workdir: str | None = None
    source: str = ""  # image, build context, or the MCP server's command
    box: Sandbox | None = None
    thread: threading.Thread | None = None
    result: ExecResult | None = None
    record: dict[str, Any] = field(default_factory=dict)
    logs: Path | None = None
    shell: bool = True  # run through /bin/sh (its output in a log file, its exit code written down)


class TrialServices:
    """The services of one trial, in their private network namespace (a context manager)."""

    def __init__(self, task: Task, main_env: Environment, out_dir: Path, cores: list[int] | None = None):
        self.task, self.main_env, self.out_dir, self.cores = task, main_env, Path(out_dir), cores
        path = compose_file(task.environment_dir)
        self.compose: Compose | None = load_compose(path, task.environment_dir) if path else None
        self.ns = NetNamespace(task.name)
        self.box_dir: Path | None = None
        self.hosts: Path | None = None
        self.services: dict[str, _Service] = {}
        self.addresses: dict[str, str] = {MAIN: "127.0.0.2"}
        self._health: dict[str, dict[str, Any]] = {}
        self._shared: dict[str, Path] = {}  # named volumes and writable bind copies, by source
        self._stopped = False
        self._stopping = threading.Event()  # set first by ``stop``: no service is restarted after it

    # ---- set-up ----------------------------------------------------------------------------
    def __enter__(self) -> TrialServices:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.box_dir = scratch_dir("services")
        plan: list[_Service] = []
        if self.compose is not None:
            for name, svc in self.compose.sidecars().items():
                plan.append(self._compose_service(name, svc))
        for m in started_mcp_servers(self.task):
            if m.name in self.addresses or any(s.name == m.name for s in plan):
                raise LooplabError(f"[environment] mcp_servers: {m.name!r} is also a compose service")
            plan.append(
                _Service(
                    m.name,
                    "mcp",
                    "",
                    [str(m.command), *m.args],
                    env=self.main_env,
                    source=shlex.join([str(m.command), *m.args]),
                )
            )
        for i, s in enumerate(plan):
            s.address = f"127.0.0.{i + 3}"
            self.addresses[s.name] = s.address
            self.services[s.name] = s
        self.hosts = self.box_dir / "hosts"
        lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
        lines += [f"{addr}\t{name}" for name, addr in self.addresses.items()]
        self.hosts.write_text("\n".join(lines) + "\n")
        os.chmod(self.hosts, 0o644)
        self.ns.start()
        cancel.track(self.ns, "other")
        if self.compose is not None:
            for name in self.compose.doc.volumes:  # each trial's named volumes start empty
                self._shared[f"volume:{name}"] = self.box_dir / "volumes" / name
                self._shared[f"volume:{name}"].mkdir(parents=True)
        _hosts_mountpoint(self.main_env.root)
        for s in plan:
            if s.env is None:
                s.env = build_sidecar(self.task, self.compose, s.name) if self.compose else None
            _hosts_mountpoint(s.env.root)
        for s in plan:
            self._wait_dependencies(s.name)
            cancel.check()
            self._start(s)
        for s in plan:
            if s.kind == "mcp":
                self._wait_mcp(s)
        self.wait_for_main()

    def _compose_service(self, name: str, svc: ComposeService) -> _Service:
        argv = svc.argv()
        if svc.entrypoint is None:  # the image's ENTRYPOINT (and its CMD unless command is given)
            ep, cmd = sidecar_command(self.task, svc)
            argv = [*(ep or []), *(svc.argv() or cmd or [])]
        if not argv:
            raise LooplabError(
                f"{self.compose.path if self.compose else ''}: services.{name}: no command: neither "
                "the file nor the image gives one (command, entrypoint, CMD or ENTRYPOINT)"
            )
        return _Service(
            name,
            "compose",
            "",
            argv,
            extra_env=svc.env(),
            workdir=svc.working_dir,
            source=svc.image or f"build:{build_of(svc).context}",
        )

    def _start(self, s: _Service) -> None:
        assert s.env is not None and self.box_dir is not None and self.hosts is not None
        env = s.env
        wd = s.workdir or env.workdir
        work = self.box_dir / s.name / "work"
        pristine = safe_host_path(env.root, wd)
        if pristine.is_dir():
            shutil.copytree(pristine, work, symlinks=True)
        else:
            work.mkdir(parents=True)
        s.logs = self.box_dir / s.name / "logs"
        s.logs.mkdir()
        ecfg = self.task.config.environment
        spec = SandboxSpec(
            root=env.root,
            binds=[(work, wd), (s.logs, LOG_DIR_IN_SANDBOX)],
            env={**env.env, **s.extra_env},
            workdir=wd,
            cpus=self.cores,
            memory_mb=ecfg.memory_mb,
            max_file_mb=ecfg.storage_mb or DEFAULT_MAX_FILE_MB,
            name=f"service-{s.name}"[:40],
            run_as=env.run_as(),
        )
        self.join(spec)
        if self.compose is not None and s.kind == "compose":
            self._mount(self.compose.doc.services[s.name], spec, s.name)
        s.box = make_sandbox(spec)
        s.record = {
            "name": s.name,
            "kind": s.kind,
            "source": s.source,
            "address": s.address,
            "command": s.argv,
            "started_at": now_iso(),
            "log": f"services/{s.name}/output.log",
        }
        svc = self.compose.doc.services[s.name] if self.compose and s.kind == "compose" else None
        if svc is not None and svc.ports:  # reached by name at the container port; nothing on the host
            s.record["ports"] = [m.model_dump(exclude_none=True) for m in svc.port_mappings()]
            s.record["published_on_host"] = False
        policy = svc.restart_policy() if svc is not None else ("no", None)
        s.box.start()
        has_sh = not is_image_root(env.root) or any(
            (env.root / p).exists() or (env.root / p).is_symlink() for p in ("bin/sh", "usr/bin/sh")
        )
        argv = (
            [
                "/bin/sh",
                "-c",
                f'"$@" >>{LOG_DIR_IN_SANDBOX}/output.log 2>&1; echo $? >{LOG_DIR_IN_SANDBOX}/exit_code',
                "sh",
                *s.argv,
            ]
            if has_sh
            else s.argv
        )
        s.shell = has_sh

        def run() -> None:
            self._supervise(s, argv, wd, policy)

        s.thread = threading.Thread(target=run, daemon=True, name=f"service-{s.name}")
        s.thread.start()

    def _supervise(self, s: _Service, argv: list[str], wd: str, policy: tuple[str, int | None]) -> None:
        """Run the service's command, and again when it exits as its ``restart`` policy says:
        ``always``/``unless-stopped`` whatever the exit, ``on-failure[:N]`` on a non-zero one (at
        most N times), after a delay doubled at each quick exit; never once the trial stops it."""
        assert s.box is not None and s.logs is not None
        name, limit = policy
        restarts, delay = 0, RESTART_DELAY_S
        if name != "no":
            policy_text = f"{name}:{limit}" if limit is not None else name
            s.record.update(restart=policy_text, restarts=0, exit_codes=[])
        while True:
            (s.logs / "exit_code").unlink(missing_ok=True)
            t0 = time.monotonic()
            s.result = s.box.exec(argv, timeout=None, cwd=wd)
            s.record["finished_at"] = now_iso()
            if name == "no" or self._stopping.is_set():
                return
            code = self._exit_code(s, False)
            s.record["exit_codes"].append(code)
            failed = code is None or code != 0
            if (name == "on-failure" and not failed) or (limit is not None and restarts >= limit):
                return
            delay = RESTART_DELAY_S if time.monotonic() - t0 >= RESTART_RESET_S else delay
            if self._stopping.wait(delay):
                return
            delay = min(delay * 2, RESTART_MAX_DELAY_S)
            restarts += 1
            s.record.update(restarts=restarts, restarted_at=now_iso())

    def _wait_dependencies(self, name: str) -> None:
        if self.compose is None or name not in self.compose.doc.services:
            return
        for dep, cond in self.compose.doc.services[name].dependencies().items():
            self._wait_condition(name, dep, cond.condition)

    def wait_for_main(self) -> None:
        """Main's ``depends_on`` conditions (before any agent starts)."""
        if self.compose is not None:
            for dep, cond in self.compose.main.dependencies().items():
                self._wait_condition(MAIN, dep, cond.condition)

    def check_main(self, box: Sandbox, cwd: str) -> list[dict[str, Any]]:
        """Main's own compose healthcheck, in the agent's sandbox ``box``; the sidecars' that ran too."""
        hc_def = self.compose.main.healthcheck if self.compose is not None else None
        fields = hc_def.fields() if hc_def else None
        if fields is not None:
            self._health[MAIN] = {
                "service": MAIN,
                **wait_healthy(box, Healthcheck(**fields), cwd, "services.main.healthcheck"),
            }
        return list(self._health.values())

    def _wait_condition(self, who: str, dep: str, condition: str) -> None:
        s = self.services[dep]
        assert self.compose is not None
        where = f"services.{who}.depends_on.{dep}"
        if condition == "service_healthy":
            if dep in self._health:
                return
            hc_def = self.compose.doc.services[dep].healthcheck
            fields = hc_def.fields() if hc_def else None
            if fields is None:
                raise LooplabError(
                    f"{self.compose.path}: {where}: service_healthy, but {dep!r} has no healthcheck"
                )
            assert s.box is not None and s.env is not None
            rec = wait_healthy(
                s.box, Healthcheck(**fields), s.workdir or s.env.workdir, f"services.{dep}.healthcheck"
            )
            self._health[dep] = {"service": dep, **rec}
            s.record["healthcheck"] = rec
        elif condition == "service_completed_successfully":
            assert s.thread is not None
            while s.thread.is_alive():
                cancel.check()
                s.thread.join(0.2)
            code = self._exit_code(s, False)
            if code != 0:
                raise LooplabError(f"{where}: {dep!r} exited {code} (service_completed_successfully)")

    def _wait_mcp(self, s: _Service) -> None:
        m = next(m for m in started_mcp_servers(self.task) if m.name == s.name)
        url = urlsplit(str(m.url))
        host = url.hostname or "localhost"
        port = url.port or (443 if url.scheme == "https" else 80)
        address = self.addresses.get(host, "127.0.0.1" if host == "localhost" else host)
        deadline = time.monotonic() + MCP_READY_TIMEOUT_S
        last = ""
        while time.monotonic() < deadline:
            cancel.check()
            ok, last = self.ns.can_connect(address, port)
            if ok:
                s.record["ready_after_s"] = round(MCP_READY_TIMEOUT_S - (deadline - time.monotonic()), 3)
                return
            if s.thread is not None and not s.thread.is_alive():
                code = self._exit_code(s, False)
                raise LooplabError(
                    f"[environment] mcp_servers {s.name!r}: its command exited {code} (see {s.record['log']})"
                )
            time.sleep(0.2)
        raise LooplabError(
            f"[environment] mcp_servers {s.name!r}: nothing listens on {host}:{port} after "
            f"{MCP_READY_TIMEOUT_S:.0f} s ({last})"
        )

    # ---- for the agent's and the verifier's sandboxes --------------------------------------
    def join(self, spec: SandboxSpec) -> None:
        """Put ``spec``'s sandbox in the trial's network, with the service names in its /etc/hosts."""
        assert self.hosts is not None
        spec.netns = self.ns.path
        spec.ro_binds.append((self.hosts, "/etc/hosts"))
        if self.compose is not None and not spec.name.startswith("service-"):
            spec.env.update(self.compose.main.env())
            self._mount(self.compose.main, spec, MAIN)

    def _mount(self, svc: ComposeService, spec: SandboxSpec, who: str) -> None:
        """``svc``'s volumes into ``spec``: named volumes and writable binds shared by every service
        mounting them (a private copy of the task's file, made once per trial), ``:ro`` read-only."""
        assert self.box_dir is not None
        for i, m in enumerate(svc.mounts()):
            if m.type == "volume":
                key = f"volume:{m.source}" if m.source else f"anonymous:{who}:{i}"
                host = self._shared.get(key)
                if host is None:
                    host = self._shared[key] = self.box_dir / "anonymous" / f"{who}-{i}"
                    host.mkdir(parents=True)
            else:  # a private copy (the task folder may be unreachable by the sandbox user)
                src = (self.task.environment_dir / str(m.source)).resolve()
                key = f"bind:{src}"
                if key not in self._shared:
                    copy = self.box_dir / "binds" / f"{len(self._shared)}-{src.name}"
                    copy.parent.mkdir(parents=True, exist_ok=True)
                    if src.is_dir():
                        shutil.copytree(src, copy, symlinks=True)
                    else:
                        shutil.copy2(src, copy)
                    if os.geteuid() == 0:
                        chown_tree(copy, *sandbox_uid())
                    self._shared[key] = copy
                host = self._shared[key]
            _mountpoint(Path(spec.root), m.target, host.is_dir())
            (spec.ro_binds if m.read_only else spec.binds).append((host, m.target))
        for path, size, mode in svc.tmpfs_mounts():  # empty at each start of the sandbox
            _mountpoint(Path(spec.root), path, True)
            spec.tmpfs.append((path, size, mode))

    def sidecar(self, name: str) -> tuple[Sandbox, str] | None:
        """The running sandbox of sidecar ``name`` and its working folder (collect hooks run there)."""
        s = self.services.get(name)
        if s is None or s.box is None or s.env is None:
            return None
        return s.box, s.workdir or s.env.workdir

    def collect(self, collector: Collector, specs: list[Artifact]) -> None:
        """Copy the artifact entries that name a sidecar out of its sandbox (staged in its log folder)."""
        for name in dict.fromkeys(a.service for a in specs):
            s = self.services.get(name)
            if s is not None and s.box is not None and s.logs is not None:
                collector.from_sandbox(
                    s.box, [a for a in specs if a.service == name], s.logs, LOG_DIR_IN_SANDBOX
                )

    # ---- the end -----------------------------------------------------------------------------
    def stop(self) -> list[dict[str, Any]]:
        """Stop every service and the namespace; their records (also kept as ``records``)."""
        if self._stopped:
            return self.records
        self._stopped = True
        self._stopping.set()
        for s in reversed(list(self.services.values())):
            running = s.thread is not None and s.thread.is_alive()
            if s.box is not None:
                s.box.stop()
            if s.thread is not None:
                s.thread.join(10)
            if s.record:
                code = self._exit_code(s, running)
                s.record.update(state="stopped" if code is None else "exited", exit_code=code)
                s.record["stopped_at"] = now_iso()
                self._keep_log(s)
        self.ns.stop()
        if self.box_dir is not None:
            remove_tree(self.box_dir)
        return self.records

    @property
    def records(self) -> list[dict[str, Any]]:
        return [s.record for s in self.services.values() if s.record]

    @staticmethod
    def _exit_code(s: _Service, running: bool) -> int | None:
        """How the service's command exited (its shell wrapper wrote it); None: it was stopped running."""
        if s.logs is not None and (s.logs / "exit_code").exists():
            text = (read_regular_under(s.logs, "exit_code", 64) or b"").decode(errors="replace").strip()
            return int(text) if text.lstrip("-").isdigit() else None
        if s.shell or running or s.result is None or s.result.exit_code == -1:
            return None
        return s.result.exit_code  # an image without a shell: the exec server saw it exit

    def _keep_log(self, s: _Service) -> None:
        out = self.out_dir / s.name / "output.log"
        out.parent.mkdir(parents=True, exist_ok=True)
        data = read_regular_under(s.logs, "output.log", MAX_LOG) if s.logs is not None else None
        if data is None and s.result is not None and s.result.exit_code != -1:  # no shell in the image
            data = (s.result.stdout + s.result.stderr).encode()
        out.write_bytes(data or b"")


def _hosts_mountpoint(root: Path) -> None:
    """An image without ``/etc/hosts`` gets an empty one (Docker always provides one), where the
    trial's is bound."""
    if not is_image_root(root):
        return  # a layer over the host: the host's /etc is bound, with its hosts file
    try:
        etc = safe_host_path(root, "etc")
        etc.mkdir(exist_ok=True)
        hosts = safe_host_path(root, "etc/hosts")
    except LooplabError as exc:
        raise LooplabError(f"{root}: cannot give the image an /etc/hosts: {exc}") from None
    if not hosts.exists():
        hosts.touch(mode=0o644)


def _mountpoint(root: Path, target: str, folder: bool) -> None:
    """Make ``target`` in ``root`` when it is missing, so bubblewrap can mount there (as Docker does)."""
    try:
        p = safe_host_path(root, target)
    except LooplabError as exc:
        raise LooplabError(f"volumes: cannot mount at {target}: {exc}") from None
    if p.exists() or p.is_symlink():
        return
    if not is_image_root(root) and target.strip("/").split("/")[0] in HOST_SYSTEM_ENTRIES:
        return  # the host's own folder is bound there
    if folder:
        p.mkdir(parents=True, exist_ok=True)
    else:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.touch()
