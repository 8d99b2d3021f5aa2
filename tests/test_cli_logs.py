"""Native logs of gemini-cli, mini-swe-agent and aider (written by the real tools, in tests/fixtures/cli_logs)
turned into trajectory events, and from there into ATIF agent steps with their tool calls and results."""

from __future__ import annotations

import json
from pathlib import Path

from looplab.agents.cli.logs import (
    AiderChatConverter,
    GeminiStreamConverter,
    MiniSweTrajConverter,
    make_converter,
)
from looplab.agents.llm.pricing import PriceTable
from looplab.records.atif import trajectory_to_atif, validate_atif

LOGS = Path(__file__).parent / "fixtures" / "cli_logs"


def _kinds(events: list[dict]) -> list[str]:
    return [e["type"] for e in events if e["type"] != "cli_event"]


def _atif_agent_steps(events: list[dict]) -> list:
    evs = [{"type": "start", "agent": "x"}, {"type": "user", "text": "do it"}, *events, {"type": "stop"}]
    return [s for s in validate_atif(trajectory_to_atif(evs)).steps if s.source == "agent"]


def test_gemini_stream_json_becomes_turns_with_tool_calls_and_results() -> None:
    c = make_converter("gemini-stream-json", PriceTable(), "gemini/gemini-2.5-flash")
    assert isinstance(c, GeminiStreamConverter)
    lines = (LOGS / "gemini-cli.jsonl").read_text().splitlines()
    events = [e for line in lines for e in c.feed(line)] + c.flush()
    assert _kinds(events) == ["assistant", "observation", "assistant"]
    first, obs, last = [e for e in events if e["type"] != "cli_event"]
    assert first["text"] == "Writing." and first["tool_calls"][0]["name"] == "run_shell_command"
    assert "printf" in first["tool_calls"][0]["arguments"]["command"]
    assert obs["call_id"] == first["tool_calls"][0]["id"] and obs["content"] == "RAN 65534 looplab KEYS 0"
    assert last == {
        "type": "assistant",
        "text": "Done.",
        "tool_calls": [],
        "model": "gemini/gemini-2.5-flash",
    }
    # the result line's stats: 1000 input of which 100 cached, 49 output, over the two turns
    u = c.totals()
    assert (u.n_calls, u.input_tokens, u.cache_read_tokens, u.output_tokens) == (2, 900, 100, 49)
    steps = _atif_agent_steps(events)
    assert [len(s.tool_calls or []) for s in steps] == [1, 0]
    assert steps[0].observation.results[0].source_call_id == first["tool_calls"][0]["id"]


def test_gemini_text_after_tool_calls_is_the_same_turn() -> None:
    c = GeminiStreamConverter()
    feed = [
        {"type": "message", "role": "assistant", "content": "a", "delta": True},
        {"type": "message", "role": "assistant", "content": "b", "delta": True},
        {"type": "tool_use", "tool_name": "ls", "tool_id": "t1", "parameters": {"dir": "/app"}},
        {"type": "message", "role": "assistant", "content": "c", "delta": True},
        {"type": "tool_result", "tool_id": "t1", "status": "error", "error": {"message": "no"}},
    ]
    events = [e for obj in feed for e in c.feed(json.dumps(obj))] + c.flush()
    assert [(e["type"], e.get("text")) for e in events] == [("assistant", "abc"), ("observation", None)]
    assert events[1]["is_error"] is True and json.loads(events[1]["content"]) == {"message": "no"}


def test_mini_swe_agent_trajectory_is_read_as_one_document() -> None:
    c = make_converter("mini-swe-traj", PriceTable(), "openai/gpt-4o")
    assert isinstance(c, MiniSweTrajConverter) and c.whole_file
    events = c.document((LOGS / "mini-swe-agent.traj.json").read_text())
    assert _kinds(events) == ["assistant", "observation", "assistant", "observation"]
    a1, o1, a2, o2 = [e for e in events if e["type"] != "cli_event"]
    assert a1["tool_calls"][0]["name"] == "bash" and "printf" in a1["tool_calls"][0]["arguments"]["command"]
    assert (o1["call_id"], o1["content"], o1["exit_code"], o1["is_error"]) == (
        a1["tool_calls"][0]["id"],
        "RAN 65534 looplab KEYS 0 ",
        0,
        False,
    )
    assert a2["tool_calls"][0]["arguments"] == {"command": "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"}
    assert o2["is_error"] and o2["exit_code"] == -1
    assert (a1["usage"]["input_tokens"], a1["usage"]["cache_read_tokens"]) == (
        400,
        100,
    )  # prompt 500: 100 cached
    assert a2["usage"]["input_tokens"] == 500 and a2["model"] == "gpt-4o"
    assert [e for e in events if e.get("event") == "exit"][0]["exit_status"] == "Submitted"
    assert (
        c.totals().n_calls == 2
        and c.reported_cost
        == json.loads((LOGS / "mini-swe-agent.traj.json").read_text())["info"]["model_stats"]["instance_cost"]
    )
    assert [len(s.tool_calls or []) for s in _atif_agent_steps(events)] == [1, 1]
    assert c.document("{not json") == [{"type": "cli_event", "raw": "{not json"}]


