"""Host mode: a task's Dockerfile built into a layer folder, with the host's system folders as its base.

``FROM`` is noted and ignored (the note says which tool the ignored image would have
brought that the host lacks), ``ARG``/``ENV`` set variables, ``WORKDIR`` creates and
enters a folder, ``COPY``/``ADD`` copy from the build context (``environment/``), and
``RUN`` steps execute in a build sandbox (``make_sandbox``) whose root is the layer
being built (writable) with the host's system folders read-only on top. Package
installs in RUN steps are checked against the host instead of run
(``environment.packages``). ``environment.build`` caches the result.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import shutil
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from looplab import cancel
from looplab.environment.dockerfile import (
    METADATA_OPS,
    Instruction,
    parse_dockerfile,
    parse_env_args,
    split_words,
    substitute,
)
from looplab.environment.packages import PackageCheck, check_host, ignored_from_note, rewrite_run
from looplab.errors import LooplabError
from looplab.fsutil import chown_tree, make_world_readable
from looplab.sandbox.base import Sandbox, SandboxSpec, sandbox_uid
from looplab.sandbox.bwrap import HOST_SYSTEM_ENTRIES, looplab_runtime_paths
from looplab.sandbox.factory import make_sandbox, runtime_path, runtime_ro_binds
from looplab.tasks.loader import Task

IGNORED_OPS = METADATA_OPS | {"SHELL"}  # a host-mode RUN always uses /bin/sh -c


@dataclass
class HostBuild:
    """What a host-mode build made of the layer: its working folder, variables, warnings and log."""

    workdir: str = "/app"
    env: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    missing_packages: list[str] = field(default_factory=list)
    build_log: str = ""


def build_host(task: Task, root: Path, timeout_multiplier: float = 1.0) -> HostBuild:  # noqa: C901
    """Build ``task``'s Dockerfile into the empty folder ``root`` on the host's system folders."""
    root.mkdir(parents=True)
    os.chmod(root.parent, 0o711)
    context = task.environment_dir
    dockerfile = task.dockerfile
    env = HostBuild()
    vars_: dict[str, str] = {"PATH": runtime_path()}
    env_vars: dict[str, str] = {}
    logs: list[str] = []
    instructions: list[Instruction] = parse_dockerfile(dockerfile) if dockerfile else []
    pkg = PackageCheck()
    run_steps: list[tuple[Instruction, str]] = []
    for ins in instructions:
        if ins.op == "RUN":
            run_steps.append((ins, rewrite_run(ins.args, pkg)))
    check_host(pkg)
    env.warnings += pkg.warnings()
    env.missing_packages = pkg.missing_apt + pkg.missing_pip
    uid, gid = sandbox_uid()
    sandbox: Sandbox | None = None
    rewritten = dict((id(i), c) for i, c in run_steps)
    workdir = "/"

    def ensure_dir(path: str) -> Path:
        host = _in_root(root, path)
        host.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            chown_tree(host, uid, gid)
        return host

    try:
        if not dockerfile and context.is_dir():
            workdir = "/app"
            shutil.copytree(context, ensure_dir("/app"), symlinks=True, dirs_exist_ok=True)
        for ins in instructions:
            cancel.check()
            where = f"{dockerfile}:{ins.line}"
            op = ins.op
            if op == "FROM":
                image = split_words(substitute(ins.args, vars_))[0] if ins.args.strip() else ""
                note = ignored_from_note(image)
                logs.append(note)
                if "missing on this host" in note:
                    env.warnings.append(note)
                vars_ = {k: v for k, v in vars_.items() if k == "PATH" or k in env_vars}
            elif op == "ARG":
                for word in split_words(ins.args):
                    name, has_default, default = word.partition("=")
                    if has_default and name not in env_vars:
                        vars_[name] = substitute(default, vars_)
            elif op == "ENV":
                for k, v in parse_env_args(ins.args):
                    v = substitute(v, vars_)
                    vars_[k] = v
                    env_vars[k] = v
            elif op == "WORKDIR":
                target = substitute(ins.args.strip(), vars_)
                workdir = (
                    target if target.startswith("/") else os.path.normpath(os.path.join(workdir, target))
                )
                ensure_dir(workdir)
            elif op in ("COPY", "ADD"):
                if "from" in ins.flags:
                    raise LooplabError(f"{where}: COPY --from (multi-stage builds) is not supported")
                words = ins.json_args() or split_words(ins.args)
                words = [substitute(w, vars_) for w in words]
                if len(words) < 2:
                    raise LooplabError(f"{where}: {op} needs a source and a destination")
                _copy(where, op, context, root, workdir, words[:-1], words[-1], ins.flags.get("chmod"))
                if os.geteuid() == 0:
                    chown_tree(root, uid, gid)
            elif op == "RUN":
                if sandbox is None:
                    sandbox = make_sandbox(  # Ctrl-C stops it (looplab.cancel)
                        SandboxSpec(
                            root=root,
                            root_writable=True,
                            workdir="/",
                            name=f"build-{task.name}"[:40],
                            ro_binds=runtime_ro_binds(),
                            memory_mb=max(task.config.environment.memory_mb or 0, 4096),
                        )
                    )
                    sandbox.start()
                ensure_dir(workdir)
                cmd = rewritten[id(ins)]
                argv = ins.json_args()
                command: str | list[str] = argv if argv else ["/bin/sh", "-c", cmd]
                r = sandbox.exec(
                    command,
                    timeout=task.config.environment.build_timeout_sec * timeout_multiplier,
                    env=dict(vars_),
                    cwd=workdir,
                )
                cancel.check()  # stopped by Ctrl-C: the step did not fail
                logs.append(f"$ {ins.args}\n{r.stdout}{r.stderr}")
                if not r.ok:
                    last = (r.stderr.strip() or r.stdout.strip() or "no output").splitlines()[-1][:300]
                    hint = ""
                    if env.missing_packages:
                        hint = f"; likely cause: missing host packages {' '.join(env.missing_packages)}"
                    elif lacking := [w for w in env.warnings if "missing on this host" in w]:
                        hint = f"; likely cause: {lacking[0]}"
                    what = "timed out" if r.timed_out else f"exit {r.exit_code}"
                    raise LooplabError(f"{where}: RUN step failed ({what}): {last}{hint}")
            elif op == "USER":
                logs.append(f"USER {ins.args} (ignored: sandboxes run as an unprivileged user)")
            elif op in IGNORED_OPS:
                continue
            else:
                raise LooplabError(f"{where}: unknown Dockerfile instruction {op}")
    finally:
        if sandbox is not None:
            sandbox.stop()
    _clean_mountpoints(root)
    if os.geteuid() == 0:
        chown_tree(root, 0, 0)
    make_world_readable(root)
    env.workdir = workdir if workdir != "/" else "/app"
    ensure_app = _in_root(root, env.workdir)
    ensure_app.mkdir(parents=True, exist_ok=True)
    env.env = env_vars
    env.build_log = "\n".join(logs)[-20000:]
    return env


def _in_root(root: Path, path: str) -> Path:
    rel = os.path.normpath("/" + path).lstrip("/")
    if rel.split("/")[0] in ("proc", "dev", "sys"):
        raise LooplabError(f"cannot write into /{rel} in an environment")
    return root / rel


def _copy(
    where: str,
    op: str,
    context: Path,
    root: Path,
    workdir: str,
    sources: list[str],
    dest: str,
    chmod: str | None,
) -> None:
    if op == "ADD" and any(s.startswith(("http://", "https://", "git@")) for s in sources):
        raise LooplabError(f"{where}: ADD from a URL needs the network, which environments never have")
    dest_abs = dest if dest.startswith("/") else os.path.join(workdir, dest)
    matches: list[Path] = []
    ctx = context.resolve()
    for s in sources:
        found = (
            sorted(glob.glob(str(ctx / s.lstrip("/"))))
            if any(c in s for c in "*?[")
            else [str(ctx / s.lstrip("/"))]
        )
        found = [f for f in found if not fnmatch.fnmatch(os.path.basename(f), ".dockerignore")]
        if not found or not all(Path(f).exists() for f in found):
            raise LooplabError(f"{where}: {op} source not found in environment/: {s}")
        for f in found:
            if not Path(f).resolve().is_relative_to(ctx):
                raise LooplabError(f"{where}: {op} source escapes the build context: {s}")
        matches += [Path(f) for f in found]
    many = len(matches) > 1 or dest.endswith("/")
    target = _in_root(root, dest_abs)
    for src in matches:
        if src.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            shutil.copytree(src, target, symlinks=True, dirs_exist_ok=True)
        elif op == "ADD" and tarfile.is_tarfile(src):
            target.mkdir(parents=True, exist_ok=True)
            with tarfile.open(src) as tf:
                tf.extractall(target, filter="data")
        else:
            out = target / src.name if many or target.is_dir() else target
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, out, follow_symlinks=False)
            if chmod:
                os.chmod(out, int(chmod, 8))


def _clean_mountpoints(root: Path) -> None:
    """Remove the empty folders and symlinks bwrap left behind as mount points while building."""
    for name in (*HOST_SYSTEM_ENTRIES, "proc", "dev", "tmp", "sys"):
        p = root / name
        if p.is_symlink():
            p.unlink()
        elif p.is_dir():
            _remove_empty_dirs(p)
    for rp in looplab_runtime_paths():
        p = root / str(rp).lstrip("/")
        while p != root and p.is_dir() and not any(p.iterdir()):
            p.rmdir()
            p = p.parent


def _remove_empty_dirs(p: Path) -> None:
    for child in list(p.iterdir()):
        if child.is_dir() and not child.is_symlink():
            _remove_empty_dirs(child)
    if not any(p.iterdir()):
        p.rmdir()
