"""The model gateway in a real trial: the real key never enters the sandbox, usage and ATIF come from the wire.

A command-template CLI agent runs a probe in the bubblewrap sandbox: it makes model
calls to the gateway with what the sandbox holds (``$OPENAI_BASE_URL``,
``$OPENAI_API_KEY``), then looks for the real key everywhere it can read: every
process's environment and command line under /proc, and every file under the
folders the sandbox can write or that are bound into it for the agent. The scripted
server must have got the real key; the probe must have found it nowhere.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakes.llm_servers import ScriptedLLMServer, reply, tool
from fakes.trials import REPO, TINY_TASK, events, trial

from looplab.records.atif import export_trial

REAL = "sk-real-key-4f9c2a71d3b8e605"
FAKE_CLI = REPO / "tests" / "fixtures" / "fake_cli"


def test_the_real_key_never_enters_the_sandbox_and_usage_is_metered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", REAL)
    half = len(REAL) // 2
    script = [
        reply(tool("shell", cmd="ls"), text="first", input_tokens=111, output_tokens=22, cache_read=33),
        reply(text="second", input_tokens=44, output_tokens=5),
    ]
    with ScriptedLLMServer("openai", script, api_key=REAL) as srv:
        kwargs = {
            "template": f"python3 /opt/fake_cli/key_probe.py {REAL[:half]} {REAL[half:]}",
            "mounts": f"{FAKE_CLI}:/opt/fake_cli",
            "base_url": srv.base_url,
        }
        res = trial(TINY_TASK, tmp_path / "t", "cli", "openai/gpt-4o", kwargs)
    ar = res["agent_result"]
    assert ar["stop_reason"] == "finished", ar
    out = events(tmp_path / "t", "cli_exit")[0]["stdout"]
    assert "reply first" in out and "reply second" in out
    line = next(x for x in out.splitlines() if x.startswith("key-token"))
    assert line.startswith("key-token looplab-trial-")  # the sandbox held the dummy token
    assert int(line.split()[3]) > 20 and json.loads(line.split("found ", 1)[1]) == []
    assert [r["headers"]["authorization"] for r in srv.requests] == [f"Bearer {REAL}"] * 2
    # usage equals what the server sent; gpt-4o list price 2.50 / 10 / 1.25 per million
    u = ar["usage"]
    assert (u["n_calls"], u["input_tokens"], u["cache_read_tokens"], u["output_tokens"]) == (2, 155, 33, 27)
    assert u["cost_usd"] == pytest.approx((155 * 2.5 + 33 * 1.25 + 27 * 10) / 1e6)
    assert res["reward"] == pytest.approx(0.7)
    # nothing the trial wrote holds the key
    for p in (tmp_path / "t").rglob("*"):
        if p.is_file():
            assert REAL.encode() not in p.read_bytes(), p
    # the tool wrote no native log: the ATIF steps are the gateway's model calls
    _, atif = export_trial(tmp_path / "t")
    agent_steps = [s for s in atif.steps if s.source == "agent"]
    assert [s.message for s in agent_steps] == ["first", "second"]
    assert agent_steps[0].tool_calls[0].function_name == "shell"
    assert agent_steps[0].metrics.prompt_tokens == 144 and agent_steps[0].metrics.cached_tokens == 33
    assert atif.final_metrics.total_completion_tokens == 27
    assert atif.final_metrics.total_cost_usd == pytest.approx(u["cost_usd"])


def test_a_cap_stops_a_template_agent_with_the_right_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", REAL)
    loop = (
        'python3 -c "import json,os,urllib.request as u\n'
        "while True:\n"
        " r=u.Request(os.environ['ANTHROPIC_BASE_URL']+'/v1/messages',data=json.dumps({'model':'claude-haiku-4-5',"
        "'max_tokens':9,'messages':[{'role':'user','content':'x'}]}).encode(),headers={'x-api-key':os.environ['ANTHROPIC_API_KEY'],"
        "'content-type':'application/json','anthropic-version':'2023-06-01'})\n"
        " try: u.urlopen(r,timeout=30).read()\n"
        " except Exception as e: print('refused', e.read().decode(), flush=True)\n\""
    )
    with ScriptedLLMServer(
        "anthropic", [reply(text="more", input_tokens=300, output_tokens=100)], repeat_last=True
    ) as srv:
        res = trial(
            TINY_TASK,
            tmp_path / "t",
            "cli",
            "anthropic/claude-haiku-4-5",
            {"template": loop, "base_url": srv.base_url},
            max_tokens=1000,
        )
    ar = res["agent_result"]
    assert ar["stop_reason"] == "max_tokens", ar
    assert srv.n_model_calls == 3 and ar["usage"]["input_tokens"] + ar["usage"]["output_tokens"] == 1200
    out = events(tmp_path / "t", "cli_exit")[0]["stdout"]
    assert "token budget is spent (max_tokens 1000, used 1200)" in out  # the tool saw the error
    assert events(tmp_path / "t", "cap")[0]["stop_reason"] == "max_tokens"