def test_aider_chat_history_gives_edits_as_tool_calls_answered_by_aiders_notes() -> None:
    c = make_converter("aider-chat", PriceTable(), "openai/gpt-4o")
    assert isinstance(c, AiderChatConverter)
    events = c.document((LOGS / "aider-failed-edit.chat.md").read_text())
    assert _kinds(events) == ["assistant", "usage", "observation", "observation"]
    reply, usage, applied, failed = [e for e in events if e["type"] != "cli_event"]
    assert [(t["id"], t["name"], t["arguments"]["path"]) for t in reply["tool_calls"]] == [
        ("edit1", "edit", "network.txt"),
        ("edit2", "edit", "network.txt"),
    ]
    assert reply["tool_calls"][1]["arguments"] == {
        "path": "network.txt",
        "search": "no such line\n",
        "replace": "0 1\n",
    }
    assert "0 1\n2 3\n" in reply["tool_calls"][0]["arguments"]["replace"]
    assert usage["usage"]["input_tokens"] == 500 and usage["usage"]["output_tokens"] == 42
    assert (applied["call_id"], applied["is_error"]) == ("edit1", False)
    assert failed["call_id"] == "edit2" and failed["is_error"] and "failed to match" in failed["content"]
    assert "SearchReplaceNoExactMatch" in failed["content"]  # the note's continuation lines are kept
    notes = [n for e in events if e.get("event") == "aider" for n in e["notes"]]
    assert any("token budget is spent" in n for n in notes)  # the gateway's refusal, as aider showed it
    assert c.reported_cost == 0.0015
    (step,) = _atif_agent_steps(events)
    assert [r.source_call_id for r in step.observation.results] == ["edit1", "edit2"]


def test_aider_edit_applied_note_and_k_token_counts() -> None:
    c = AiderChatConverter()
    text = (
        "# aider chat started at 2026-12-02 06:46:14\n\n#### fix it  \n\nSure.\n\na.py\n```\n<<<<<<< SEARCH\nx = 1\n"
        "=======\nx = 2\n>>>>>>> REPLACE\n```\n\n> Tokens: 2.5k sent, 1.1k cache hit, 42 received. Cost: $0.01 message, "
        "$0.03 session.  \n> Applied edit to a.py  \n"
    )
    events = c.document(text)
    obs = [e for e in events if e["type"] == "observation"]
    assert obs == [
        {
            "type": "observation",
            "call_id": "edit1",
            "tool": "edit",
            "content": "Applied edit to a.py",
            "is_error": False,
        }
    ]
    u = c.totals()
    assert (u.input_tokens, u.cache_read_tokens, u.output_tokens, u.cost_usd) == (1400, 1100, 42, 0.03)


def test_a_whole_document_log_is_read_once_the_tool_has_ended(tmp_path: Path) -> None:
    """A template agent that rewrites a mini-swe-agent trajectory as it goes (a half-written document
    first): the trial reads the file once, at the end, so the trajectory holds its turns exactly once."""
    from fakes.trials import TINY_TASK, events, trial

    doc = "/opt/logs/mini-swe-agent.traj.json"
    template = f"head -c 300 {doc} > {{log_dir}}/t.json; sleep 1; cat {doc} > {{log_dir}}/t.json; echo 9 > /app/value.txt"  # noqa: E501
    kwargs = {
        "template": template,
        "log_file": "t.json",
        "log_format": "mini-swe-traj",
        "mounts": f"{LOGS}:/opt/logs",
    }
    res = trial(TINY_TASK, tmp_path / "t", "cli", None, kwargs, timeout=60)
    assert res["status"] == "completed" and res["agent_result"]["stop_reason"] == "finished"
    turns = events(tmp_path / "t", "assistant")
    assert [len(t["tool_calls"]) for t in turns] == [1, 1]
    assert turns[0]["tool_usage"]["input_tokens"] == 400  # the tool's own figures, kept aside
    assert [e["content"] for e in events(tmp_path / "t", "observation")][0] == "RAN 65534 looplab KEYS 0 "
