"""Realize a task's environment (its Dockerfile) as a cached filesystem layer, without Docker.

Two bases. *Image mode* (``looplab.environment.image_build``) honours ``FROM``: the
image is pulled from a registry and every instruction runs inside its root, as
``docker build`` does; the result is cached by (base digests, ``environment/``). In
*host mode* (``looplab.environment.host_build``), the fast path for looplab-native
tasks, ``FROM`` is noted and ignored (the host is the base), and the build says which
tool the ignored image would have brought that the host lacks. ``base_mode`` picks:
``--base`` (``LOOPLAB_BASE``), else the task's ``[looplab] base``, else host for tasks
with a ``[looplab]`` section and image for foreign (Harbor/AutoLab) ones.

This module picks the base, keys the layer (``environment_key``), builds it under a
lock or reuses it: the finished layer is owned by root and world-readable, stored
under the cache by a hash of ``environment/``, and reused until that folder changes.
It also owns the scratch folders of sandboxes (``scratch_dir``, ``sweep_stale_scratch``).
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from looplab import cancel
from looplab.environment.dockerfile import parse_dockerfile
from looplab.environment.host_build import build_host
from looplab.errors import LooplabError
from looplab.fsutil import atomic_write_json, chown_tree, hash_tree, read_json, remove_tree
from looplab.sandbox.base import safe_host_path, sandbox_uid
from looplab.settings import runtime_dir
from looplab.tasks.loader import Task

LAYER_FORMAT = "looplab-layer-1"
IMAGE_LAYER_FORMAT = "looplab-image-layer-1"
BASES = ("host", "image")


def scratch_dir(prefix: str) -> Path:
    """A new private scratch folder under the runtime dir, tagged with this process's pid.

    The pid lets ``sweep_stale_scratch`` remove folders left by a looplab process that was
    killed (kill -9 skips every ``finally``).
    """
    d = runtime_dir() / "sandboxes" / f"{prefix}-p{os.getpid()}-{uuid.uuid4().hex[:8]}"
    d.mkdir(parents=True)
    os.chmod(d, 0o711)
    return d


def sweep_stale_scratch() -> int:
    """Remove scratch folders whose looplab process no longer exists; return how many.

    Best effort: a folder that cannot be removed is reported on stderr and left.
    """
    base = runtime_dir() / "sandboxes"
    removed = 0
    for d in base.iterdir() if base.is_dir() else []:
        m = re.search(r"-p(\d+)-[0-9a-f]{8}$", d.name)
        if not m:
            continue
        try:
            os.kill(int(m.group(1)), 0)
            continue  # still alive
        except (ProcessLookupError, OverflowError):
            pass
        except PermissionError:
            continue
        try:
            from looplab.environment.private_root import unmount_views_under

            unmount_views_under(d)  # a verifier's overlay view, when its process was killed
            remove_tree(d)
        except OSError as exc:  # whatever a sandbox left there never stops a run from starting
            print(f"looplab: could not remove stale scratch {d}: {exc}", file=sys.stderr)
            continue
        removed += 1
    return removed


@dataclass
class Environment:
    """A built environment layer: its root folder, working folder and environment variables."""

    task_name: str
    key: str
    root: Path
    workdir: str = "/app"
    env: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    missing_packages: list[str] = field(default_factory=list)
    cached: bool = False
    build_log: str = ""
    base: str = "host"  # "image": root is a whole image filesystem (its own /usr)
    images: list[str] = field(default_factory=list)  # the digests the FROM lines resolved to
    user: str = ""  # the image's last USER: the uid agent sandboxes see (sandboxes still run unprivileged)

    def run_as(self) -> tuple[int, int] | None:
        """The uid/gid an agent sees in an image root, as in its container: USER's, else root (0, 0)."""
        if self.base != "image":
            return None
        from looplab.environment.image_build import image_user_ids

        return image_user_ids(self.root, self.user) if self.user else (0, 0)

    def to_json(self) -> dict:
        return {
            "task_name": self.task_name,
            "key": self.key,
            "workdir": self.workdir,
            "env": self.env,
            "warnings": self.warnings,
            "missing_packages": self.missing_packages,
            "build_log": self.build_log,
            "base": self.base,
            "images": self.images,
            "user": self.user,
        }


def set_build_options(base: str | None, image_map: list[str] | None, insecure: list[str] | None) -> None:
    """Apply ``--base``/``--image-map``/``--insecure-registry`` to this process and the workers it starts."""
    from looplab.environment.registry import RegistryOptions

    if base is not None and base not in BASES:
        raise LooplabError(f"--base must be 'host' or 'image', got {base!r}")
    if base:
        os.environ["LOOPLAB_BASE"] = base
    os.environ.update(RegistryOptions.parse(image_map, insecure).to_env())


BUILD_SETTINGS_ENV = ("LOOPLAB_BASE", "LOOPLAB_IMAGE_MAP", "LOOPLAB_INSECURE_REGISTRIES", "LOOPLAB_OVERLAYS")


def build_settings_env() -> dict[str, str]:
    """This run's build settings (base, image map, registries, overlays) as set: for workers and job
    identity."""
    return {k: os.environ[k] for k in BUILD_SETTINGS_ENV if os.environ.get(k)}


def base_mode(task: Task, override: str | None = None) -> str:
    """``host`` or ``image``: the override (``--base``), the task's choice, or its kind's default."""
    choice = override or os.environ.get("LOOPLAB_BASE") or task.config.looplab.base
    if choice is None:
        choice = "host" if task.native else "image"
    if choice not in BASES:
        raise LooplabError(f"base must be 'host' or 'image', got {choice!r}")
    if choice == "image" and (task.dockerfile is None or not _has_from(task.dockerfile)):
        return "host"  # nothing to pull: the layer is the build context on the host
    return choice


