"""The bubblewrap sandbox: no daemon, default deny.

Layout inside: a fresh tmpfs root, the task's environment layer bound read-only
entry by entry, the host's system folders (/usr, /etc, /lib...) read-only on top,
declared paths writable, private /tmp, /dev/shm and /proc, no network (a new
network namespace holds only a downed loopback) unless asked, and the root
remounted read-only. Processes run as an unprivileged uid (``setpriv`` before
``bwrap``), so even host-root-owned files that are bound stay protected. A cgroup
(where the host allows) caps memory, processes and CPU and pins the cores; the
sandbox dies with its parent, and ``stop`` kills its whole process tree.

Commands run through a small exec server (``looplab.sandbox.server``) that is the
sandbox's first process, so background processes survive between ``exec`` calls
the way they do in a container.

An *image root* (a root folder holding the marker ``/.looplab-image``, written by
image-mode builds) is a whole system of its own: its /usr, /etc, /lib... are used
instead of the host's. The exec server then runs on the host's Python, bound
read-only under ``/.looplab/host/usr`` and started through the host's own dynamic
loader, so images without python3 (or with another libc) work. ``userns_root``
(build steps only) runs the sandbox as root of a user namespace that maps a whole
range of host uids (``looplab.sandbox.userns``), as ``docker build`` runs RUN steps.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import posixpath
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from looplab.errors import LooplabError
from looplab.fsutil import chown_tree
from looplab.sandbox.base import (
    DEFAULT_PATH,
    SANDBOX_UID,
    ExecRequest,
    ExecResult,
    Sandbox,
    SandboxSpec,
    safe_host_path,
    sandbox_uid,
)
from looplab.sandbox.cgroups import Cgroup
from looplab.sandbox.gpu import passthrough
from looplab.sandbox.server import SERVER_SOURCE

HOST_SYSTEM_ENTRIES = ("usr", "etc", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
SANDBOX_MANAGED = {"proc", "dev", "tmp", *HOST_SYSTEM_ENTRIES}
START_TIMEOUT_S = 20.0
IMAGE_MARKER = ".looplab-image"
HOST_USR_IN_SANDBOX = "/.looplab/host/usr"
# looplab's own runtime (venv, package source) in an image root: under this folder, at its host path
# below it (the host path itself may lie inside the image's read-only tree, e.g. a checkout in /var/tmp)
RUNTIME_IN_IMAGE = "/.looplab/runtime"
SUBUID_BASE = int(os.environ.get("LOOPLAB_SUBUID_BASE", "100000"))  # host uid of root in build namespaces
SUBUID_COUNT = 65536


def bwrap_path() -> str:
    path = shutil.which("bwrap")
    if not path:
        raise LooplabError("bubblewrap (bwrap) is not installed: apt-get install -y bubblewrap")
    return path


def server_python() -> str:
    for cand in ("/usr/bin/python3", "/bin/python3"):
        if os.access(cand, os.X_OK):
            return cand
    return os.path.realpath(sys.executable)


def is_image_root(root: Path) -> bool:
    """Whether ``root`` is a whole image filesystem (its own /usr), not a layer over the host."""
    return (Path(root) / IMAGE_MARKER).is_file()


def _elf_interpreter(path: str) -> str | None:
    """The PT_INTERP (dynamic loader) of the ELF executable at ``path``, or None if static."""
    import struct

    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2:  # 64-bit only
            return None
        end = "<" if head[5] == 1 else ">"
        (phoff,) = struct.unpack(end + "Q", head[32:40])
        phentsize, phnum = struct.unpack(end + "HH", head[54:58])
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            ptype, _flags, off, _va, _pa, size = struct.unpack(end + "IIQQQQ", f.read(40))
            if ptype == 3:  # PT_INTERP
                f.seek(off)
                return f.read(size).rstrip(b"\0").decode()
    return None


def root_entry_binds(root: Path, skip: set[str] | tuple[str, ...]) -> list[str]:
    """bwrap arguments showing the entries of ``root`` but ``skip`` read-only at ``/`` (symlinks as such)."""
    out: list[str] = []
    with os.scandir(root) as it:  # the entries' types come with the listing: no stat per entry
        entries = sorted((e for e in it if e.name not in skip), key=lambda e: e.name)
    for e in entries:
        if e.is_symlink():
            out += ["--symlink", os.readlink(e.path), f"/{e.name}"]
        else:
            out += ["--ro-bind", e.path, f"/{e.name}"]
    return out


def image_server_argv() -> list[str]:
    """How an image root starts the exec server: the host's Python through the host's loader.

    The host's /usr is bound read-only at ``HOST_USR_IN_SANDBOX``; the loader and the
    libraries come from there (``--library-path``), so the image's own libc is never mixed in.
    """
    py = os.path.realpath(server_python())
    if not py.startswith("/usr/"):
        raise LooplabError(f"image roots need the host's Python under /usr, found {py}")
    interp = _elf_interpreter(py)
    if interp is None:
        raise LooplabError(f"{py}: not a dynamically linked 64-bit ELF executable")
    interp = os.path.realpath(interp)
    if not interp.startswith("/usr/"):
        raise LooplabError(f"{py}: its loader {interp} is not under /usr")
    inner = HOST_USR_IN_SANDBOX + interp[len("/usr") :]
    libdir = HOST_USR_IN_SANDBOX + os.path.dirname(interp)[len("/usr") :]
    return [inner, "--library-path", libdir, HOST_USR_IN_SANDBOX + py[len("/usr") :]]


def looplab_runtime_paths() -> list[Path]:
    """Host folders a sandbox needs to run looplab's own tools (venv, package source)."""
    import looplab

    paths = [Path(sys.prefix).resolve()]
    pkg_root = Path(looplab.__file__).resolve().parent.parent
    if not str(pkg_root).startswith(str(paths[0])):
        paths.append(pkg_root)
    if os.geteuid() == 0:
        for p in paths:
            _check_traversable(p)
    return paths


