"""Each real CLI agent runs a catalog task end to end, as a user runs it (slow).

``looplab run -p sorting_network16 -a NAME -m PROVIDER/MODEL --base-url URL``, with the
key variable set and the tool on PATH (installed from its registry into a cache,
``cli_helpers``), nothing else: no ``--ak``. The scripted server on 127.0.0.1 speaks
the tool's protocol and answers the first call with a shell command (an edit, for
aider) that writes Green's 60-comparator network into /app/network.txt and probes the
sandbox for the key; the sealed verifier scores it 1.0 (baseline 80 comparators,
reference 60). With ``--max-tokens 500`` the first call's usage (542 tokens) reaches
the cap, so the tool's next call is refused by the gateway and the trial stops with
``max_tokens``: the usage in result.json is exactly the served call's, and the
refused request (recorded, keys redacted) carries the probe's output: the command
ran as the sandbox user and no process environment there held the real key. The tool's
native log is converted: its model turns with their tool calls are in the trajectory and
the ATIF export. Per-CLI
figures are in docs/agents.md.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import KEY_PROBE, KEY_VARS, REAL, expected_usage, no_key_in, path_with
from conftest import REPO, run_cli
from fakes.llm_servers import ScriptedLLMServer, reply, tool
from fakes.trials import events

from looplab.records.atif import trial_atif

pytestmark = pytest.mark.slow

TASK = "sorting_network16"
START = (REPO / "tasks" / TASK / "environment" / "network.txt").read_text()
_TAIL = [
    (5, 10),
    (6, 9),
    (3, 12),
    (13, 14),
    (7, 11),
    (1, 2),
    (4, 8),
    (1, 4),
    (7, 13),
    (2, 8),
    (11, 14),
    (5, 6),
    (9, 10),
    (2, 4),
    (11, 13),
    (3, 8),
    (7, 12),
    (6, 8),
    (10, 12),
    (3, 5),
    (7, 9),
    (3, 4),
    (5, 6),
    (7, 8),
    (9, 10),
    (11, 12),
    (6, 7),
    (8, 9),
]
GREEN = [(i, i | b) for b in (1, 2, 4, 8) for i in range(16) if not i & b] + _TAIL  # 60 comparators
WRITE = "printf '%s\\n' " + " ".join(f"'{i} {j}'" for i, j in GREEN) + " > /app/network.txt; "
CMD = WRITE + KEY_PROBE
FIRST = {
    "input_tokens": 400,
    "output_tokens": 42,
    "cache_read": 100,
}  # 542 tokens: --max-tokens 500 is reached


def _aider_edit(capped: bool) -> str:
    new = "".join(f"{i} {j}\n" for i, j in GREEN)
    good = f"network.txt\n```\n<<<<<<< SEARCH\n{START}=======\n{new}>>>>>>> REPLACE\n```\n"
    # a second block that does not apply: aider applies the first, reflects, and that call meets the cap
    bad = "network.txt\n```\n<<<<<<< SEARCH\nno such line\n=======\n0 1\n>>>>>>> REPLACE\n```\n"
    return f"Writing Green's network.\n\n{good}" + (f"\n{bad}" if capped else "")


DONE = reply(text="Done.", input_tokens=500, output_tokens=7)


CASES: dict[str, tuple[str, str, str, dict[str, Any], dict[str, Any]]] = {
    "claude-code": (
        "anthropic",
        "anthropic/claude-sonnet-4-5",
        "ANTHROPIC_API_KEY",
        reply(tool("Bash", command=CMD), text="Writing.", cache_write=20, **FIRST),
        DONE,
    ),
    "codex": (
        "responses",
        "openai/gpt-5",
        "OPENAI_API_KEY",
        reply(tool("exec_command", cmd=CMD), text="Writing.", **FIRST),
        DONE,
    ),
    "qwen-code": (
        "openai",
        "openai/gpt-4o",
        "OPENAI_API_KEY",
        reply(tool("run_shell_command", command=CMD), text="Writing.", **FIRST),
        DONE,
    ),
    "mini-swe-agent": (
        "openai",
        "openai/gpt-4o",
        "OPENAI_API_KEY",
        reply(tool("bash", command=CMD), text="Writing.", **FIRST),
        reply(
            tool("bash", command="echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"),
            input_tokens=500,
            output_tokens=7,
        ),
    ),
    "gemini-cli": (
        "gemini",
        "gemini/gemini-2.5-flash",
        "GEMINI_API_KEY",
        reply(tool("run_shell_command", command=CMD), text="Writing.", **FIRST),
        DONE,
    ),
    "aider": ("openai", "openai/gpt-4o", "OPENAI_API_KEY", reply(text=_aider_edit(True), **FIRST), DONE),
}


@pytest.mark.parametrize("capped", [True, False], ids=["max_tokens", "uncapped"])
@pytest.mark.parametrize("name", list(CASES))
def test_real_cli_runs_a_catalog_task_with_only_agent_model_and_key(
    name: str, capped: bool, tmp_path: Path
) -> None:
    flavor, model, key_env, first, then = CASES[name]
    if name == "aider" and not capped:
        first = reply(text=_aider_edit(False), **FIRST)  # the edit alone: aider is done after one call
    served: list[dict[str, Any]] = []

    def answer(i: int, body: dict[str, Any]) -> dict[str, Any]:
        if flavor == "anthropic" and not body.get("tools"):  # a side call (e.g. a title)
            step = reply(text="side", input_tokens=5, output_tokens=1)
        else:  # capped, every call after the first is refused by the gateway before it gets here
            step = then if any(s is first for s in served) else first
        served.append(step)
        return step

    env = {k: v for k, v in os.environ.items() if k not in KEY_VARS}
    env.update({key_env: REAL, "PATH": path_with(name)})
    jobs = tmp_path / "jobs"
    cap = ["--max-tokens", "500"] if capped else []
    with ScriptedLLMServer(flavor, answer, api_key=REAL) as srv:
        t0 = time.monotonic()
        r = run_cli(
            "run",
            "-p",
            TASK,
            "-a",
            name,
            "-m",
            model,
            "--base-url",
            srv.base_url,
            *cap,
            "--agent-timeout",
            "300",
            "--jobs-dir",
            str(jobs),
            "--job-name",
            "j",
            env=env,
        )
        wall = time.monotonic() - t0
    assert r.returncode == 0, r.stderr[-3000:]
    (trial_dir,) = [p.parent for p in (jobs / "j").glob("*/result.json")]
    res = json.loads((trial_dir / "result.json").read_text())
    ar = res["agent_result"]
    assert res["status"] == "completed", res.get("exception_info")
    assert ar["stop_reason"] == ("max_tokens" if capped else "finished"), ar
    assert res["reward"] == pytest.approx(1.0)  # Green's 60 comparators, scored by the sealed verifier
    assert srv.problems == []
    assert [s for s in served if s is first] == [first]
    if capped:
        assert then not in served  # the cap let no second scripted call through
    usage = {k: v for k, v in ar["usage"].items() if k != "cost_usd"}
    assert usage == expected_usage(served), (usage, served)
    calls = [json.loads(x) for x in (trial_dir / "agent" / "model-calls.jsonl").read_text().splitlines()]
    refused = [c for c in calls if c.get("refused")]
    assert bool(refused) == capped and all(c["refused"] == "max_tokens" for c in refused)
    if name != "aider":  # the command ran in the sandbox and its output went back to the model
        later = [c.get("request") for c in calls[1:]]
        ran = re.findall(r"RAN (\d+) (\S+) KEYS (\d+)", json.dumps(later))
        assert ran and ran[0] == ("65534", "looplab", "0"), ran  # the sandbox user; no key in any environ
    turns = [e for e in events(trial_dir, "assistant") if e.get("tool_calls")]
    assert turns, "the tool's native log gave no model turn with its tool calls"
    steps = [s for s in trial_atif(trial_dir).steps if s.source == "agent" and s.tool_calls]
    assert steps and steps[0].observation is not None  # the ATIF step: the call and its result
    no_key_in(trial_dir)
    if out := os.environ.get("LOOPLAB_CLI_FIGURES"):  # a file to add this run's figures to (docs/agents.md)
        with open(out, "a") as fh:
            fh.write(
                json.dumps(
                    {
                        "agent": name,
                        "capped": capped,
                        "reward": res["reward"],
                        "stop_reason": ar["stop_reason"],
                        "usage": ar["usage"],
                        "refused": len(refused),
                        "wall_s": round(wall, 1),
                    }
                )
                + "\n"
            )
