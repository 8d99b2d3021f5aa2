"""Budget caps on the llm agent: a scripted model that never finishes is stopped by each cap.

Each run first writes 4 into the fixture task's value file, then keeps working forever.
The agent phase must end cleanly with the cap's stop reason, the model calls must stop
where the cap says, and the sealed verifier must still score what was left (0.4).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakes.llm_servers import ScriptedLLMServer, reply, tool
from fakes.trials import TINY_TASK, events, trial, write_prices

MODEL = "openai/scripted-budget"


def _forever(command: str, input_tokens: int = 1000, output_tokens: int = 0) -> list[dict]:
    return [
        reply(
            tool("write_file", path="value.txt", content="4\n"),
            input_tokens=input_tokens,
            output_tokens=output_tokens,
        ),
        reply(tool("shell", command=command), input_tokens=input_tokens, output_tokens=output_tokens),
    ]


def _run(
    tmp_path: Path, script: list[dict], timeout: float = 60, **budget: float
) -> tuple[dict, ScriptedLLMServer]:
    prices = write_prices(
        tmp_path / "prices.toml", MODEL, input=10.0, output=0.0
    )  # 1000 input tokens = $0.01
    with ScriptedLLMServer("openai", script, repeat_last=True) as srv:
        res = trial(
            TINY_TASK,
            tmp_path / "t",
            "llm",
            MODEL,
            {"base_url": srv.base_url, "prices": str(prices)},
            timeout=timeout,
            **budget,
        )
    assert res["status"] == "completed", res["exception_info"]
    assert res["reward"] == pytest.approx(0.4), res["verifier_result"]  # what was left was verified
    assert srv.problems == []
    return res, srv


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "k")


def test_time_cap_stops_a_never_ending_command(tmp_path: Path) -> None:
    res, srv = _run(tmp_path, _forever("sleep 1000"), timeout=4)
    ar = res["agent_result"]
    assert ar["stop_reason"] == "timeout" and ar["error"] is None
    shell = [e for e in events(tmp_path / "t", "observation") if e.get("tool") == "shell"]
    assert shell and shell[0]["timed_out"]  # the command was capped at the time left, not 1000 s
    assert "capped at the time left" in shell[0]["content"]
    assert events(tmp_path / "t", "stop")[0]["stop_reason"] == "timeout"
    assert srv.n_model_calls <= 3


def test_turn_cap(tmp_path: Path) -> None:
    res, srv = _run(tmp_path, _forever("echo still working"), max_turns=5)
    ar = res["agent_result"]
    assert ar["stop_reason"] == "max_turns" and ar["turns"] == 5 and srv.n_model_calls == 5
    assert "Turn 5 of at most 5." in json.dumps(srv.requests[-1]["body"]["messages"][-1])
    cap = events(tmp_path / "t", "cap")
    assert cap and cap[0]["stop_reason"] == "max_turns"


def test_cost_cap(tmp_path: Path) -> None:
    res, srv = _run(tmp_path, _forever("echo still working"), max_cost_usd=0.035)
    ar = res["agent_result"]
    # $0.01 per call: the 4th call crosses $0.035 and is the last one
    assert ar["stop_reason"] == "max_cost" and srv.n_model_calls == 4
    assert ar["usage"]["cost_usd"] == pytest.approx(0.04)
    assert "Cost so far: $0.0300 of $0.035." in json.dumps(srv.requests[-1]["body"]["messages"][-1])


def test_token_cap(tmp_path: Path) -> None:
    res, srv = _run(tmp_path, _forever("echo still working", output_tokens=20), max_tokens=2500)
    ar = res["agent_result"]
    assert ar["stop_reason"] == "max_tokens" and srv.n_model_calls == 3  # 1020 tokens per call
    assert ar["usage"]["input_tokens"] + ar["usage"]["output_tokens"] == 3060


def test_cost_cap_needs_a_price(tmp_path: Path) -> None:
    with ScriptedLLMServer("openai", [reply(text="x")]) as srv:
        res = trial(
            TINY_TASK,
            tmp_path / "t",
            "llm",
            "openai/unknown-model",
            {"base_url": srv.base_url},
            max_cost_usd=1.0,
        )
    ar = res["agent_result"]
    assert ar["stop_reason"] == "error" and "needs a price for openai/unknown-model" in ar["error"]
    assert srv.n_model_calls == 0
