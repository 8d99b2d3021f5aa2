"""Image references and where they are pulled from.

docker.io by default, ``--image-map`` substitutions, plain-HTTP registries.

A reference is normalized the way Docker does (``rust:1.82-slim`` is
``docker.io/library/rust:1.82-slim``). ``--image-map IMAGE=REF`` substitutes one image
for another (``IMAGE`` with a tag maps that tag only, without one every tag of that
repository). Registries on a loopback address, and those named with
``--insecure-registry HOST:PORT``, are spoken to over plain HTTP, as Docker's daemon
does by default for 127.0.0.0/8. The CLI passes these options to every build through
the environment (``LOOPLAB_IMAGE_MAP``, ``LOOPLAB_INSECURE_REGISTRIES``), so worker
processes see the same mapping. Credentials are skopeo's: the usual containers and
docker auth files (``$REGISTRY_AUTH_FILE``, ``~/.config/containers/auth.json``,
``~/.docker/config.json``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from looplab.errors import LooplabError

DEFAULT_REGISTRY = "docker.io"
_NAME = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class ImageRef:
    """A normalized image reference: registry host, repository path, and a tag or digest."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"

    def __str__(self) -> str:
        if self.digest:
            return f"{self.name}@{self.digest}"
        return f"{self.name}:{self.tag or 'latest'}"

    @property
    def is_loopback(self) -> bool:
        host = self.registry.rsplit(":", 1)[0] if not self.registry.startswith("[") else self.registry
        return host in ("localhost", "[::1]") or host.startswith("127.")


def parse_ref(text: str) -> ImageRef:
    """Parse ``[registry/]repo[:tag][@digest]`` as Docker does; a clear error when it is not one."""
    raw = text.strip()
    if raw.startswith("docker://"):
        raw = raw[len("docker://") :]
    rest, _, digest = raw.partition("@")
    if digest and not _DIGEST.match(digest):
        raise LooplabError(f"image reference {text!r}: digest must be sha256:<64 hex digits>")
    first, slash, remainder = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, remainder
    else:
        registry, path = DEFAULT_REGISTRY, rest
    tag = None
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        path, tag = path.rsplit(":", 1)
        if not _TAG.match(tag):
            raise LooplabError(f"image reference {text!r}: bad tag {tag!r}")
    if registry == DEFAULT_REGISTRY and "/" not in path:
        path = f"library/{path}"
    if not path or not _NAME.match(path):
        raise LooplabError(f"image reference {text!r}: bad repository name {path!r}")
    return ImageRef(
        registry=registry, repository=path, tag=tag if tag or digest else "latest", digest=digest or None
    )


@dataclass
class RegistryOptions:
    """Image substitutions and plain-HTTP registries for one run."""

    image_map: dict[str, str] = field(default_factory=dict)  # normalized source -> target reference
    insecure: list[str] = field(default_factory=list)  # HOST:PORT spoken to over HTTP

    @classmethod
    def parse(cls, image_map: list[str] | None = None, insecure: list[str] | None = None) -> RegistryOptions:
        out = cls()
        for item in image_map or []:
            src, eq, dst = item.partition("=")
            if not eq or not src.strip() or not dst.strip():
                raise LooplabError(
                    f"--image-map {item!r}: expected IMAGE=REF (e.g. rust:1.82-slim=127.0.0.1:5000/rust:1.85)"
                )
            parse_ref(dst)  # fail now on a bad target
            out.image_map[_map_key(src)] = dst.strip()
        for host in insecure or []:
            if not re.fullmatch(r"[A-Za-z0-9.-]+(:\d+)?|\[[0-9a-fA-F:]+\](:\d+)?", host.strip()):
                raise LooplabError(f"--insecure-registry {host!r}: expected HOST:PORT")
            out.insecure.append(host.strip())
        return out

    @classmethod
    def from_env(cls) -> RegistryOptions:
        maps = [m for m in os.environ.get("LOOPLAB_IMAGE_MAP", "").split("\n") if m.strip()]
        insecure = [h for h in os.environ.get("LOOPLAB_INSECURE_REGISTRIES", "").split(",") if h.strip()]
        return cls.parse(maps, insecure)

    def to_env(self) -> dict[str, str]:
        return {
            "LOOPLAB_IMAGE_MAP": "\n".join(f"{k}={v}" for k, v in self.image_map.items()),
            "LOOPLAB_INSECURE_REGISTRIES": ",".join(self.insecure),
        }

    def resolve(self, text: str) -> ImageRef:
        """Where ``text`` (a FROM argument) is pulled from, after ``--image-map``."""
        ref = parse_ref(text)
        for key in (str(ref), ref.name):
            if key in self.image_map:
                return parse_ref(self.image_map[key])
        return ref

    def tls_verify(self, ref: ImageRef) -> bool:
        return not (ref.is_loopback or ref.registry in self.insecure)


def _map_key(src: str) -> str:
    """A map source with a tag maps that tag; without one (``rust``) every tag of the repository."""
    ref = parse_ref(src)
    last = src.strip().rsplit("/", 1)[-1]
    return str(ref) if ":" in last or "@" in src else ref.name
