"""CLI agents' preflight through ``looplab run``: a missing tool, key or price is one clear line, no trial started."""

from __future__ import annotations

import json
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
    code, err = _run(
        tmp_path,
        tiny_task,
        "-a",
        "claude-code",
        "-m",
        "anthropic/claude-x",
        "--max-cost",
        "1",
        *fake,
        env={"ANTHROPIC_API_KEY": "k"},
    )
    assert code != 0 and "claude-code: no price for anthropic/claude-x (needed by --max-cost)" in err
    assert "set ANTHROPIC_API_KEY" not in err and "PATH" not in err  # only what is wrong
    code, err = _run(
        tmp_path, tiny_task, "-a", "claude-code", "--max-cost", "1", *fake, env={"ANTHROPIC_API_KEY": "k"}
    )
    assert code != 0 and "--max-cost needs -m PROVIDER/MODEL" in err


def test_a_cli_agent_in_a_lab_counts_its_spend_through_the_gateway(tmp_path: Path, monkeypatch) -> None:
    from fakes.llm_servers import ScriptedLLMServer, reply, tool
    from fakes.trials import write_prices
    from lab_helpers import make_lab, records, run_lab, tip, tree_files

    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-lab-real")
    model = "anthropic/scripted-lab"
    prices = write_prices(tmp_path / "prices.toml", model, 2.0, 10.0)
    script = [
        reply(
            tool("Bash", command="echo '{\"x\": 3.5}' > /app/pipeline/params.json"),
            input_tokens=1000,
            output_tokens=10,
        ),
        reply(text="moved x next to 3", input_tokens=1200, output_tokens=30),
    ]
    with ScriptedLLMServer("anthropic", script, api_key="sk-lab-real") as srv:
        lab = make_lab(
            tmp_path / "r",
            agent={
                "name": "claude-code",
                "model": model,
                "timeout_sec": 120,
                "kwargs": {
                    "base_url": srv.base_url,
                    "prices": str(prices),
                    "mounts": f"{FAKE_CLI}:/opt/fake_cli",
                    "bin": "python3 /opt/fake_cli/fake_claude.py",
                },
            },
        )
        s = run_lab(lab, max_iterations=3, max_cost=0.002)
    assert srv.problems == [] and srv.n_model_calls == 2
    assert all(r["headers"]["x-api-key"] == "sk-lab-real" for r in srv.requests)
    r = records(lab)[1]
    assert (r.status, r.score) == ("keep", 0.5)
    assert (r.input_tokens, r.output_tokens) == (2200, 40)  # the gateway's count of what the server sent
    assert abs(r.cost_usd - (2200 * 2.0 + 40 * 10.0) / 1e6) < 1e-12
    assert json.loads(tree_files(lab, tip(lab), "pipeline")["pipeline/params.json"]) == {"x": 3.5}
    assert s.stop_reason == "max_cost" and s.experiments == 1  # $0.0048 spent of the lab's $0.002
