"""Image mode builds: FROM pulled from a real registry on 127.0.0.1, RUN executed inside the image.

The base images are stand-ins built from Debian packages (tests/image_helpers.py), pushed
into Debian's docker-registry once and cached on disk between sessions.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from looplab.environment.build import build_environment
from looplab.errors import LooplabError
from looplab.sandbox.base import SandboxSpec
from looplab.sandbox.bwrap import BwrapSandbox
from looplab.tasks.loader import load_task


def make_task(root: Path, dockerfile: str, files: dict[str, str] | None = None, looplab: str = "") -> Path:
    """A minimal Harbor-style task folder (no [looplab] section unless given) with this Dockerfile."""
    (root / "environment").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "instruction.md").write_text("Do nothing.\n")
    (root / "task.toml").write_text('version = "1.0"\n[verifier]\ntimeout_sec = 60\n' + looplab)
    (root / "tests" / "test.sh").write_text("#!/bin/bash\necho 1 > /logs/verifier/reward.txt\n")
    (root / "environment" / "Dockerfile").write_text(dockerfile)
    for name, text in (files or {}).items():
        (root / "environment" / name).write_text(text)
    return root


def build(path: Path):  # noqa: ANN201
    return build_environment(load_task(path))


def in_sandbox(env, command: str, timeout: float = 60) -> str:  # noqa: ANN001
    sb = BwrapSandbox(SandboxSpec(root=env.root, env=env.env, workdir=env.workdir, name="t-image"))
    sb.start()
    try:
        r = sb.exec(command, timeout=timeout)
    finally:
        sb.stop()
    assert r.ok, r.stdout + r.stderr
    return r.stdout


def test_python_less_image_runs_sandboxes_on_its_own_root(tmp_path: Path, image_registry) -> None:
    reg = image_registry.ensure("debian")
    task = make_task(tmp_path / "t", f"FROM {reg}\nWORKDIR /app\nCOPY hello.txt ./\n", {"hello.txt": "hi\n"})
    env = build(task)
    assert env.base == "image" and env.workdir == "/app" and len(env.images) == 1
    out = in_sandbox(
        env,
        "cat /etc/debian_version; command -v python3 || echo no-python; "
        "command -v bwrap || echo no-bwrap; cat hello.txt; id -u; touch /usr/x 2>&1 || true",
    )
    lines = out.splitlines()
    assert lines[0].startswith("12.")
    assert "no-python" in lines and "no-bwrap" in lines  # the image's /usr, not the host's
    assert "hi" in lines and "Read-only file system" in out
    assert lines[lines.index("hi") + 1] != "0"  # agents run unprivileged


def test_run_steps_apt_tmp_user_multistage_and_cache(tmp_path: Path, image_registry) -> None:
    reg = image_registry.ensure("debian")
    dockerfile = f"""FROM {reg} AS builder
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends jq >/dev/null && rm -rf /var/lib/apt/lists/*
COPY data.txt /tmp/data.txt
RUN cp /tmp/data.txt /opt/from-tmp.txt && jq --version > /opt/jq-version
RUN useradd -m -u 1234 worker
COPY --chown=worker:worker --chmod=640 secret.txt /home/worker/secret.txt
USER worker
RUN id -u > /home/worker/whoami && stat -c '%U %a' /home/worker/secret.txt > /home/worker/owner
FROM {reg}
ARG GREETING=hello
ENV GREETING=$GREETING
COPY --from=builder /opt/ /opt/
COPY --from=builder /home/worker/whoami /home/worker/owner /app/
WORKDIR /app
LABEL session={uuid.uuid4().hex}
"""
    # the LABEL makes the build new in every session (the base image itself stays cached)
    task = make_task(tmp_path / "t", dockerfile, {"data.txt": "from tmp\n", "secret.txt": "s\n"})
    env = build(task)
    assert not env.cached and env.env["GREETING"] == "hello" and env.workdir == "/app"
    root = env.root
    assert (root / "opt" / "from-tmp.txt").read_text() == "from tmp\n"  # COPY into /tmp, then RUN saw it
    assert (root / "opt" / "jq-version").read_text().startswith("jq-1.6")  # apt-get really ran
    assert (root / "app" / "whoami").read_text().strip() == "1234"  # USER applied to RUN
    assert (root / "app" / "owner").read_text().split() == ["worker", "640"]  # --chown/--chmod
    assert not (root / "usr" / "bin" / "jq").exists()  # the final stage is the second FROM
    assert "GREETING=hello" in in_sandbox(env, "env")
    t0 = time.monotonic()
    again = build(task)
    assert again.cached and again.key == env.key and time.monotonic() - t0 < 5


def test_pinned_pip_version_is_installed_in_the_image(tmp_path: Path, image_registry) -> None:
    reg = image_registry.ensure("python")
    dockerfile = f"FROM {reg}\nRUN pip install --no-cache-dir -q six==1.15.0\nWORKDIR /app\n"
    env = build(make_task(tmp_path / "t", dockerfile))
    assert in_sandbox(env, "python -c 'import six; print(six.__version__)'").strip() == "1.15.0"


@pytest.mark.parametrize(
    ("dockerfile", "expect"),
    [
        ("FROM {reg}\nWORKDIR /app\nRUN echo building && exit 7\n", r"Dockerfile:3: RUN failed \(exit 7\)"),
        ("FROM {host}/looplab-missing:1\n", r"Dockerfile:1: image .*looplab-missing:1 not found in registry"),
        ("FROM 127.0.0.1:9/debian:bookworm\n", r"Dockerfile:1: registry 127.0.0.1:9 unreachable"),
        ("FROM {reg}\nUSER nobody-here\n", r"Dockerfile:2: unable to find user nobody-here"),
    ],
    ids=["failing-run", "missing-image", "unreachable-registry", "unknown-user"],
)
def test_build_errors_are_one_clear_line(
    tmp_path: Path, image_registry, dockerfile: str, expect: str
) -> None:
    reg = image_registry.ensure("debian")
    task = make_task(tmp_path / "t", dockerfile.format(reg=reg, host=image_registry.address))
    with pytest.raises(LooplabError, match=expect) as info:
        build(task)
    assert "\n" not in str(info.value)
