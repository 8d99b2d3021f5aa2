"""The llm agent end to end against scripted model servers on 127.0.0.1 (both wire formats, real SDKs).

A catalog task (dedupe_lines) is solved by a scripted model: the commands must really
run in the sandbox, the sealed verifier must score the edit, tokens and dollars must add
up to the scripted usage priced by the user's price file, the trajectory must hold every
step, and its ATIF export must validate. Smaller tests cover the tools, retries, auth
failures and context compaction on the fast fixture task.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakes.llm_servers import ScriptedLLMServer, error, reply, tool
from fakes.trials import REPO, TINY_TASK, checkpoints, events, trial, write_prices

from looplab.agents.llm.providers import Message, make_provider
from looplab.errors import LooplabError
from looplab.records.atif import export_trial, validate_atif

DEDUPE = REPO / "tasks" / "dedupe_lines"
OLD_BODY = "    out = []\n    for line in lines:\n        if line not in out:\n            out.append(line)\n    return out"
NEW_BODY = "    return list(dict.fromkeys(lines))"
PRICES = {  # USD per million: input, output, cache read, cache write
    "openai": (2.0, 10.0, 0.5, 0.0),
    "anthropic": (3.0, 15.0, 0.3, 3.75),
}


def _dedupe_script(flavor: str) -> list[dict]:
    cw = 500 if flavor == "anthropic" else 0  # OpenAI reports no cache writes
    return [
        reply(
            tool("shell", command="hostname; id -u; cat /app/dedupe.py"),
            text="Looking first.",
            input_tokens=1200,
            output_tokens=40,
            cache_write=cw,
        ),
        reply(
            tool("apply_edit", path="dedupe.py", old_text=OLD_BODY, new_text=NEW_BODY),
            input_tokens=300,
            output_tokens=90,
            cache_read=1200,
        ),
        reply(tool("dev_check"), input_tokens=200, output_tokens=15, cache_read=1500),
        reply(
            tool("read_file", path="/app/dedupe.py"),
            input_tokens=250,
            output_tokens=12,
            cache_read=1700,
            cache_write=cw,
        ),
        reply(
            tool("finish", summary="linear-time dedupe with dict.fromkeys"),
            input_tokens=150,
            output_tokens=30,
            cache_read=1950,
        ),
    ]


# The task's own verifier takes 5-20 s (timed pairs); the Anthropic-format run of the same flow is marked
# slow to keep the default run short (the Anthropic path runs by default in the compaction and retry tests).
@pytest.mark.parametrize("flavor", ["openai", pytest.param("anthropic", marks=pytest.mark.slow)])
def test_llm_agent_solves_catalog_task_against_scripted_server(
    flavor: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = f"sk-test-{flavor}"
    monkeypatch.setenv("OPENAI_API_KEY" if flavor == "openai" else "ANTHROPIC_API_KEY", key)
    model = f"{flavor}/scripted-1"
    prices = write_prices(tmp_path / "prices.toml", model, *PRICES[flavor])
    script = _dedupe_script(flavor)
    tdir = tmp_path / "trial"
    with ScriptedLLMServer(flavor, script, api_key=key) as srv:
        res = trial(DEDUPE, tdir, "llm", model, {"base_url": srv.base_url, "prices": str(prices)})
    assert res["status"] == "completed", res["exception_info"]
    ar = res["agent_result"]
    assert ar["stop_reason"] == "finished" and ar["error"] is None and ar["turns"] == 5
    assert srv.problems == [] and srv.n_model_calls == 5

    # the scripted commands really ran in the sandbox: their output went back to the model
    def tool_output(req: dict) -> str:
        body = req["body"]
        if flavor == "openai":
            return "\n".join(m["content"] for m in body["messages"] if m["role"] == "tool")
        return "\n".join(
            b["content"]
            for m in body["messages"]
            if isinstance(m["content"], list)
            for b in m["content"]
            if b.get("type") == "tool_result"
        )

    second = tool_output(srv.requests[1])
    assert "looplab\n65534\n" in second and "if line not in out:" in second  # sandbox hostname, uid, the file
    assert "checkpoint 1 recorded; dev check exit code: 0" in tool_output(srv.requests[3])
    assert "correct on small inputs" in tool_output(srv.requests[3])
    assert NEW_BODY in tool_output(srv.requests[4])
    # every model call was told the elapsed and remaining time
    for req in srv.requests:
        assert "Time used:" in json.dumps(req["body"]["messages"][-1]) and "remaining:" in json.dumps(
            req["body"]["messages"][-1]
        )
    # the sealed verifier scored the edited file (a linear dedupe is hundreds of times faster)
    assert res["reward"] > 0.2, res["verifier_result"]
    assert res["verifier_result"]["carried_files"] == ["dedupe.py"]

    # tokens and dollars add up to the scripted usage at the price file's rates
    u = ar["usage"]
    want = {k: sum(s["usage"][k] for s in script) for k in ("input", "output", "cache_read", "cache_write")}
    assert (u["n_calls"], u["input_tokens"], u["output_tokens"]) == (5, want["input"], want["output"])
    assert (u["cache_read_tokens"], u["cache_write_tokens"]) == (want["cache_read"], want["cache_write"])
    pin, pout, pread, pwrite = PRICES[flavor]
    cost = (
        want["input"] * pin
        + want["output"] * pout
        + want["cache_read"] * pread
        + want["cache_write"] * pwrite
    ) / 1e6
    assert u["cost_usd"] == pytest.approx(cost, rel=1e-9)
    assistant = events(tdir, "assistant")
    assert sum(e["cost_usd"] for e in assistant) == pytest.approx(cost, rel=1e-9)

    # the trajectory is complete: every tool call has its command and observation, in order
    kinds = [e["type"] for e in events(tdir)]
    assert kinds[:3] == ["start", "system_prompt", "user"] and kinds[-2:] == ["finish", "stop"]
    assert len(assistant) == 5
    observed = {e["call_id"] for e in events(tdir, "observation") if e.get("call_id")}
    assert observed == {c["id"] for e in assistant for c in e["tool_calls"]}
    assert [c["n"] for c in checkpoints(tdir)] == [1, 2] and checkpoints(tdir)[-1]["final"]

    # ATIF export validates and carries the same totals
    out, atif = export_trial(tdir)
    doc = json.loads(out.read_text())
    validate_atif(doc)
    agent_steps = [s for s in atif.steps if s.source == "agent"]
    assert [s.source for s in atif.steps[:2]] == ["system", "user"] and len(agent_steps) == 5
    assert [c.function_name for s in agent_steps for c in s.tool_calls or []] == [
        "shell",
        "apply_edit",
        "dev_check",
        "read_file",
        "finish",
    ]
    fm = atif.final_metrics
    assert fm.total_prompt_tokens == want["input"] + want["cache_read"] + want["cache_write"]
    assert fm.total_completion_tokens == want["output"] and fm.total_cached_tokens == want["cache_read"]
    assert fm.total_cost_usd == pytest.approx(cost, rel=1e-6)
    assert doc["extra"]["reward"] == res["reward"] and doc["extra"]["stop_reason"] == "finished"


def test_llm_tools_truncate_time_out_and_report_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    script = [
        reply(tool("shell", command="python3 -c \"print('x' * 100000)\"")),
        reply(tool("shell", command="sleep 30", timeout=1)),
        reply(
            tool("apply_edit", path="value.txt", old_text="not there", new_text="1"),
            tool("read_file", path="score.sh", start_line=2, end_line=3),
            tool("no_such_tool"),
        ),
        reply(
            tool("write_file", path="sub/dir/notes.txt", content="hello"),
            tool("shell", command="cat sub/dir/notes.txt"),
        ),
        reply(text="I think I am done."),
        reply(text="Really done."),
    ]
    with ScriptedLLMServer("openai", script) as srv:
        res = trial(
            TINY_TASK,
            tmp_path / "t",
            "llm",
            "openai/gpt-4o",
            {"base_url": srv.base_url, "output_limit": "2000"},
        )
    assert res["status"] == "completed" and srv.problems == []
    obs = [e for e in events(tmp_path / "t", "observation") if e.get("call_id")]
    big, slow, edit, read, unknown, write, cat = obs
    assert (
        "characters omitted: output truncated to 2000 characters" in big["content"]
        and len(big["content"]) < 3000
    )
    assert slow["timed_out"] and "timed out after 1 s" in slow["content"] and slow["is_error"]
    assert edit["is_error"] and "occurs 0 times" in edit["content"]
    assert "(lines 2-3 of" in read["content"] and "prints the value" in read["content"]
    assert unknown["is_error"] and "unknown tool" in unknown["content"]
    assert not write["is_error"] and "hello" in cat["content"]
    # a reply without tools is nudged once, the second ends the run
    assert "You did not call a tool" in json.dumps(srv.requests[5]["body"]["messages"][-1])
    assert res["agent_result"]["stop_reason"] == "finished" and srv.n_model_calls == 6


def test_provider_retries_rate_limits_and_server_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
    script = [
        error(429, "slow down", {"retry-after": "0"}),
        error(529, "overloaded"),
        error(503),
        reply(text="ok"),
    ]
    retries: list[dict] = []
    with ScriptedLLMServer("anthropic", script) as srv:
        p = make_provider(
            "anthropic/m", base_url=srv.base_url, retry_base_delay=0.01, on_retry=retries.append
        )
        c = p.complete("sys", [Message("user", "hi")], [], timeout=30)
    assert c.text == "ok" and c.retries == 3 and srv.n_model_calls == 4
    assert [r["reason"] for r in retries] == ["HTTP 429", "HTTP 529", "HTTP 503"]
    with ScriptedLLMServer("anthropic", [error(500)] * 10) as srv:
        p = make_provider("anthropic/m", base_url=srv.base_url, max_retries=2, retry_base_delay=0.01)
        with pytest.raises(LooplabError, match="gave up after 3 attempts"):
            p.complete("sys", [Message("user", "hi")], [], timeout=30)
    assert srv.n_model_calls == 3


def test_auth_failure_is_a_clear_error_and_the_trial_still_verifies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "wrong-key")
    with ScriptedLLMServer("openai", [reply(text="never")], api_key="right-key") as srv:
        res = trial(TINY_TASK, tmp_path / "t", "llm", "openai/gpt-4o", {"base_url": srv.base_url})
    ar = res["agent_result"]
    assert ar["stop_reason"] == "error" and srv.n_model_calls == 1  # 401 is not retried
    assert "refused the key (401" in ar["error"] and "OPENAI_API_KEY" in ar["error"]
    assert (
        res["status"] == "agent_error" and res["reward"] == 0.0
    )  # an error; the untouched files were verified
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(LooplabError, match="OPENAI_API_KEY is not set"):
        make_provider("openai/gpt-4o")
    with pytest.raises(LooplabError, match="anthropic/NAME or openai/NAME"):
        make_provider("gpt-4o")


def test_context_compaction_elides_then_summarizes_and_keeps_the_conversation_valid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
    turns = [reply(tool("shell", command=f"echo turn{i}-" + "z" * 1500)) for i in range(12)]
    turns.append(reply(tool("finish", summary="done")))
    summaries: list[int] = []

    def script(i: int, body: dict) -> dict:
        if "tools" not in body:  # the summary request
            summaries.append(i)
            return reply(text=f"SUMMARY-{len(summaries)}: ran echo turns, outputs were long strings of y.")
        return turns[i - len(summaries)]

    with ScriptedLLMServer("anthropic", script) as srv:
        res = trial(
            TINY_TASK,
            tmp_path / "t",
            "llm",
            "anthropic/scripted-2",
            {"base_url": srv.base_url, "context_tokens": "6000", "keep_observations": "2"},
        )
    assert res["agent_result"]["stop_reason"] == "finished", res["agent_result"]
    assert srv.problems == []  # after every compaction the history was still a valid conversation
    comp = events(tmp_path / "t", "compaction")
    assert comp and res["agent_result"]["compactions"] == len(comp)
    assert any(c["elided_observations"] > 0 for c in comp)
    dropped = [c for c in comp if c["dropped_messages"]]
    assert dropped and all(
        c["summary_by"] == "model" and c["summary"].startswith("SUMMARY-") for c in dropped
    )
    assert summaries, "the model was asked for a summary"
    last = srv.requests[-1]["body"]
    first_user = json.dumps(last["messages"][0])
    assert "SUMMARY-" in first_user and "Put the largest number" in first_user
    # the prompt stayed bounded: the last request is far smaller than the whole history would be
    assert len(json.dumps(last["messages"])) < 12 * 1500
    # the summary calls are paid for too
    assert res["agent_result"]["usage"]["n_calls"] == srv.n_model_calls
    validate_atif(json.loads(export_trial(tmp_path / "t")[0].read_text()))
