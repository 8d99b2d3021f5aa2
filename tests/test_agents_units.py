"""Unit tests of the agents' pure parts: pricing, usage mapping, ATIF validation, CLI log conversion, proxy rules,
conversation compaction."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from looplab.agents.base import Usage
from looplab.agents.cli.agent import CliAgent
from looplab.agents.cli.logs import ClaudeStreamConverter, CodexJsonConverter
from looplab.agents.cli.options import env_pairs
from looplab.agents.llm.loop import Conversation, LLMAgent
from looplab.agents.llm.pricing import PriceTable, usage_from_anthropic, usage_from_openai
from looplab.agents.llm.providers import Message, ToolCall, ToolResult, anthropic_messages, openai_messages
from looplab.agents.llm.tools import truncate
from looplab.agents.registry import make_agent
from looplab.errors import LooplabError
from looplab.records.atif import trajectory_to_atif, validate_atif
from looplab.sandbox.egress import EgressProxy, parse_allowed


def test_price_lookup_longest_prefix_and_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    t = PriceTable()
    assert t.lookup("anthropic/claude-sonnet-4-5-20250929") == t.prices["anthropic/claude-sonnet-4"]
    assert t.lookup("openai/gpt-4o-mini-2024") == t.prices["openai/gpt-4o-mini"]  # not gpt-4o
    assert t.lookup("openai/some-local-model") is None
    u = Usage(
        input_tokens=1_000_000,
        output_tokens=1_000_000,
        cache_read_tokens=1_000_000,
        cache_write_tokens=1_000_000,
    )
    assert t.cost("anthropic/claude-sonnet-4", u) == pytest.approx(3 + 15 + 0.3 + 3.75)
    f = tmp_path / "p.toml"
    f.write_text('[models."some-local-model"]\ninput = 1.5\noutput = 2\n')
    monkeypatch.setenv("LOOPLAB_PRICES", str(f))
    t2 = PriceTable.load()
    assert t2.cost("openai/some-local-model", u) == pytest.approx(
        1.5 + 2 + 1.5 + 1.5
    )  # cache prices default to input
    f.write_text('[models."m"]\ninput = "cheap"\noutput = 1\n')
    with pytest.raises(LooplabError, match=r"p.toml: models.m.input"):
        PriceTable.load(f)
    with pytest.raises(LooplabError, match="price file not found"):
        PriceTable.load(tmp_path / "missing.toml")


def test_usage_mapping_per_provider() -> None:
    a = usage_from_anthropic(
        {
            "input_tokens": 10,
            "output_tokens": 5,
            "cache_read_input_tokens": 100,
            "cache_creation_input_tokens": 7,
        }
    )
    assert (a.input_tokens, a.output_tokens, a.cache_read_tokens, a.cache_write_tokens) == (10, 5, 100, 7)
    o = usage_from_openai(
        {"prompt_tokens": 110, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 100}}
    )
    assert (o.input_tokens, o.cache_read_tokens, o.output_tokens, o.total_tokens) == (10, 100, 5, 115)


def _conv() -> list[Message]:
    return [
        Message("user", "task"),
        Message("assistant", "", [ToolCall("c1", "shell", {"command": "ls"})]),
        Message("user", "[time]", [], [ToolResult("c1", "shell", "out1")]),
        Message(
            "assistant",
            "thinking",
            [ToolCall("c2", "shell", {"command": "pwd"}), ToolCall("c3", "dev_check", {})],
        ),
        Message(
            "user", "", [], [ToolResult("c2", "shell", "out2"), ToolResult("c3", "dev_check", "ok", True)]
        ),
    ]


def test_wire_conversion_pairs_tool_calls_with_results() -> None:
    o = openai_messages("sys", _conv())
    assert [m["role"] for m in o] == [
        "system",
        "user",
        "assistant",
        "tool",
        "user",
        "assistant",
        "tool",
        "tool",
    ]
    assert o[2]["tool_calls"][0]["function"] == {"name": "shell", "arguments": '{"command": "ls"}'}
    a = anthropic_messages(_conv())
    assert [m["role"] for m in a] == ["user", "assistant", "user", "assistant", "user"]
    assert [b["type"] for b in a[4]["content"]] == ["tool_result", "tool_result"]
    assert a[4]["content"][1]["is_error"] is True and "cache_control" in a[4]["content"][-1]


def test_conversation_compaction_keeps_pairs() -> None:
    c = Conversation("s" * 100, "instruction", 0)
    for i in range(10):
        c.messages.append(Message("assistant", "", [ToolCall(f"c{i}", "shell", {"command": "x"})]))
        c.messages.append(Message("user", "", [], [ToolResult(f"c{i}", "shell", "o" * 1000)]))
    assert c.elide(keep=3) == 7
    stubs = [r.content for m in c.messages for r in m.tool_results]
    assert all(s.startswith("[elided") for s in stubs[:7]) and stubs[7:] == ["o" * 1000] * 3
    dropped = c.drop_oldest(target_tokens=0, keep_turns=2)
    assert len(dropped) == 16 and len(c.messages) == 5 and c.messages[1].tool_calls[0].id == "c8"
    c.set_summary("did things")
    assert c.messages[0].role == "user" and "did things" in c.messages[0].text
    roles = [m.role for m in c.messages]
    assert roles == ["user", "assistant", "user", "assistant", "user"]


def test_truncate_keeps_head_and_tail() -> None:
    t = truncate("a" * 500 + "b" * 500, 100, "; hint")
    assert t.startswith("a" * 40) and t.endswith("b" * 60) and "900 characters omitted" in t and "; hint" in t
    assert truncate("short", 100) == "short"


def test_llm_agent_arguments_are_checked() -> None:
    with pytest.raises(LooplabError, match="needs a model"):
        make_agent("llm")
    with pytest.raises(LooplabError, match="anthropic/NAME or openai/NAME"):
        make_agent("llm", model="gpt-4o")
    with pytest.raises(LooplabError, match="max_output_tokens must be an integer"):
        LLMAgent(model="openai/x", max_output_tokens="lots")
    with pytest.raises(LooplabError, match="does not take"):
        make_agent("llm", {"colour": "red"}, model="openai/x")
    a = make_agent("llm", {"context_tokens": "5000", "temperature": "0.2"}, model="anthropic/x")
    assert a.context_tokens == 5000 and a.temperature == 0.2


ATIF_OK = {
    "schema_version": "ATIF-v1.4",
    "session_id": "s1",
    "agent": {"name": "a", "version": "1"},
    "steps": [
        {"step_id": 1, "source": "user", "message": "do it"},
        {
            "step_id": 2,
            "source": "agent",
            "message": "",
            "tool_calls": [{"tool_call_id": "c1", "function_name": "shell", "arguments": {"command": "ls"}}],
            "observation": {"results": [{"source_call_id": "c1", "content": "x"}]},
            "metrics": {"prompt_tokens": 10, "completion_tokens": 2, "cached_tokens": 5, "cost_usd": 0.1},
        },
    ],
}


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["steps"][1].update(step_id=3), "step ids must be 1, 2, 3"),
        (
            lambda d: d["steps"][1]["observation"]["results"][0].update(source_call_id="zz"),
            "matches no tool call",
        ),
        (lambda d: d["steps"][0].update(tool_calls=[]), "only allowed on agent steps"),
        (lambda d: d["steps"][0].update(source="robot"), "steps.0.source"),
        (lambda d: d.update(schema_version="ATIF-v9"), "schema_version"),
        (lambda d: d["steps"][1].update(colour="red"), "colour"),
        (lambda d: d["steps"][1]["metrics"].update(prompt_tokens=-1), "prompt_tokens"),
        (lambda d: d.update(steps=[]), "steps"),
        (lambda d: d["steps"][0].update(timestamp="yesterday"), "timestamp"),
    ],
)
def test_atif_validator_rejects(mutate, message: str) -> None:  # noqa: ANN001
    validate_atif(ATIF_OK)
    bad = copy.deepcopy(ATIF_OK)
    mutate(bad)
    with pytest.raises(LooplabError, match=message):
        validate_atif(bad)


def test_atif_from_a_killed_replay_trajectory() -> None:
    evs = [
        {"step": 1, "time": "2025-01-01T00:00:00+00:00", "elapsed_s": 0, "type": "start", "agent": "replay"},
        {
            "step": 2,
            "time": "2025-01-01T00:00:01+00:00",
            "elapsed_s": 1,
            "type": "command",
            "tool": "shell",
            "command": "ls",
        },
        {
            "step": 3,
            "time": "2025-01-01T00:00:02+00:00",
            "elapsed_s": 2,
            "type": "observation",
            "exit_code": 0,
            "stdout": "a\n",
        },
        {
            "step": 4,
            "time": "2025-01-01T00:00:03+00:00",
            "elapsed_s": 3,
            "type": "command",
            "tool": "shell",
            "command": "sleep 9",
        },
    ]
    doc = trajectory_to_atif(evs)
    m = validate_atif(doc)
    assert [s.tool_calls[0].arguments["command"] for s in m.steps] == ["ls", "sleep 9"]
    assert m.steps[0].observation.results[0].content == "exit code: 0\n--- stdout ---\na\n"
    assert m.steps[1].observation is None and "killed" in m.notes


CLAUDE_LINES = [
    {"type": "system", "subtype": "init", "model": "claude-x", "session_id": "s"},
    {
        "type": "assistant",
        "message": {
            "id": "m1",
            "model": "claude-x",
            "content": [{"type": "text", "text": "Hi"}],
            "usage": {"input_tokens": 10, "output_tokens": 2, "cache_read_input_tokens": 50},
        },
    },
    {
        "type": "assistant",
        "message": {
            "id": "m1",
            "model": "claude-x",
            "content": [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "ls"}}],
            "usage": {"input_tokens": 10, "output_tokens": 9, "cache_read_input_tokens": 50},
        },
    },
    {
        "type": "user",
        "message": {
            "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "a.txt"}]}
            ]
        },
    },
    {"type": "result", "subtype": "success", "total_cost_usd": 0.5, "num_turns": 1},
]


def test_claude_stream_json_conversion() -> None:
    c = ClaudeStreamConverter(PriceTable(), "anthropic/claude-sonnet-4")
    evs = [e for line in CLAUDE_LINES for e in c.feed(json.dumps(line))] + c.flush()
    kinds = [e["type"] for e in evs]
    assert kinds == ["cli_event", "assistant", "observation", "cli_event"]
    a = evs[1]
    assert a["text"] == "Hi" and a["tool_calls"] == [
        {"id": "t1", "name": "Bash", "arguments": {"command": "ls"}}
    ]
    assert (
        a["usage"]["output_tokens"] == 9 and a["usage"]["cache_read_tokens"] == 50
    )  # counted once per message
    assert evs[2] == {
        "type": "observation",
        "call_id": "t1",
        "tool": "Bash",
        "content": "a.txt",
        "is_error": False,
    }
    t = c.totals()
    assert (t.n_calls, t.input_tokens, t.output_tokens, t.cost_usd) == (1, 10, 9, 0.5)
    assert c.feed("not json")[0] == {"type": "cli_event", "raw": "not json"}


CODEX_LINES = [
    {"type": "thread.started", "thread_id": "th"},
    {"type": "item.completed", "item": {"id": "i0", "type": "reasoning", "text": "plan"}},
    {
        "type": "item.started",
        "item": {"id": "i1", "type": "command_execution", "command": "bash -lc ls", "status": "in_progress"},
    },
    {
        "type": "item.completed",
        "item": {
            "id": "i1",
            "type": "command_execution",
            "command": "bash -lc ls",
            "aggregated_output": "a.txt\n",
            "exit_code": 0,
            "status": "completed",
        },
    },
    {
        "type": "item.completed",
        "item": {
            "id": "i2",
            "type": "file_change",
            "changes": [{"path": "/app/x", "kind": "update"}],
            "status": "completed",
        },
    },
    {"type": "item.completed", "item": {"id": "i3", "type": "agent_message", "text": "done"}},
    {
        "type": "turn.completed",
        "usage": {"input_tokens": 1000, "cached_input_tokens": 800, "output_tokens": 50},
    },
]


def test_codex_jsonl_conversion() -> None:
    c = CodexJsonConverter(PriceTable(), "openai/gpt-4.1")
    evs = [e for line in CODEX_LINES for e in c.feed(json.dumps(line))]
    kinds = [e["type"] for e in evs]
    assert kinds == [
        "cli_event",
        "assistant",
        "observation",
        "assistant",
        "observation",
        "assistant",
        "usage",
    ]
    assert (
        evs[1]["tool_calls"][0]["arguments"] == {"command": "bash -lc ls"} and evs[1]["reasoning"] == "plan"
    )
    assert evs[2]["content"] == "a.txt\n" and evs[2]["exit_code"] == 0 and not evs[2]["is_error"]
    assert evs[3]["tool_calls"][0]["name"] == "apply_patch" and evs[5]["text"] == "done"
    t = c.totals()
    assert (t.input_tokens, t.cache_read_tokens, t.output_tokens) == (200, 800, 50)
    assert t.cost_usd == pytest.approx((200 * 2.0 + 800 * 0.5 + 50 * 8.0) / 1e6)
    # converted events make a valid ATIF trajectory
    stamped = [
        {"step": i + 1, "time": "2025-01-01T00:00:00+00:00", "elapsed_s": 0, **e} for i, e in enumerate(evs)
    ]
    validate_atif(trajectory_to_atif(stamped))


def test_proxy_allow_rules(tmp_path: Path) -> None:
    assert parse_allowed("api.anthropic.com") == ("api.anthropic.com", 443)
    assert parse_allowed("http://127.0.0.1:8080/v1") == ("127.0.0.1", 8080)
    assert parse_allowed("https://API.openai.com") == ("api.openai.com", 443)
    assert parse_allowed("localhost:11434") == ("localhost", 11434)
    p = EgressProxy(["api.openai.com", "*.example.org", "10.0.0.1:8000"], tmp_path / "s.sock")
    assert p.is_allowed("api.openai.com", 443) and not p.is_allowed("api.openai.com", 80)
    assert p.is_allowed("eu.example.org", 443) and not p.is_allowed("example.org.evil.com", 443)
    assert p.is_allowed("10.0.0.1", 8000) and not p.is_allowed("10.0.0.2", 8000)


def test_cli_agent_arguments() -> None:
    assert env_pairs("A=1,B=http://x/a,http://y/b,C=") == {"A": "1", "B": "http://x/a,http://y/b", "C": ""}
    with pytest.raises(LooplabError, match="env takes"):
        env_pairs("novalue")
    with pytest.raises(LooplabError, match="needs --ak tool="):
        CliAgent()
    with pytest.raises(LooplabError, match="unknown tool 'cursor'"):
        CliAgent(tool="cursor")
    a = make_agent("claude-code", {"base_url": "http://127.0.0.1:9999"}, model="anthropic/claude-x")
    assert a.allowed == []  # model calls go through the gateway, never through the egress proxy
    assert [(u.name, u.base_url) for u in a.upstreams()] == [("anthropic", "http://127.0.0.1:9999")]
    assert make_agent("codex", {"allow": "proxy.corp:3128"}).allowed == ["proxy.corp:3128"]
    assert [u.base_url for u in make_agent("codex").upstreams()] == ["https://api.openai.com/v1"]
    assert [u.name for u in make_agent("aider", model="openai/gpt-5").upstreams()] == ["openai"]
    with pytest.raises(LooplabError, match="pass_env may not pass OPENAI_API_KEY"):
        make_agent("codex", {"pass_env": "OPENAI_API_KEY"})


def test_cli_agent_options_are_a_model_with_one_line_errors() -> None:
    from looplab.agents.cli.options import CliOptions

    assert make_agent("codex", {"port": "9000"}).port == 9000
    assert set(CliOptions.model_fields) >= {"tool", "bin", "mounts", "base_url", "port", "log_format"}
    with pytest.raises(LooplabError, match=r"^codex agent: port must be an integer, got 'abc'$"):
        make_agent("codex", {"port": "abc"})
    with pytest.raises(LooplabError, match="does not take colour"):
        make_agent("aider", {"colour": "red"})
    with pytest.raises(LooplabError, match="log_format must be one of"):
        make_agent("cli", {"template": "true", "log_format": "xml"})


def test_a_cli_tool_on_the_hosts_path_has_its_install_folder_bound(tmp_path: Path, monkeypatch) -> None:
    """``npm install -g --prefix P`` / a venv on PATH: -a NAME alone finds it and binds P read-only."""
    prefix = tmp_path / "prefix"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin" / "claude").write_text("#!/bin/sh\necho hi\n")
    (prefix / "bin" / "claude").chmod(0o755)
    home = tmp_path / "home"
    (home / ".local" / "bin").mkdir(parents=True)
    (home / ".local" / "bin" / "codex").write_text("#!/bin/sh\n")
    (home / ".local" / "bin" / "codex").chmod(0o755)
    (home / ".local" / "bin" / "mini").symlink_to(prefix / "bin" / "claude")  # pipx-style: a link into a venv
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PATH", f"{prefix / 'bin'}:{home / '.local' / 'bin'}:/usr/bin:/bin")
    a = make_agent("claude-code", model="anthropic/claude-x")
    assert (a.bin, a.mounts, a.installed_at) == (str(prefix / "bin" / "claude"), [str(prefix)], str(prefix))
    assert make_agent("claude-code", {"bin": "claude"}).mounts == []  # an explicit bin is taken as given
    assert make_agent("codex").mounts == []  # ~/.local is never bound: the preflight says how to install
    assert any("codex is not on the sandbox's PATH" in p for p in make_agent("codex").preflight({}))
    assert make_agent("mini-swe-agent").mounts == [str(prefix)]  # the link's target folder