def looplab_site_paths() -> list[Path]:
    """``looplab_runtime_paths`` plus any site folder on ``sys.path`` outside them (a venv whose
    ``.pth`` points at another venv's packages): what a jail binds so that ``python3`` is looplab's."""
    paths = looplab_runtime_paths()
    for entry in sys.path:
        p = Path(entry)
        site = p.name in ("site-packages", "dist-packages") and not str(p).startswith(("/usr/", "/lib/"))
        if site and p.is_dir() and not any(p.is_relative_to(q) for q in paths):
            paths.append(p)
    return paths


def runtime_dest(host: Path | str, dest: str, runtime: set[str]) -> str:
    """Where a read-only bind goes in an image root: looplab's runtime (``runtime``: the folders of
    ``looplab_site_paths``) bound at its host path moves under ``RUNTIME_IN_IMAGE``, so the image's
    own tree is never shadowed and no mount point has to be made inside its read-only folders (a
    checkout under /var/tmp); everything else stays at ``dest``."""
    return RUNTIME_IN_IMAGE + dest if str(host) == dest and dest in runtime else dest


def _check_traversable(path: Path) -> None:
    """The sandbox user must be able to reach ``path``: every parent needs o+x."""
    for parent in [*reversed(path.parents), path]:
        try:
            mode = parent.stat().st_mode
        except OSError:
            return
        if not mode & 0o001:
            raise LooplabError(
                f"{path} is not reachable by the sandbox user (uid {SANDBOX_UID}): {parent} is not "
                f"world-traversable; install looplab under a world-readable path (e.g. /opt or /work) "
                f"or chmod o+x {parent}"
            )


def runtime_env_path() -> str:
    return f"{Path(sys.prefix).resolve()}/bin:{DEFAULT_PATH}"


