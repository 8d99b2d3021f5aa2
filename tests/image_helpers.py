"""Stand-in base images built from Debian packages, and a real OCI registry on 127.0.0.1.

No public registry is reachable here, so tests (and ``scripts/autolab.sh``) build their
base images with ``mmdebstrap`` (Debian's mirrors), write each as an OCI layout and push
it with ``skopeo copy`` into Debian's ``docker-registry`` listening on 127.0.0.1. The
layouts and the registry's storage are cached on disk (``LOOPLAB_TEST_IMAGES``, default
``/var/tmp/looplab-test-images``), so only the first session pays for mmdebstrap.

Run as a script to build the images and serve them: ``python tests/image_helpers.py
[--images debian,python,go,rust] [--port 5055]`` (prints the registry address, then
serves until interrupted).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import gzip
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

MIRROR = os.environ.get("LOOPLAB_DEBIAN_MIRROR", "http://deb.debian.org/debian")
UBUNTU_MIRROR = os.environ.get("LOOPLAB_UBUNTU_MIRROR", "http://archive.ubuntu.com/ubuntu")
PATH_DEFAULT = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class StandIn:
    """One stand-in image: its repository:tag in the test registry and how mmdebstrap builds it."""

    key: str
    repo: str
    tag: str
    suite: str
    packages: tuple[str, ...] = ()
    hooks: tuple[str, ...] = ()  # mmdebstrap --customize-hook commands ("$1" is the root)
    env: tuple[str, ...] = (f"PATH={PATH_DEFAULT}",)
    mirror: str = MIRROR
    components: str = "main"
    keyring_deb: str = ""  # a keyring package (URL) for a mirror the host has no keyring of (Ubuntu's)

    @property
    def name(self) -> str:
        return f"{self.repo}:{self.tag}"

    @property
    def version(self) -> str:
        """A hash of the definition: a changed stand-in is rebuilt and pushed again."""
        text = repr(self)
        if (self.mirror, self.components, self.keyring_deb) == (MIRROR, "main", ""):
            # the fields added later keep the stand-ins built before them (their layouts stay valid)
            text = text.split(", mirror=")[0] + ")"
        return hashlib.sha256(text.encode()).hexdigest()[:12]


# Debian's Python refuses system-wide pip installs (PEP 668); python:* images allow them.
_PIP_OPEN = 'rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED'
_PYTHON = ("python3", "python3-pip", "python3-venv", "python-is-python3", "ca-certificates")


def _pip(*reqs: str) -> str:
    """A hook installing ``reqs`` from PyPI into the stand-in: its pip, the host's network and CA
    bundle (which trusts what the host's network presents), none of the host's pip settings."""
    ca = "/etc/ssl/certs/ca-certificates.crt"
    return (
        f'cp {ca} "$1"/tmp/host-ca.crt && chroot "$1" env -i PATH={PATH_DEFAULT} PIP_CERT=/tmp/host-ca.crt '
        f"python3 -m pip install --no-cache-dir --no-warn-script-location {' '.join(reqs)}"
        ' && rm "$1"/tmp/host-ca.crt'
    )


STANDINS = {
    s.key: s
    for s in (
        StandIn("debian", "debian", "bookworm", "bookworm"),
        StandIn("python", "python", "3.11-bookworm", "bookworm", _PYTHON, (_PIP_OPEN,)),
        # AutoLab's torch tasks pip-install pinned torch from download.pytorch.org's CPU index, which
        # this network cannot reach: these stand-ins carry the same pins from PyPI (torch's CUDA build
        # and its nvidia-* wheels, which run on a CPU), so that pip install finds them satisfied
        StandIn(
            "python-torch220",
            "python",
            "3.11-torch2.2.0",
            "bookworm",
            _PYTHON,
            (_PIP_OPEN, _pip("numpy==1.26.4", "torch==2.2.0", "torchvision==0.17.0")),
        ),
        StandIn(
            "python-torch222",
            "python",
            "3.11-torch2.2.2",
            "bookworm",
            _PYTHON,
            (_PIP_OPEN, _pip("numpy==1.26.4", "torch==2.2.2")),
        ),
        # AutoLab's C tasks install Ubuntu-only packages (linux-tools-generic): an Ubuntu jammy root
        StandIn(
            # Ubuntu's apt is not Priority: required, so minbase leaves it out; the official image has it
            "ubuntu",
            "ubuntu",
            "22.04",
            "jammy",
            ("apt", "ca-certificates"),
            mirror=UBUNTU_MIRROR,
            components="main,universe",
            keyring_deb=f"{UBUNTU_MIRROR}/pool/main/u/ubuntu-keyring/ubuntu-keyring_2021.03.26_all.deb",
        ),
        StandIn(
            # the official golang images: buildpack-deps' scm layer (git, curl, procps) and cgo's tools
            # (g++ gcc libc6-dev make pkg-config); AutoLab's Go oracles build with make
            "go",
            "golang",
            "trixie",
            "trixie",
            (
                "golang-go",
                "ca-certificates",
                "git",
                "curl",
                "procps",
                "gcc",
                "g++",
                "libc6-dev",
                "make",
                "pkg-config",
            ),
        ),
        StandIn(
            "rust",
            "rust",
            "trixie",
            "trixie",
            ("cargo", "rustc", "gcc", "libc6-dev", "ca-certificates"),
            # the official rust images keep their tools in /usr/local/cargo/bin (tasks link from there)
            (
                'mkdir -p "$1"/usr/local/cargo/bin && ln -s /usr/bin/cargo /usr/bin/rustc "$1"/usr/local/cargo/bin/',
            ),
            env=(f"PATH=/usr/local/cargo/bin:{PATH_DEFAULT}", "CARGO_HOME=/usr/local/cargo"),
        ),
    )
}


def cache_root() -> Path:
    d = Path(os.environ.get("LOOPLAB_TEST_IMAGES", "/var/tmp/looplab-test-images"))
    d.mkdir(parents=True, exist_ok=True)
    return d


@contextlib.contextmanager
def _locked(name: str):
    with open(cache_root() / f"{name}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _sha256_file(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest(), path.stat().st_size


def _blob(layout: Path, data: bytes) -> tuple[str, int]:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return digest, len(data)


def oci_layout_from_tar(rootfs_tar: Path, layout: Path, tag: str, env: tuple[str, ...]) -> None:
    """Write an OCI image layout holding one gzip layer (``rootfs_tar``) and a config with ``env``."""
    tmp = layout.with_name(layout.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "blobs" / "sha256").mkdir(parents=True)
    diff_id, _ = _sha256_file(rootfs_tar)
    gz = tmp / "layer.tar.gz"
    with open(rootfs_tar, "rb") as src, gzip.open(gz, "wb", compresslevel=1) as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    layer_digest, layer_size = _sha256_file(gz)
    gz.rename(tmp / "blobs" / "sha256" / layer_digest)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": list(env), "Cmd": ["/bin/bash"]},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
        "history": [{"created_by": "mmdebstrap (looplab stand-in image)"}],
    }
    cfg_digest, cfg_size = _blob(tmp, json.dumps(config).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": f"sha256:{cfg_digest}",
            "size": cfg_size,
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": f"sha256:{layer_digest}",
                "size": layer_size,
            }
        ],
    }
    man_digest, man_size = _blob(tmp, json.dumps(manifest).encode())
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": f"sha256:{man_digest}",
                "size": man_size,
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (tmp / "index.json").write_text(json.dumps(index))
    (tmp / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    shutil.rmtree(layout, ignore_errors=True)
    tmp.rename(layout)


def build_standin(image: StandIn) -> Path:
    """The OCI layout of ``image``, built with mmdebstrap the first time (cached on disk)."""
    layout = cache_root() / "layouts" / f"{image.key}-{image.version}"
    with _locked(f"build-{image.key}"):
        if (layout / "index.json").is_file():
            return layout
        layout.parent.mkdir(parents=True, exist_ok=True)
        tar = cache_root() / f"{image.key}.rootfs.tar"
        argv = [
            "mmdebstrap",
            "--variant=minbase",
            "--format=tar",
            "--mode=root",
            f"--components={image.components}",
        ]
        if image.keyring_deb:
            argv.append(f"--keyring={_keyring_from_deb(image.keyring_deb)}")
        if image.packages:
            argv.append("--include=" + ",".join(image.packages))
        for hook in image.hooks:
            argv.append(f"--customize-hook={hook}")
        argv += ['--customize-hook=rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin']
        argv += [image.suite, str(tar), image.mirror]
        r = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=3600)
        if r.returncode != 0:
            raise RuntimeError(f"mmdebstrap for {image.name} failed: {r.stderr.strip().splitlines()[-3:]}")
        try:
            oci_layout_from_tar(tar, layout, image.tag, image.env)
        finally:
            tar.unlink(missing_ok=True)
    return layout


def _keyring_from_deb(url: str) -> Path:
    """The archive keyring inside the keyring package at ``url`` (fetched once, then cached)."""
    out = cache_root() / "keyrings" / Path(url).stem
    ring = out / "usr" / "share" / "keyrings" / "ubuntu-archive-keyring.gpg"
    if not ring.is_file():
        deb = cache_root() / Path(url).name
        subprocess.run(["curl", "-fsSL", "-o", str(deb), url], check=True, timeout=300)
        out.mkdir(parents=True, exist_ok=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(out)], check=True)
        deb.unlink()
    return ring


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def session_port() -> int:
    """A fixed port when it is free (the same FROM lines across sessions: their builds stay cached)."""
    port = int(os.environ.get("LOOPLAB_TEST_REGISTRY_PORT", "5055"))
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the registry itself binds
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return free_port()
    return port


class Registry:
    """Debian's docker-registry on 127.0.0.1, storing under the on-disk cache."""

    def __init__(self, port: int | None = None, storage: Path | None = None):
        self.port = port or free_port()
        self.storage = storage or cache_root() / "registry"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Registry:
        self.storage.mkdir(parents=True, exist_ok=True)
        cfg = cache_root() / f"registry-{self.port}.yml"
        cfg.write_text(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.storage}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: 127.0.0.1:{self.port}\n"
        )
        log = open(cache_root() / f"registry-{self.port}.log", "wb")  # noqa: SIM115 - the server's lifetime
        self.proc = subprocess.Popen(["docker-registry", "serve", str(cfg)], stdout=log, stderr=log)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited: see {log.name}")
            time.sleep(0.1)
        raise RuntimeError("docker-registry did not start listening")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)

    def has(self, name: str) -> bool:
        r = subprocess.run(
            ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{self.address}/{name}"],
            capture_output=True,
            check=False,
            timeout=60,
        )
        return r.returncode == 0

    def push_layout(self, layout: Path, tag: str, name: str) -> None:
        subprocess.run(
            [
                "skopeo",
                "copy",
                "--quiet",
                "--dest-tls-verify=false",
                f"oci:{layout}:{tag}",
                f"docker://{self.address}/{name}",
            ],
            check=True,
            capture_output=True,
            timeout=600,
        )

    def ensure(self, key: str) -> str:
        """Push stand-in ``key`` unless the registry has it; its reference in this registry."""
        image = STANDINS[key]
        pushed = self.storage / f"pushed-{image.key}.txt"
        current = pushed.is_file() and pushed.read_text().strip() == image.version
        if not current or not self.has(image.name):
            self.push_layout(build_standin(image), image.tag, image.name)
            pushed.write_text(image.version + "\n")
        return f"{self.address}/{image.name}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", default="debian,python,go,rust,ubuntu")
    ap.add_argument("--port", type=int, default=5055)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop the registry on kill too
    reg = Registry(args.port).start()
    try:
        for key in args.images.split(","):
            print(reg.ensure(key.strip()), flush=True)
        print(f"registry {reg.address} ready", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        reg.stop()


if __name__ == "__main__":
    sys.exit(main())
