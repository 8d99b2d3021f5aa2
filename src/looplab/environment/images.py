"""The local image store: OCI images pulled without a daemon (skopeo), unpacked once per digest (umoci).

Layout under ``<cache>/images/``: ``oci/`` is one OCI image layout shared by every
image (blobs are stored once), ``refs.json`` maps each reference looplab resolved to
its manifest digest, and ``roots/<digest>/rootfs`` is that image unpacked, with
``image.json`` beside it (the config's Env, WorkingDir, User). Unpacking runs as host
root with the image's uids shifted into the build range (``SUBUID_BASE``), so build
steps that run as root of a user namespace own exactly the files the image's root
owned; without host root umoci unpacks rootless (every file owned by the caller).

A reference already in ``refs.json`` is used without asking the registry again (as
``docker build`` without ``--pull``); ``looplab images pull`` refreshes it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, Field

from looplab import cancel
from looplab.environment.registry import ImageRef, RegistryOptions
from looplab.errors import LooplabError
from looplab.fsutil import atomic_write_json, make_world_readable, read_json, remove_tree
from looplab.sandbox.bwrap import IMAGE_MARKER, SUBUID_BASE, SUBUID_COUNT
from looplab.settings import runtime_dir

PULL_TIMEOUT_S = 1800


class ImageConfig(BaseModel):
    """What looplab uses of an image's config."""

    env: dict[str, str] = Field(default_factory=dict)
    workdir: str = ""
    user: str = ""
    entrypoint: list[str] | None = None  # what a container runs (a compose sidecar's default command)
    cmd: list[str] | None = None


class StoredImage(BaseModel):
    """One reference in the store: where it came from and which manifest it named."""

    ref: str
    source: str
    digest: str
    pulled_at: float
    size: int = 0


class PulledImage(BaseModel):
    ref: str
    digest: str
    rootfs: Path
    config: ImageConfig
    cached: bool = False


def store_dir() -> Path:

    d = runtime_dir() / "images"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _tools() -> None:
    missing = [t for t in ("skopeo", "umoci") if shutil.which(t) is None]
    if missing:
        raise LooplabError(
            f"image mode needs {' and '.join(missing)}: apt-get install -y {' '.join(missing)}"
        )


@contextlib.contextmanager
def _store_lock() -> Iterator[None]:
    with open(store_dir() / ".lock", "w") as f:
        cancel.flock(f)  # another process pulling: Ctrl-C still stops this one
        yield


