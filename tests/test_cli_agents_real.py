"""The real CLI coding agents, installed from npm and PyPI, against scripted model servers (slow).

Each tool is installed once into a cache (``$LOOPLAB_CLI_CACHE``, default
``/var/tmp/looplab-clis``; npm packages under ``npm/``, PyPI ones in their own venv
made with the system python so the sandbox user can run them), mounted read-only
into the sandbox and run as ``-a NAME -m PROVIDER/MODEL --base-url URL`` on the tiny
task. The scripted server speaks the tool's protocol (Anthropic SSE with tool_use,
OpenAI Responses SSE with function calls, Chat Completions) and asks for one shell
command, which writes the value, reports the sandbox user and counts how many
process environments in the sandbox hold the real key. The test checks that the
command ran in the sandbox (its output came back to the model), that the usage in
result.json equals what the server sent, that nothing in the sandbox or the trial
folder holds the key, and that ``--max-turns 1`` stops the tool with ``max_turns``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import KEY_PROBE, KEY_VARS, REAL, expected_usage, install, no_key_in
from fakes.llm_servers import ScriptedLLMServer, reply, tool
from fakes.trials import TINY_TASK, trial

pytestmark = pytest.mark.slow

# no $(...): gemini-cli refuses command substitution
CMD = "echo 9 > /app/value.txt; " + KEY_PROBE


@dataclass
class Case:
    agent: str
    flavor: str
    model: str
    key_env: str
    first: dict[str, Any]
    last: dict[str, Any]
    runs_commands: bool = True
    cap_first: dict[str, Any] | None = None  # the first reply of the cap test, when it must differ
    served: list[dict[str, Any]] = field(default_factory=list)


def _edit() -> str:
    old = (TINY_TASK / "environment" / "value.txt").read_text()
    return f"value.txt\n```\n<<<<<<< SEARCH\n{old}=======\n9\n>>>>>>> REPLACE\n```\n"


CASES = {
    "claude-code": Case(
        "claude-code",
        "anthropic",
        "anthropic/claude-sonnet-4-5",
        "ANTHROPIC_API_KEY",
        reply(
            tool("Bash", command=CMD),
            text="Setting.",
            input_tokens=400,
            output_tokens=42,
            cache_read=100,
            cache_write=20,
        ),
        reply(text="Done.", input_tokens=500, output_tokens=7),
    ),
    "codex": Case(
        "codex",
        "responses",
        "openai/gpt-5",
        "OPENAI_API_KEY",
        reply(
            tool("exec_command", cmd=CMD), text="Setting.", input_tokens=400, output_tokens=42, cache_read=100
        ),
        reply(text="Done.", input_tokens=500, output_tokens=7),
    ),
    "qwen-code": Case(
        "qwen-code",
        "openai",
        "openai/gpt-4o",
        "OPENAI_API_KEY",
        reply(
            tool("run_shell_command", command=CMD),
            text="Setting.",
            input_tokens=400,
            output_tokens=42,
            cache_read=100,
        ),
        reply(text="Done.", input_tokens=500, output_tokens=7),
    ),
    "mini-swe-agent": Case(
        "mini-swe-agent",
        "openai",
        "openai/gpt-4o",
        "OPENAI_API_KEY",
        reply(tool("bash", command=CMD), text="Setting.", input_tokens=400, output_tokens=42, cache_read=100),
        reply(
            tool("bash", command="echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"),
            input_tokens=500,
            output_tokens=7,
        ),
    ),
    "gemini-cli": Case(
        "gemini-cli",
        "gemini",
        "gemini/gemini-2.5-flash",
        "GEMINI_API_KEY",
        reply(
            tool("run_shell_command", command=CMD),
            text="Setting.",
            input_tokens=400,
            output_tokens=42,
            cache_read=100,
        ),
        reply(text="Done.", input_tokens=500, output_tokens=7),
    ),
    "aider": Case(
        "aider",
        "openai",
        "openai/gpt-4o",
        "OPENAI_API_KEY",
        reply(text="Setting it.\n\n" + _edit(), input_tokens=400, output_tokens=42, cache_read=100),
        reply(text="Done.", input_tokens=500, output_tokens=7),
        runs_commands=False,
        # an edit that does not apply: aider reflects, and that second call crosses the cap
        cap_first=reply(
            text="value.txt\n```\n<<<<<<< SEARCH\nno such line\n=======\n9\n>>>>>>> REPLACE\n```\n"
        ),
    ),
}


def _answer(case: Case) -> Any:
    def answer(i: int, body: dict[str, Any]) -> dict[str, Any]:
        if case.flavor == "anthropic" and not body.get("tools"):  # a side call (e.g. a title)
            step = reply(text="side", input_tokens=5, output_tokens=1)
        else:
            step = case.first if not [s for s in case.served if s is case.first] else case.last
        case.served.append(step)
        return step

    return answer


def _run(
    case: Case, trial_dir: Path, monkeypatch: pytest.MonkeyPatch, **budget: Any
) -> tuple[dict, ScriptedLLMServer]:
    binary, mount = install(case.agent)
    for var in KEY_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv(case.key_env, REAL)
    case.served = []
    with ScriptedLLMServer(case.flavor, _answer(case), api_key=REAL) as srv:
        kwargs = {"base_url": srv.base_url, "bin": binary, "mounts": mount}
        res = trial(TINY_TASK, trial_dir, case.agent, case.model, kwargs, timeout=180, **budget)
    return res, srv


@pytest.mark.parametrize("name", list(CASES))
def test_real_cli_runs_through_the_gateway(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = CASES[name]
    res, srv = _run(case, tmp_path / "t", monkeypatch)
    ar = res["agent_result"]
    assert res["status"] == "completed", res["exception_info"]
    assert ar["stop_reason"] == "finished", ar
    assert res["reward"] == pytest.approx(0.9)  # the tool's edit, verified
    assert srv.problems == []
    assert all(
        REAL
        in (
            r["headers"].get("x-api-key"),
            r["headers"].get("x-goog-api-key"),
            r["headers"].get("authorization", "").removeprefix("Bearer "),
        )
        for r in srv.requests
    )
    if case.runs_commands:  # the command ran in the sandbox and its output went back to the model
        later = json.dumps([r["body"] for r in srv.requests[1:]])
        ran = re.findall(r"RAN (\d+) (\S+) KEYS (\d+)", later)
        assert ran, f"the command's output never reached the model: {later[-3000:]}"
        assert ran[0] == ("65534", "looplab", "0"), (
            ran
        )  # the sandbox user, the sandbox, no key in any environ
    usage = {k: v for k, v in ar["usage"].items() if k != "cost_usd"}
    assert usage == expected_usage(case.served), (usage, case.served)
    calls = [json.loads(x) for x in (tmp_path / "t" / "agent" / "model-calls.jsonl").read_text().splitlines()]
    assert sum(1 for c in calls if c.get("usage", {}).get("n_calls")) == len(case.served)
    no_key_in(tmp_path / "t")


@pytest.mark.parametrize("name", list(CASES))
def test_real_cli_is_stopped_at_the_model_call_cap(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = CASES[name]
    if case.cap_first is not None:
        case = dataclasses.replace(case, first=case.cap_first)
    res, srv = _run(case, tmp_path / "t", monkeypatch, max_turns=1)
    ar = res["agent_result"]
    assert ar["stop_reason"] == "max_turns", ar
    assert srv.n_model_calls == 1 and ar["usage"]["n_calls"] == 1
    calls = [json.loads(x) for x in (tmp_path / "t" / "agent" / "model-calls.jsonl").read_text().splitlines()]
    refused = [c for c in calls if c.get("refused")]
    assert refused and all("model-call budget is spent" in c["response"] for c in refused)
    logs = [p for p in (tmp_path / "t" / "agent" / "sandbox-logs").rglob("*") if p.is_file()]
    assert any("budget is spent" in p.read_text(errors="replace") for p in logs)  # the tool showed the error
    no_key_in(tmp_path / "t")