class BwrapSandbox(Sandbox):
    """The bubblewrap backend of ``Sandbox``: bwrap runs the exec server, requests go over its pipes."""

    def __init__(self, spec: SandboxSpec):
        self.spec = spec
        self.id = f"{spec.name}-{uuid.uuid4().hex[:10]}"
        self._proc: subprocess.Popen[bytes] | None = None
        self._cgroup: Cgroup | None = None
        self._pending: dict[int, tuple[threading.Event, dict]] = {}
        self._ids = itertools.count(1)
        self._write_lock = threading.Lock()
        self._reader: threading.Thread | None = None
        self._stderr_file: tempfile._TemporaryFileWrapper | None = None
        self._dead = threading.Event()
        self._stopped = False
        self.uid, self.gid = sandbox_uid()

    # ---- lifecycle -------------------------------------------------------------------------
    def bwrap_argv(self) -> list[str]:
        s = self.spec
        root = Path(s.root)
        image = is_image_root(root)
        if self._userns_root():
            # already root of a user namespace with a full uid range: no nested user namespace
            argv = [bwrap_path(), "--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
            if not (s.network or s.netns):
                argv.append("--unshare-net")
            argv += ["--die-with-parent", "--new-session"]
        else:
            argv = [bwrap_path(), "--unshare-all", "--die-with-parent", "--new-session"]
            if s.network or s.netns:  # the host's, or the shared one nsenter put bwrap in
                argv.append("--share-net")
            if s.run_as is not None:  # one uid mapped: the host's unprivileged sandbox uid seen as USER's
                argv += ["--unshare-user", "--uid", str(s.run_as[0]), "--gid", str(s.run_as[1])]
        argv += ["--hostname", "looplab"]
        build = image and self._userns_root()
        # an image's /run is a fresh tmpfs as on a booted system (looplab's sockets and binds go
        # there); an image build keeps the image's own
        managed = ({"proc", "dev", "tmp"} | (set() if build else {"run"})) if image else SANDBOX_MANAGED
        if s.root_writable:
            argv += ["--bind", str(root), "/"]
        else:
            argv += root_entry_binds(root, {*managed, IMAGE_MARKER})
        for entry in () if image else HOST_SYSTEM_ENTRIES:
            host = Path("/") / entry
            if host.is_symlink():
                if not s.root_writable:
                    argv += ["--symlink", os.readlink(host), f"/{entry}"]
                elif not (root / entry).exists() and not (root / entry).is_symlink():
                    os.symlink(os.readlink(host), root / entry)
            elif host.is_dir():
                argv += ["--ro-bind", str(host), f"/{entry}"]
        if image:
            argv += ["--ro-bind", "/usr", HOST_USR_IN_SANDBOX]
            if s.network:  # the host's resolver for build steps (an image's resolv.conf is a placeholder)
                for f in ("/etc/resolv.conf", "/etc/hosts"):
                    inside = root / f.lstrip("/")
                    if os.path.isfile(f) and not inside.is_symlink() and inside.parent.is_dir():
                        argv += ["--ro-bind", f, f]
        argv += ["--proc", "/proc", "--dev", "/dev"]
        if image and not build:
            argv += ["--perms", "0755", "--tmpfs", "/run"]
        # an image build keeps the image's own /tmp (a COPY into /tmp is there for the next RUN)
        for tmp in ("/dev/shm",) if build else ("/tmp", "/dev/shm"):
            # without a memory cgroup nothing else bounds what a tmpfs holds in the host's RAM
            if s.memory_mb:
                argv += ["--size", str(int(s.memory_mb) << 20)]
            if build:
                argv += ["--perms", "1777"]  # several users (root, _apt, USER) share it
            argv += ["--tmpfs", tmp]
        runtime = {str(p) for p in looplab_site_paths()} if image else set()
        for host, dest in s.ro_binds:
            argv += ["--ro-bind", str(host), runtime_dest(host, dest, runtime)]
        argv += passthrough(s.gpus).bwrap_args()  # GPUs the trial holds; nothing when it holds none
        for w in s.writable:
            argv += ["--bind", str(safe_host_path(root, w)), posixpath.normpath("/" + w.lstrip("/"))]
        for host, dest in s.binds:
            argv += ["--bind", str(host), dest]
        for dest, size, mode in s.tmpfs:  # empty at each start, as Docker's tmpfs (1777 unless given)
            if size is not None or s.memory_mb:
                argv += ["--size", str(size if size is not None else int(s.memory_mb or 0) << 20)]
            argv += ["--perms", f"{0o1777 if mode is None else mode:04o}", "--tmpfs", dest]
        if not s.root_writable:
            argv += ["--remount-ro", "/"]
        argv += ["--chdir", s.workdir or "/", "--clearenv", "--setenv", "PATH", DEFAULT_PATH]
        if image:
            # PYTHONHOME (so no -E/-I): the interpreter's prefix is not where the loader says it is
            argv += ["--setenv", "PYTHONHOME", HOST_USR_IN_SANDBOX, "--"]
            argv += [*image_server_argv(), "-s", "-S", "-c", SERVER_SOURCE]
        else:
            argv += ["--", server_python(), "-I", "-S", "-c", SERVER_SOURCE]
        return argv

    def _userns_root(self) -> bool:
        return self.spec.userns_root and os.geteuid() == 0

    def start(self) -> None:
        if self._proc is not None:
            return
        s = self.spec
        for host, _dest in s.binds:
            Path(host).mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                chown_tree(Path(host), self.uid, self.gid)
        if os.geteuid() == 0 and not self._userns_root():
            if s.root_writable:
                chown_tree(Path(s.root), self.uid, self.gid)
            for w in s.writable:
                chown_tree(safe_host_path(Path(s.root), w), self.uid, self.gid)
        self._cgroup = Cgroup.create(
            self.id, cpus=s.cpus, cpu_quota=s.cpu_quota, memory_mb=s.memory_mb, pids_max=s.pids_max
        )
        cmd = self.bwrap_argv()
        if s.max_file_mb and shutil.which("prlimit"):
            # the writable folders are on the host's disk: one file may not fill it
            cmd = ["prlimit", f"--fsize={int(s.max_file_mb) << 20}", "--", *cmd]
        if self._userns_root():
            launcher = Path(__file__).with_name("userns.py")
            cmd = [
                server_python(),
                "-I",
                "-S",
                str(launcher),
                str(SUBUID_BASE),
                str(SUBUID_COUNT),
                "--",
                *cmd,
            ]
        elif os.geteuid() == 0:
            cmd = [
                "setpriv",
                f"--reuid={self.uid}",
                f"--regid={self.gid}",
                "--clear-groups",
                "--inh-caps=-all",
                "--no-new-privs",
                "--",
                *cmd,
            ]
        if s.netns:  # join the shared namespace as root, before setpriv drops the capability
            cmd = ["nsenter", f"--net={s.netns}", "--", *cmd]
        if self._cgroup is not None:
            files = [str(f) for f in self._cgroup.join_files()]
            script = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo 0 > "$1" || exit 97; shift; n=$((n-1)); done; exec "$@"'  # noqa: E501
            cmd = ["/bin/sh", "-c", script, "sh", str(len(files)), *files, *cmd]
        else:
            prefix: list[str] = []
            if s.cpus and shutil.which("taskset"):
                prefix += ["taskset", "-c", ",".join(map(str, s.cpus))]
            if s.memory_mb and shutil.which("prlimit"):
                prefix += ["prlimit", f"--as={int(s.memory_mb) * 2**20 * 2}", "--"]
            cmd = prefix + cmd
        self._stderr_file = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the sandbox
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr_file,
            start_new_session=True,
            # bwrap is pid 1 inside and its /proc/1/environ is readable there: never the host's variables
            # (keys)
            env={"PATH": os.environ.get("PATH") or DEFAULT_PATH},
        )
        ready = threading.Event()
        self._pending[0] = (ready, {})
        self._reader = threading.Thread(target=self._read_loop, daemon=True, name=f"{self.id}-reader")
        self._reader.start()
        if not ready.wait(START_TIMEOUT_S) or self._dead.is_set() and not self._pending[0][1].get("ready"):
            err = self._bwrap_stderr()
            self.stop()
            raise LooplabError(f"sandbox failed to start: {err or 'no answer from the exec server'}")
        self._pending.pop(0, None)

    def _bwrap_stderr(self) -> str:
        if self._stderr_file is None:
            return ""
        try:
            self._stderr_file.seek(0)
            return self._stderr_file.read(4000).decode("utf-8", "replace").strip().replace("\n", " | ")
        except (OSError, ValueError):
            return ""

    def _read_loop(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if not isinstance(msg, dict):
                continue
            rid = 0 if msg.get("ready") else msg.get("id")
            waiter = self._pending.get(rid) if isinstance(rid, int) else None
            if waiter is not None:
                waiter[1].update(msg)
                waiter[0].set()
        self._dead.set()
        for ev, _ in list(self._pending.values()):
            ev.set()

    def kill_processes(self) -> int:
        """Kill every process in the sandbox except its exec server; the sandbox stays usable.

        The verifier calls this as soon as test.sh returns, so nothing the candidate left
        running can write the reward file after the test wrote it.
        """
        r = self._request({"op": "killall"}, 10.0)
        return int(r.stdout) if r.exit_code == 0 and r.stdout.isdigit() else 0

    def kill_commands(self) -> int:
        """Kill the commands still running (a kept sandbox's agent at its deadline); the rest stays."""
        r = self._request({"op": "cancel"}, 10.0)
        return int(r.stdout) if r.exit_code == 0 and r.stdout.isdigit() else 0

    def run_request(self, r: ExecRequest) -> ExecResult:
        req = {"argv": r.argv, "env": r.env, "cwd": r.cwd, "timeout": r.timeout, "stdin": r.stdin}
        req["limit"] = self.spec.output_limit
        if r.user is not None:
            req["uid"], req["gid"] = r.user
        return self._request(req, None if r.timeout is None else r.timeout + 15.0)

    def _request(self, req: dict, wait: float | None) -> ExecResult:
        """Send one request to the exec server and wait (at most ``wait`` s) for its answer."""
        if self._proc is None:
            raise LooplabError("sandbox is not started")
        rid = next(self._ids)
        ev = threading.Event()
        box: dict = {}
        self._pending[rid] = (ev, box)
        req = {**req, "id": rid}
        t0 = time.monotonic()
        try:
            if self._dead.is_set():
                return ExecResult(-1, "", "sandbox is not running\n", duration_s=0.0)
            with self._write_lock:
                assert self._proc.stdin is not None
                self._proc.stdin.write((json.dumps(req) + "\n").encode())
                self._proc.stdin.flush()
            if not ev.wait(wait):
                return ExecResult(-9, "", "no answer from sandbox (killed)\n", True, time.monotonic() - t0)
        except (BrokenPipeError, OSError):
            return ExecResult(-1, "", "sandbox is not running\n", duration_s=time.monotonic() - t0)
        finally:
            self._pending.pop(rid, None)
        if "exit_code" not in box:
            return ExecResult(
                -1, "", "sandbox stopped while the command ran\n", duration_s=time.monotonic() - t0
            )
        return ExecResult(
            exit_code=int(box["exit_code"]),
            stdout=str(box.get("stdout", "")),
            stderr=str(box.get("stderr", "")),
            timed_out=bool(box.get("timed_out")),
            duration_s=float(box.get("duration_s", time.monotonic() - t0)),
            truncated=bool(box.get("truncated")),
        )

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._cgroup is not None:
            self._cgroup.kill_all()
        if self._proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=10)
            for stream in (self._proc.stdin, self._proc.stdout):
                try:
                    if stream:
                        stream.close()
                except OSError:
                    pass
        if self._cgroup is not None:
            self._final_usage = self.usage()
            self._cgroup.remove()
            self._cgroup = None
        if self._stderr_file is not None:
            self._stderr_file.close()
            self._stderr_file = None
        self._dead.set()

    def usage(self) -> dict[str, float]:
        if self._cgroup is None:
            return dict(getattr(self, "_final_usage", {}))
        out: dict[str, float] = {}
        cpu = self._cgroup.cpu_seconds()
        if cpu is not None:
            out["cpu_s"] = cpu
        rss = self._cgroup.max_rss_mb()
        if rss is not None:
            out["max_rss_mb"] = rss
        if self._cgroup.oom_killed():
            out["memory_limit_hit"] = 1.0
        return out