def _tag_for(ref: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", ref)[:120]


def _refs() -> dict[str, StoredImage]:
    p = store_dir() / "refs.json"
    if not p.is_file():
        return {}
    return {k: StoredImage.model_validate(v) for k, v in read_json(p).items()}


def _save_refs(refs: dict[str, StoredImage]) -> None:
    atomic_write_json(store_dir() / "refs.json", {k: v.model_dump() for k, v in sorted(refs.items())})


def _skopeo_error(ref: ImageRef, stderr: str) -> str:
    text = " ".join(stderr.split())
    low = text.lower()
    if "manifest unknown" in low or "name unknown" in low or "not found" in low and "manifest" in low:
        return f"image {ref} not found in registry {ref.registry}"
    if "unauthorized" in low or "authentication required" in low or "denied" in low:
        return (
            f"image {ref}: registry {ref.registry} refused access"
            " (credentials: ~/.docker/config.json or `skopeo login`)"
        )
    for sign in (
        "connection refused",
        "no such host",
        "i/o timeout",
        "network is unreachable",
        "dial tcp",
        "server misbehaving",
        "timeout",
    ):
        if sign in low:
            return f"registry {ref.registry} unreachable while pulling {ref} ({sign})"
    if "http response to https client" in low:
        return f"registry {ref.registry} speaks plain HTTP: pass --insecure-registry {ref.registry}"
    return f"pulling {ref} failed: {text[-300:]}"


def _digest_of_tag(layout: Path, tag: str) -> str:
    index = read_json(layout / "index.json")
    for m in index.get("manifests", []):
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            return str(m["digest"])
    raise LooplabError(f"{layout}: no image tagged {tag} after copying")


def _blob_json(layout: Path, digest: str) -> dict:
    algo, _, hexd = digest.partition(":")
    return json.loads((layout / "blobs" / algo / hexd).read_text())


def image_config(layout: Path, digest: str) -> tuple[ImageConfig, int]:
    """The Env/WorkingDir/User/Entrypoint/Cmd of manifest ``digest`` in ``layout``, and the image's
    compressed size."""
    manifest = _blob_json(layout, digest)
    cfg = _blob_json(layout, manifest["config"]["digest"]).get("config") or {}
    env: dict[str, str] = {}
    for item in cfg.get("Env") or []:
        k, _, v = item.partition("=")
        env[k] = v
    size = sum(int(x.get("size", 0)) for x in manifest.get("layers", []))
    config = ImageConfig(
        env=env,
        workdir=cfg.get("WorkingDir") or "",
        user=cfg.get("User") or "",
        entrypoint=cfg.get("Entrypoint") or None,
        cmd=cfg.get("Cmd") or None,
    )
    return config, size


def image_command(
    text: str, options: RegistryOptions | None = None
) -> tuple[list[str] | None, list[str] | None]:
    """The ``Entrypoint`` and ``Cmd`` of the image ``text`` names (pulled when new)."""
    pulled = pull(text, options)
    config, _ = image_config(store_dir() / "oci", pulled.digest)
    return config.entrypoint, config.cmd


def _copy_into_store(src: str, tag: str, extra: list[str], what: ImageRef | None) -> None:
    layout = store_dir() / "oci"
    cmd = [
        "skopeo",
        "--command-timeout",
        f"{PULL_TIMEOUT_S}s",
        "copy",
        "--quiet",
        *extra,
        src,
        f"oci:{layout}:{tag}",
    ]
    try:
        r = cancel.run(cmd, timeout=PULL_TIMEOUT_S + 30)
    except subprocess.TimeoutExpired:
        raise LooplabError(f"pulling {what or src} timed out after {PULL_TIMEOUT_S}s") from None
    if r.returncode != 0:
        if what is not None:
            raise LooplabError(_skopeo_error(what, r.stderr))
        raise LooplabError(f"loading {src} failed: {' '.join(r.stderr.split())[-300:]}")


def pull(text: str, options: RegistryOptions | None = None, refresh: bool = False) -> PulledImage:
    """The image ``text`` names (after ``--image-map``), pulled and unpacked (from the store if there)."""
    _tools()
    opts = options or RegistryOptions.from_env()
    ref = opts.resolve(text)
    key = str(ref)
    with _store_lock():
        refs = _refs()
        known = refs.get(key)
        if known is None or refresh:
            tag = _tag_for(key)
            tls = [] if opts.tls_verify(ref) else ["--src-tls-verify=false"]
            _copy_into_store(f"docker://{key}", tag, tls, ref)
            layout = store_dir() / "oci"
            digest = _digest_of_tag(layout, tag)
            _, size = image_config(layout, digest)
            known = StoredImage(ref=key, source=text, digest=digest, pulled_at=time.time(), size=size)
            refs[key] = known
            _save_refs(refs)
        cached = known is not None and not refresh
        rootfs, config = _unpacked(known.digest, _tag_for(key))
    return PulledImage(ref=key, digest=known.digest, rootfs=rootfs, config=config, cached=cached)


def _unpacked(digest: str, tag: str) -> tuple[Path, ImageConfig]:
    """The unpacked root of manifest ``digest`` (tagged ``tag`` in the layout), unpacking it once."""
    layout = store_dir() / "oci"
    final = store_dir() / "roots" / digest.replace(":", "-")
    if (final / "image.json").is_file():
        return final / "rootfs", ImageConfig.model_validate(read_json(final / "image.json"))
    config, _ = image_config(layout, digest)
    tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(tmp.parent, 0o711)
    cmd = ["umoci", "unpack", "--image", f"{layout}:{tag}"]
    if os.geteuid() == 0:
        cmd += [f"--uid-map=0:{SUBUID_BASE}:{SUBUID_COUNT}", f"--gid-map=0:{SUBUID_BASE}:{SUBUID_COUNT}"]
    else:
        cmd.append("--rootless")
    try:
        r = cancel.run([*cmd, str(tmp / "bundle")], timeout=1800)
        if r.returncode != 0:
            raise LooplabError(f"unpacking {digest[:19]} failed: {' '.join(r.stderr.split())[-300:]}")
        (tmp / "bundle" / "rootfs").rename(tmp / "rootfs")
        remove_tree(tmp / "bundle")
        (tmp / "rootfs" / IMAGE_MARKER).write_text(digest + "\n")
        os.chmod(tmp, 0o711)
        atomic_write_json(tmp / "image.json", config.model_dump())
        remove_tree(final)
        os.rename(tmp, final)
    finally:
        remove_tree(tmp)
    return final / "rootfs", config


def load(path: Path, name: str | None = None) -> StoredImage:
    """Put an OCI layout folder or a docker-archive / oci-archive tarball into the store as ``name``."""
    _tools()
    path = Path(path)
    if path.is_dir():
        if not (path / "index.json").is_file():
            raise LooplabError(f"{path}: not an OCI image layout (no index.json)")
        index = read_json(path / "index.json")
        names = [
            m.get("annotations", {}).get("org.opencontainers.image.ref.name")
            for m in index.get("manifests", [])
        ]
        names = [n for n in names if n]
        src_tag = names[0] if names else ""
        src = f"oci:{path}:{src_tag}" if src_tag else f"oci:{path}"
        default = name or None
    elif path.is_file():
        import tarfile

        try:
            with tarfile.open(path) as tf:
                members = set(tf.getnames())
                manifest = json.load(tf.extractfile("manifest.json")) if "manifest.json" in members else None  # type: ignore[arg-type]
        except (tarfile.TarError, OSError, ValueError) as exc:
            raise LooplabError(f"{path}: not a readable tarball ({exc})") from None
        if manifest is not None:
            src = f"docker-archive:{path}"
            tags = (manifest[0].get("RepoTags") or []) if manifest else []
            default = name or (tags[0] if tags else None)
        elif "index.json" in members or "./index.json" in members:
            src, default = f"oci-archive:{path}", name
        else:
            raise LooplabError(
                f"{path}: neither a docker-archive (manifest.json) nor an OCI archive (index.json)"
            )
    else:
        raise LooplabError(f"{path}: no such file or folder")
    if not default:
        raise LooplabError(f"{path}: the archive names no image; pass --name IMAGE:TAG")
    from looplab.environment.registry import parse_ref

    key = str(parse_ref(default))
    tag = _tag_for(key)
    with _store_lock():
        _copy_into_store(src, tag, [], None)
        layout = store_dir() / "oci"
        digest = _digest_of_tag(layout, tag)
        _, size = image_config(layout, digest)
        refs = _refs()
        refs[key] = StoredImage(ref=key, source=str(path), digest=digest, pulled_at=time.time(), size=size)
        _save_refs(refs)
        _unpacked(digest, tag)
    return refs[key]


def list_images() -> list[StoredImage]:
    return sorted(_refs().values(), key=lambda s: s.ref)


def prune(everything: bool = False) -> dict[str, int]:
    """Drop unpacked roots no reference names (all of them and every reference with ``everything``)."""
    _tools()
    removed_refs = removed_roots = 0
    with _store_lock():
        refs = _refs()
        layout = store_dir() / "oci"
        if everything:
            for key in list(refs):
                subprocess.run(
                    ["umoci", "rm", "--image", f"{layout}:{_tag_for(key)}"], capture_output=True, check=False
                )
                removed_refs += 1
            refs = {}
            _save_refs(refs)
        keep = {r.digest.replace(":", "-") for r in refs.values()}
        roots = store_dir() / "roots"
        for d in sorted(roots.iterdir()) if roots.is_dir() else []:
            if d.name not in keep:
                remove_tree(d)
                removed_roots += 1
        if (layout / "index.json").is_file():
            subprocess.run(["umoci", "gc", "--layout", str(layout)], capture_output=True, check=False)
    return {"references": removed_refs, "roots": removed_roots}


def copy_root(src: Path, dst: Path) -> None:
    """Copy an image root keeping owners, modes and links (``cp -a``, reflinks where the disk has them)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(
        ["cp", "-a", "--reflink=auto", str(src), str(dst)], capture_output=True, text=True, check=False
    )
    if r.returncode != 0:
        raise LooplabError(f"copying image root {src} failed: {r.stderr.strip()[-300:]}")


def finish_root(root: Path) -> None:
    """Make a built image root readable by the sandbox user (agents run unprivileged, not as root)."""
    make_world_readable(root)