def _has_from(dockerfile: Path) -> bool:
    return any(i.op == "FROM" for i in parse_dockerfile(dockerfile))


def environment_key(task: Task, base: str = "host", digests: list[str] | None = None) -> str:
    env_dir = task.environment_dir
    fmt = [LAYER_FORMAT] if base == "host" else [IMAGE_LAYER_FORMAT, *(digests or [])]
    ecfg = task.config.environment
    if ecfg.docker_image:  # [environment] docker_image: the image is the Dockerfile
        fmt.append(f"docker_image={ecfg.docker_image}")
    if ecfg.workdir:  # apply_workdir creates it in the layer
        fmt.append(f"workdir={ecfg.workdir}")
    if env_dir.is_dir():
        key = hash_tree(env_dir, extra=fmt)
    elif len(fmt) > 1:
        key = hashlib.sha256("\n".join(fmt).encode()).hexdigest()
    else:
        key = "empty"
    return key[:20]


def apply_workdir(task: Task, env: Environment) -> Environment:
    """``[environment] workdir`` names the working folder (else the Dockerfile's last WORKDIR)."""
    wd = task.config.environment.workdir
    if wd and wd != env.workdir:
        host = env.root / wd.lstrip("/")
        if not host.is_dir():
            host.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                uid, gid = sandbox_uid()
                chown_tree(host, uid, gid)
        env.workdir = wd
    return env


def build_environment(
    task: Task,
    force: bool = False,
    log=None,  # noqa: ANN001
    base: str | None = None,
    timeout_multiplier: float = 1.0,
) -> Environment:
    """Build (or reuse from the cache) the environment layer of ``task``; ``timeout_multiplier`` scales
    ``[environment] build_timeout_sec`` (a job's ``--timeout-multiplier``, as Harbor's scales the build)."""
    mode = base_mode(task, base)
    digests: list[str] = []
    if mode == "image":
        digests = _base_digests(task)
    key = environment_key(task, mode, digests)
    envs = runtime_dir() / "envs"
    envs.mkdir(parents=True, exist_ok=True)
    final = envs / f"{task.name}-{key}"
    lock_path = envs / f"{task.name}-{key}.lock"
    with open(lock_path, "w") as lock:
        cancel.flock(lock)  # another process building it: Ctrl-C still stops this one
        if final.exists() and not force and (final / "env.json").exists():
            meta = read_json(final / "env.json")
            cached = Environment(
                task_name=task.name,
                key=key,
                root=final / "root",
                workdir=meta["workdir"],
                env=meta["env"],
                warnings=meta["warnings"],
                missing_packages=meta["missing_packages"],
                cached=True,
                build_log=meta.get("build_log", ""),
                base=meta.get("base", "host"),
                images=meta.get("images", []),
                user=meta.get("user", ""),
            )
            return apply_workdir(task, cached)
        tmp = envs / f".{task.name}-{key}.{uuid.uuid4().hex[:8]}"
        try:
            if mode == "host":
                env = _build_host(task, key, tmp / "root", timeout_multiplier)
            else:
                env = _build_image(task, key, tmp, timeout_multiplier)
            atomic_write_json(tmp / "env.json", env.to_json())
            remove_tree(final)
            os.rename(tmp, final)
        finally:
            remove_tree(tmp)
        env.root = final / "root"
        return apply_workdir(task, env)


def _base_digests(task: Task) -> list[str]:
    """The manifest digest of every image the Dockerfile's FROM lines name (pulled when new)."""
    from looplab.environment.image_build import resolve_bases
    from looplab.environment.images import pull
    from looplab.environment.registry import RegistryOptions

    assert task.dockerfile is not None
    opts = RegistryOptions.from_env()
    out = []
    for ins, image in resolve_bases(parse_dockerfile(task.dockerfile), opts):
        if image is not None:
            try:
                out.append(pull(image, opts).digest)
            except LooplabError as exc:
                raise LooplabError(f"{task.dockerfile}:{ins.line}: {exc}") from None
    return out


def _build_image(task: Task, key: str, tmp: Path, timeout_multiplier: float) -> Environment:
    from looplab.environment.image_build import ImageBuilder
    from looplab.environment.registry import RegistryOptions

    assert task.dockerfile is not None
    ecfg = task.config.environment
    builder = ImageBuilder(
        task.dockerfile,
        task.environment_dir,
        tmp / "build",
        RegistryOptions.from_env(),
        timeout_s=ecfg.build_timeout_sec * timeout_multiplier,
        memory_mb=max(ecfg.memory_mb or 0, 4096),
        name=task.name,
    )
    res = builder.build(parse_dockerfile(task.dockerfile))
    os.rename(res.root, tmp / "root")
    remove_tree(tmp / "build")
    workdir = res.workdir if res.workdir != "/" else "/app"
    safe_host_path(tmp / "root", workdir).mkdir(
        parents=True, exist_ok=True
    )  # never through an image's symlink
    return Environment(
        task_name=task.name,
        key=key,
        root=tmp / "root",
        workdir=workdir,
        env=res.env,
        base="image",
        images=res.bases,
        user=res.user,
        build_log="\n".join(res.log)[-20000:],
    )


def _build_host(task: Task, key: str, root: Path, timeout_multiplier: float) -> Environment:
    """A host-mode layer (``host_build``) as an ``Environment``: its workdir, variables, warnings and log."""
    return Environment(
        task_name=task.name, key=key, root=root, **asdict(build_host(task, root, timeout_multiplier))
    )
