"""Helpers for the lab tests: real git repositories holding a lab, and ways to inspect them."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path
from typing import Any

from looplab.lab.config import load_lab
from looplab.lab.log import Record, read_records
from looplab.lab.loop import LabLoop, RunOptions, RunSummary

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@t",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@t",
}

# score = |x - 3| from pipeline/params.json (lower is better); invalid JSON is a broken build
DISTANCE_BACKEND = """
import json
from pathlib import Path
from looplab.lab.backend import EvalBackend, EvalResult, SampleResult

class Backend(EvalBackend):
    def evaluate(self, pipeline_dir, data_dir, sample_ids=None):
        params = json.loads((Path(pipeline_dir) / "pipeline" / "params.json").read_text())
        d = abs(params["x"] - 3)
        return EvalResult(score=d, metrics={"x": params["x"]}, samples=[SampleResult(sample_id="only", score=d)])
"""


def git(repo: Path, *args: str) -> str:
    p = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV},
        check=True,
    )
    return p.stdout


def make_lab(
    root: Path,
    *,
    backend: str = "entry",
    backend_code: str = DISTANCE_BACKEND,
    command: str | None = None,
    direction: str = "lower",
    files: dict[str, str] | None = None,
    agent_script: str | None = None,
    agent: dict[str, Any] | None = None,
    noise: dict[str, Any] | None = None,
    stop: dict[str, Any] | None = None,
    lab_rel: str = "",
    extra_toml: str = "",
) -> Path:
    """A git repo at ``root`` with a lab at ``root/lab_rel``; everything committed. Returns the lab folder."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q")
    (root / "README.md").write_text("a user's project\n")
    lab = root / lab_rel if lab_rel else root
    lab.mkdir(parents=True, exist_ok=True)
    for rel, text in (
        files or {"pipeline/params.json": '{"x": 10}\n', "pipeline/helper.txt": "helper\n"}
    ).items():
        p = lab / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    if backend == "entry":
        (lab / "backend.py").write_text(backend_code)
        backend_toml = 'entry = "backend.py:Backend"'
    else:
        backend_toml = f"command = {json.dumps(command)}"
    if agent_script is not None:
        (lab / "agent.sh").write_text(textwrap.dedent(agent_script).lstrip())
    agent = agent or {"name": "command", "kwargs": {"script": "agent.sh"}, "timeout_sec": 60}
    (lab / "AGENT.md").write_text("Improve the pipeline.\n")
    (lab / ".gitignore").write_text("/.looplab/\n*.o\n")

    def table(d: dict[str, Any]) -> str:
        return "\n".join(f"{k} = {_toml(v)}" for k, v in d.items())

    toml = f"""
[lab]
name = "t"
pipeline = ["pipeline"]

[backend]
{backend_toml}
direction = "{direction}"
timeout_sec = 60

[agent]
{table(agent)}

[stop]
{table({"max_iterations": 1, "plateau": "off", **(stop or {})})}

[noise]
{table({"repeats": 1, **(noise or {})})}
{extra_toml}
"""
    (lab / "lab.toml").write_text(toml)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return lab


def _toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml(x)}" for k, x in v.items()) + " }"
    return json.dumps(v)


def run_lab(lab_dir: Path, data: Path | None = None, **limits: Any) -> RunSummary:
    events: list[tuple[str, dict]] = []
    loop = LabLoop(
        load_lab(lab_dir),
        RunOptions(data_dir=data, limits=limits or None),
        lambda k, i: events.append((k, i)),
    )
    summary = loop.run()
    summary.events = events  # type: ignore[attr-defined]
    return summary


def records(lab_dir: Path) -> list[Record]:
    return read_records(lab_dir / ".looplab" / "results.jsonl")


def tree_files(repo: Path, ref: str, prefix: str) -> dict[str, str]:
    """{path: content} of the files under ``prefix`` at ``ref``."""
    names = [n for n in git(repo, "ls-tree", "-r", "--name-only", ref, "--", prefix).splitlines() if n]
    return {n: git(repo, "show", f"{ref}:{n}") for n in names}


def disk_files(repo: Path, prefix: str) -> dict[str, str]:
    base = repo / prefix
    out = {}
    for p in sorted(base.rglob("*")):
        if p.is_file():
            out[p.relative_to(repo).as_posix()] = p.read_text()
    return out


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tip(repo: Path, branch: str = "lab/t") -> str:
    return git(repo, "rev-parse", f"refs/heads/{branch}").strip()
