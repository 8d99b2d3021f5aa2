"""Image mode: build a task's Dockerfile on the image its ``FROM`` names, as ``docker build`` does.

Each stage starts from a copy of an unpacked image (``looplab.environment.images``),
an earlier stage (``FROM builder``) or nothing (``FROM scratch``). ``RUN`` steps
execute inside that root in a bubblewrap sandbox as root of a user namespace that
maps a whole uid range (network allowed: builds only), as the ``USER`` in force;
``ARG``/``ENV``/``WORKDIR``/``SHELL`` behave as in Docker; RUN steps also trust the
host's CA bundle (``SSL_CERT_FILE``, ``PIP_CERT``...), as builds behind a TLS-intercepting
proxy need, without it staying in the image. ``COPY``/``ADD`` (with
``--from``, ``--chown``, ``--chmod``) stage their sources on the host, then a small
copier runs *inside* the sandbox (the host's Python, see ``bwrap.image_server_argv``),
so every destination path, symlinks included, resolves inside the image and never on
the host. The last stage's root, plus the image config's Env and WorkingDir, is the
environment agents and verifiers then run on.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from looplab import cancel
from looplab.environment.copier import COPIER_SOURCE
from looplab.environment.dockerfile import METADATA_OPS, Instruction, parse_env_args, split_words, substitute
from looplab.environment.images import PulledImage, copy_root, finish_root, pull
from looplab.environment.registry import RegistryOptions
from looplab.errors import LooplabError
from looplab.fsutil import read_regular_under, remove_tree
from looplab.sandbox.base import DEFAULT_PATH, Sandbox, SandboxSpec
from looplab.sandbox.bwrap import HOST_USR_IN_SANDBOX, IMAGE_MARKER, image_server_argv
from looplab.sandbox.factory import make_sandbox

STAGE_IN_SANDBOX = "/.looplab/stage"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
CA_IN_SANDBOX = "/.looplab/host-ca.crt"
# RUN steps trust the host's CAs too (a TLS-intercepting egress proxy is common on clusters);
# only during the build: nothing of this stays in the image
CA_ENV = (
    "SSL_CERT_FILE",
    "PIP_CERT",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "GIT_SSL_CAINFO",
    "CARGO_HTTP_CAINFO",
    "NODE_EXTRA_CA_CERTS",
)
STAGES_IN_SANDBOX = "/.looplab/stages"


@dataclass
class Stage:
    index: int
    name: str | None
    root: Path
    env: dict[str, str]  # the image config's Env plus ENV lines
    args: dict[str, str] = field(default_factory=dict)  # ARG values in this stage
    workdir: str = "/"
    user: str = ""
    shell: list[str] = field(default_factory=lambda: ["/bin/sh", "-c"])
    sandbox: Sandbox | None = None


@dataclass
class ImageBuildResult:
    root: Path
    workdir: str
    env: dict[str, str]
    user: str
    bases: list[str]  # the digests every FROM resolved to
    log: list[str]


def resolve_bases(
    instructions: list[Instruction], options: RegistryOptions
) -> list[tuple[Instruction, str | None]]:
    """Each FROM's image reference after ARG substitution (None for ``scratch`` and earlier stages)."""
    global_args: dict[str, str] = {}
    stages: set[str] = set()
    out = []
    seen_from = False
    for ins in instructions:
        if ins.op == "ARG" and not seen_from:
            for word in split_words(ins.args):
                name, has, default = word.partition("=")
                global_args[name] = substitute(default, global_args) if has else global_args.get(name, "")
        if ins.op != "FROM":
            continue
        seen_from = True
        words = split_words(substitute(ins.args, global_args))
        words = [w for w in words if not w.startswith("--platform")]
        if not words:
            raise LooplabError(f"line {ins.line}: FROM needs an image")
        image = words[0]
        if len(words) >= 3 and words[1].lower() == "as":
            stages.add(words[2].lower())
        out.append((ins, None if image == "scratch" or image.lower() in stages else image))
    return out


