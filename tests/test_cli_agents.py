"""CLI agents' preflight through ``looplab run``: a missing tool, key or price is one clear line, no trial started."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import REPO, run_cli

FAKE_CLI = REPO / "tests" / "fixtures" / "fake_cli"


def _run(tmp_path: Path, task: Path, *args: str, env: dict[str, str]) -> tuple[int, str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "LOOPLAB_PRICES")
    }
    jobs = tmp_path / "jobs"
    r = run_cli(
        "run", "-p", str(task), *args, "--jobs-dir", str(jobs), "--job-name", "pre", env={**base, **env}
    )
    assert not any(jobs.glob("pre/*__*")), f"{args}: a trial folder was created"
    return r.returncode, r.stderr


def test_preflight_names_what_is_missing_before_any_trial(tmp_path: Path, tiny_task: Path) -> None:
    code, err = _run(tmp_path, tiny_task, "-a", "codex", "-m", "openai/gpt-5", env={"OPENAI_API_KEY": "k"})
    assert (
        code != 0
        and "codex: codex is not on the sandbox's PATH" in err
        and "npm install -g @openai/codex" in err
    )
    fake = ["--ak", f"mounts={FAKE_CLI}:/opt/fake_cli", "--ak", "bin=python3 /opt/fake_cli/fake_claude.py"]
    code, err = _run(tmp_path, tiny_task, "-a", "claude-code", "-m", "anthropic/claude-x", *fake, env={})
    assert code != 0 and "claude-code: set ANTHROPIC_API_KEY on the host" in err
    code, err = _run(tmp_path, tiny_task, "-a", "claude-code", "-m", "anthropic/claude-x", "--max-cost", "1", *fake,
                     env={"ANTHROPIC_API_KEY": "k"})  # fmt: skip
    assert code != 0 and "claude-code: no price for anthropic/claude-x (needed by --max-cost)" in err
    assert "set ANTHROPIC_API_KEY" not in err and "PATH" not in err  # only what is wrong
    code, err = _run(
        tmp_path, tiny_task, "-a", "claude-code", "--max-cost", "1", *fake, env={"ANTHROPIC_API_KEY": "k"}
    )
    assert code != 0 and "--max-cost needs -m PROVIDER/MODEL" in err