class ImageBuilder:
    """Runs one Dockerfile's instructions in image mode; ``build`` returns the last stage's root."""

    def __init__(
        self,
        dockerfile: Path,
        context: Path,
        work: Path,
        options: RegistryOptions,
        timeout_s: float,
        memory_mb: int,
        name: str,
    ):
        self.dockerfile = dockerfile
        self.context = context.resolve()
        self.work = work
        self.options = options
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.name = name
        self.stages: list[Stage] = []
        self.global_args: dict[str, str] = {}
        self.log: list[str] = []
        self.bases: list[str] = []
        self.staging = work / "staging"
        self.external: dict[str, PulledImage] = {}

    # ---- driver ---------------------------------------------------------------------------
    def build(self, instructions: list[Instruction]) -> ImageBuildResult:
        self.staging.mkdir(parents=True, exist_ok=True)
        os.chmod(self.work, 0o755)
        os.chmod(self.staging, 0o755)
        try:
            for ins in instructions:
                cancel.check()
                where = f"{self.dockerfile}:{ins.line}"
                try:
                    self._step(ins, where)
                except LooplabError as exc:
                    msg = str(exc)
                    raise LooplabError(
                        msg if msg.startswith(str(self.dockerfile)) else f"{where}: {msg}"
                    ) from None
            if not self.stages:
                raise LooplabError(f"{self.dockerfile}: no FROM instruction")
        finally:
            for st in self.stages:
                self._stop(st)
        last = self.stages[-1]
        for st in self.stages[:-1]:
            remove_tree(st.root)
        _clean_build_mounts(last.root)
        (last.root / IMAGE_MARKER).write_text("built\n")
        finish_root(last.root)
        env = dict(last.env)
        env.setdefault("PATH", DEFAULT_PATH)
        return ImageBuildResult(last.root, last.workdir, env, last.user, self.bases, self.log)

    def _step(self, ins: Instruction, where: str) -> None:  # noqa: C901
        op = ins.op
        if op == "FROM":
            self._from(ins)
            return
        if op == "ARG" and not self.stages:
            for word in split_words(ins.args):
                name, has, default = word.partition("=")
                self.global_args[name] = substitute(default, self.global_args) if has else ""
            return
        if not self.stages:
            raise LooplabError(f"{op} before the first FROM")
        st = self.stages[-1]
        scope = {**st.env, **st.args}
        if op == "ARG":
            for word in split_words(ins.args):
                name, has, default = word.partition("=")
                if has:
                    st.args[name] = substitute(default, scope)
                elif name in self.global_args:
                    st.args[name] = self.global_args[name]
        elif op == "ENV":
            for k, v in parse_env_args(ins.args):
                st.env[k] = substitute(v, scope)
                scope[k] = st.env[k]
        elif op == "WORKDIR":
            target = substitute(ins.args.strip(), scope)
            st.workdir = os.path.normpath(
                target if target.startswith("/") else os.path.join(st.workdir, target)
            )
            self._copier(st, [{"op": "mkdir", "src": "", "dest": st.workdir}], None, None)
        elif op == "USER":
            st.user = substitute(ins.args.strip(), scope)
            self._user_ids(st, st.user)  # an unknown user fails here, as in docker build
        elif op == "SHELL":
            argv = ins.json_args()
            if not argv:
                raise LooplabError('SHELL needs the JSON form, e.g. SHELL ["/bin/bash", "-c"]')
            st.shell = argv
        elif op in ("COPY", "ADD"):
            self._copy(st, ins, scope)
        elif op == "RUN":
            self._run(st, ins, scope)
        elif op in METADATA_OPS:
            return
        else:
            raise LooplabError(f"unknown Dockerfile instruction {op}")

    # ---- stages ---------------------------------------------------------------------------
    def _from(self, ins: Instruction) -> None:
        words = [
            w for w in split_words(substitute(ins.args, self.global_args)) if not w.startswith("--platform")
        ]
        image = words[0] if words else ""
        alias = words[2].lower() if len(words) >= 3 and words[1].lower() == "as" else None
        if self.stages:
            self._stop(self.stages[-1])
        root = self.work / f"stage{len(self.stages)}" / "root"
        env: dict[str, str] = {}
        workdir, user = "/", ""
        parent = self._stage_named(image)
        if parent is not None:
            copy_root(parent.root, root)
            env, workdir, user = dict(parent.env), parent.workdir, parent.user
            self.log.append(f"FROM {image} (stage {parent.index})")
        elif image == "scratch":
            root.mkdir(parents=True)
            (root / IMAGE_MARKER).write_text("scratch\n")
        else:
            img = pull(image, self.options)
            self.bases.append(img.digest)
            copy_root(img.rootfs, root)
            env = dict(img.config.env)
            workdir = img.config.workdir or "/"
            user = img.config.user
            self.log.append(f"FROM {image} -> {img.ref}@{img.digest}{' (cached)' if img.cached else ''}")
        env.setdefault("PATH", DEFAULT_PATH)
        self.stages.append(
            Stage(index=len(self.stages), name=alias, root=root, env=env, workdir=workdir, user=user)
        )

    def _stage_named(self, name: str) -> Stage | None:
        for st in self.stages:
            if st.name == name.lower() or (name.isdigit() and st.index == int(name)):
                return st
        return None

    def _sandbox(self, st: Stage) -> Sandbox:
        if st.sandbox is None:
            ro: list[tuple[Path, str]] = [(self.staging, STAGE_IN_SANDBOX)]
            if HOST_CA_BUNDLE.is_file():
                ro.append((HOST_CA_BUNDLE, CA_IN_SANDBOX))
            for other in self.stages[: st.index]:
                ro.append((other.root, f"{STAGES_IN_SANDBOX}/{other.index}"))
            for i, img in enumerate(self.external.values()):
                ro.append((img.rootfs, f"{STAGES_IN_SANDBOX}/ext{i}"))
            spec = SandboxSpec(
                root=st.root,
                root_writable=True,
                workdir="/",
                network=True,
                userns_root=True,
                memory_mb=self.memory_mb,
                pids_max=8192,
                ro_binds=ro,
                name=f"build-{self.name}"[:40],
            )
            st.sandbox = make_sandbox(spec)  # Ctrl-C stops it (looplab.cancel)
            st.sandbox.start()
        return st.sandbox

    def _stop(self, st: Stage) -> None:
        if st.sandbox is not None:
            st.sandbox.stop()
            st.sandbox = None

    # ---- users ----------------------------------------------------------------------------
    def _user_ids(self, st: Stage, spec: str) -> tuple[int, int]:
        return image_user_ids(st.root, spec)

    # ---- RUN ------------------------------------------------------------------------------
    def _run(self, st: Stage, ins: Instruction, scope: dict[str, str]) -> None:
        sb = self._sandbox(st)
        argv = ins.json_args()
        command = argv if argv else [*st.shell, ins.args]
        env = {"HOME": "/root", **scope}
        if HOST_CA_BUNDLE.is_file():
            env.update({k: CA_IN_SANDBOX for k in CA_ENV if k not in scope})
        user = self._user_ids(st, st.user) if st.user else (0, 0)
        if user[0] != 0:
            home = _table(st.root / "etc" / "passwd")
            env["HOME"] = next((r[5] for r in home.values() if r[2] == str(user[0])), "/")
        self._copier(st, [{"op": "mkdir", "src": "", "dest": st.workdir}], None, None)
        r = sb.exec(
            command, timeout=self.timeout_s, env=env, cwd=st.workdir, user=None if user == (0, 0) else user
        )
        cancel.check()  # stopped by Ctrl-C: the step did not fail
        sb.kill_processes()  # nothing a step started may keep running into the next one
        self.log.append(f"$ {ins.args}\n{r.stdout[-4000:]}{r.stderr[-4000:]}")
        if not r.ok:
            last = (r.stderr.strip() or r.stdout.strip() or "no output").splitlines()[-1][:300]
            what = "timed out" if r.timed_out else f"exit {r.exit_code}"
            raise LooplabError(f"RUN failed ({what}): {ins.args.strip()[:120]}: {last}")

    # ---- COPY / ADD -----------------------------------------------------------------------
    def _copy(self, st: Stage, ins: Instruction, scope: dict[str, str]) -> None:
        words = ins.json_args() or split_words(ins.args)
        words = [substitute(w, scope) for w in words]
        if len(words) < 2:
            raise LooplabError(f"{ins.op} needs a source and a destination")
        sources, dest = words[:-1], words[-1]
        dest_abs = os.path.normpath(dest if dest.startswith("/") else os.path.join(st.workdir, dest))
        into_dir = dest.endswith("/") or len(sources) > 1
        chown = ins.flags.get("chown")
        ids = self._user_ids(st, substitute(chown, scope)) if chown else None
        chmod = ins.flags.get("chmod")
        mode = None
        if chmod:
            try:
                mode = int(chmod, 8)
            except ValueError:
                raise LooplabError(f"--chmod={chmod}: expected an octal mode such as 755") from None
        items: list[dict] = []
        src_from = ins.flags.get("from")
        if src_from is not None:
            root_in_sandbox = self._from_root(st, substitute(src_from, scope))
            for s in sources:
                items.append(
                    {"op": "copy", "root": root_in_sandbox, "src": s, "dest": dest_abs, "into_dir": into_dir}
                )
        else:
            for old in self.staging.iterdir():  # empty it in place: the sandbox has this folder bound
                remove_tree(old)
            for n, s in enumerate(sources):
                for k, path in enumerate(self._context_matches(ins.op, s)):
                    staged = self.staging / f"{n}-{k}"
                    if ins.op == "ADD" and path.is_file() and tarfile.is_tarfile(path):
                        staged.mkdir()
                        with tarfile.open(path) as tf:
                            tf.extractall(staged, filter="data")
                        items.append(
                            {
                                "op": "copy",
                                "src": f"{STAGE_IN_SANDBOX}/{staged.name}",
                                "dest": dest_abs,
                                "into_dir": True,
                            }
                        )
                        continue
                    if path.is_dir():
                        shutil.copytree(path, staged, symlinks=True)
                        src = f"{STAGE_IN_SANDBOX}/{staged.name}"
                    else:
                        staged.mkdir()
                        shutil.copy2(path, staged / path.name, follow_symlinks=False)
                        src = f"{STAGE_IN_SANDBOX}/{staged.name}/{path.name}"
                    items.append({"op": "copy", "src": src, "dest": dest_abs, "into_dir": into_dir})
            _world_readable(self.staging)
        self._copier(st, items, ids or (0, 0), mode)

    def _context_matches(self, op: str, source: str) -> list[Path]:
        if op == "ADD" and source.startswith(("http://", "https://", "git@")):
            raise LooplabError("ADD from a URL is not supported: download it in a RUN step")
        pattern = str(self.context / source.lstrip("/"))
        found = sorted(glob.glob(pattern)) if any(c in source for c in "*?[") else [pattern]
        found = [f for f in found if os.path.basename(f) != ".dockerignore"]
        if not found or not all(os.path.lexists(f) for f in found):
            raise LooplabError(f"{op} source not found in the build context {self.context}: {source}")
        out = []
        for f in found:
            p = Path(f)
            if not p.resolve().is_relative_to(self.context):
                raise LooplabError(f"{op} source escapes the build context: {source}")
            out.append(p)
        return out

    def _from_root(self, st: Stage, ref: str) -> str:
        """The sandbox path of the root ``COPY --from=ref`` reads: an earlier stage or an image."""
        other = self._stage_named(ref)
        if other is not None:
            if other.index >= st.index:
                raise LooplabError(f"COPY --from={ref}: a stage can only copy from an earlier one")
            return f"{STAGES_IN_SANDBOX}/{other.index}"
        if ref not in self.external:
            img = pull(ref, self.options)
            self.bases.append(img.digest)
            self.external[ref] = img
            self._stop(st)  # restart with the image's root bound
        return f"{STAGES_IN_SANDBOX}/ext{list(self.external).index(ref)}"

    def _copier(self, st: Stage, items: list[dict], ids: tuple[int, int] | None, mode: int | None) -> None:
        sb = self._sandbox(st)
        job = {"items": items, "uid": ids[0] if ids else None, "gid": ids[1] if ids else None, "chmod": mode}
        argv = [*image_server_argv(), "-s", "-S", "-c", COPIER_SOURCE, json.dumps(job)]
        r = sb.exec(argv, timeout=600, env={"PYTHONHOME": HOST_USR_IN_SANDBOX}, cwd="/")
        cancel.check()
        if not r.ok:
            last = (r.stderr.strip() or "no output").splitlines()[-1][:300]
            raise LooplabError(f"copy into the image failed: {last}")


def image_user_ids(root: Path, spec: str) -> tuple[int, int]:
    """uid, gid of ``user[:group]`` (a USER line) looked up in the image's /etc/passwd and /etc/group."""
    user, _, group = spec.partition(":")
    passwd = _table(root / "etc" / "passwd")
    groups = _table(root / "etc" / "group")
    if user.isdigit():
        uid = int(user)
        gid = next((int(r[3]) for r in passwd.values() if r[2] == user), uid)
    elif user in passwd:
        uid, gid = int(passwd[user][2]), int(passwd[user][3])
    else:
        raise LooplabError(f"unable to find user {user}: no such user in the image's /etc/passwd")
    if group:
        if group.isdigit():
            gid = int(group)
        elif group in groups:
            gid = int(groups[group][2])
        else:
            raise LooplabError(f"unable to find group {group} in the image's /etc/group")
    return uid, gid


def _table(path: Path) -> dict[str, list[str]]:
    """/etc/passwd or /etc/group as name -> fields (read on the host, never through a symlink)."""
    data = read_regular_under(path.parents[1], f"{path.parent.name}/{path.name}", 1 << 22)
    if data is None:
        return {}
    out = {}
    for line in data.decode(errors="replace").splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[0]:
            out[fields[0]] = fields + [""] * (7 - len(fields))
    return out


def _world_readable(root: Path) -> None:
    from looplab.fsutil import make_world_readable

    make_world_readable(root)


def _clean_build_mounts(root: Path) -> None:
    """Remove the mount points the build sandbox left in the root (``/.looplab``)."""
    p = root / ".looplab"
    if p.is_symlink():
        p.unlink()
    elif p.exists():
        remove_tree(p)
