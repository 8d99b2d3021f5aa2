"""The egress proxy and CLI agents: a sandboxed process reaches only the allowed host.

Real HTTP servers on 127.0.0.1 stand for the allowed API host and for every other
destination; a real bubblewrap sandbox (its own network namespace) talks to them only
through the in-sandbox forwarder and the host-side proxy. A fake Claude Code (a tiny
real agent speaking the Anthropic wire format through the proxy, printing stream-json)
runs as a ``claude-code`` agent on the fixture task end to end.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fakes.llm_servers import ScriptedLLMServer, reply, tool
from fakes.trials import REPO, TINY_TASK, events, trial

from looplab.environment.build import runtime_dir
from looplab.fsutil import remove_tree
from looplab.records.atif import export_trial
from looplab.sandbox.base import SandboxSpec
from looplab.sandbox.bwrap import BwrapSandbox, looplab_runtime_paths, runtime_env_path
from looplab.sandbox.egress import (
    SANDBOX_PROXY_DIR,
    EgressProxy,
    forwarder_command,
    proxy_env,
)
from looplab.sandbox.relay import FORWARDER_SOURCE

FAKE_CLI = REPO / "tests" / "fixtures" / "fake_cli"


class _Site:
    """A plain HTTP server on 127.0.0.1 that counts the requests it gets."""

    def __init__(self, name: str):
        self.hits: list[str] = []
        owner = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                owner.hits.append(self.path)
                body = f"hello from {name} {self.path}".encode()
                self.send_response(200)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sites() -> Iterator[tuple[_Site, _Site]]:
    a, b = _Site("allowed"), _Site("other")
    yield a, b
    a.close()
    b.close()


PROBE = r"""
import socket, sys, urllib.request
allowed, other = int(sys.argv[1]), int(sys.argv[2])
def get(url):
    try:
        return urllib.request.urlopen(url, timeout=5).read().decode()
    except Exception as exc:
        return f"ERR {exc}"
def connect(host, port):
    s = socket.create_connection(("127.0.0.1", 18080), timeout=5)
    s.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    head = s.recv(4096).decode().split("\r\n")[0]
    if " 200 " not in head:
        return "refused " + head
    s.sendall(b"GET /tunnel HTTP/1.0\r\nHost: x\r\n\r\n")
    data = b""
    while chunk := s.recv(4096):
        data += chunk
    return data.decode().split("\r\n\r\n")[-1]
def direct(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2)
        return "CONNECTED"
    except OSError as exc:
        return f"ERR {exc}"
print("get-allowed", get(f"http://127.0.0.1:{allowed}/a"))
print("get-other", get(f"http://127.0.0.1:{other}/b"))
print("get-world", get("http://example.com/"))
print("connect-allowed", connect("127.0.0.1", allowed))
print("connect-other", connect("127.0.0.1", other))
print("connect-api", connect("api.openai.com", 443))
print("connect-allowed-host-other-port", connect("127.0.0.1", other))
print("direct-other", direct(other))
"""


def test_proxy_lets_the_sandbox_reach_only_the_allowed_host(
    tmp_path: Path, sites: tuple[_Site, _Site]
) -> None:
    allowed, other = sites
    box = runtime_dir() / "sandboxes" / f"test-proxy-{uuid.uuid4().hex[:8]}"
    pdir, root = box / "proxy", box / "root"
    for d in (pdir, root / "app"):
        d.mkdir(parents=True)
    os.chmod(box, 0o711)
    os.chmod(pdir, 0o755)
    (pdir / "forwarder.py").write_text(FORWARDER_SOURCE)
    proxy = EgressProxy([f"127.0.0.1:{allowed.port}"], pdir / "proxy.sock", tmp_path / "proxy.jsonl").start()
    spec = SandboxSpec(
        root=root,
        binds=[(root / "app", "/app")],
        env={"PATH": runtime_env_path()},
        ro_binds=[(pdir, SANDBOX_PROXY_DIR)] + [(p, str(p)) for p in looplab_runtime_paths()],
    )
    sb = BwrapSandbox(spec)
    try:
        sb.start()
        assert sb.exec(forwarder_command()).exit_code == 0
        r = sb.exec(["python3", "-c", PROBE, str(allowed.port), str(other.port)], env=proxy_env(), timeout=60)
    finally:
        sb.stop()
        proxy.stop()
        remove_tree(box)
    out = dict(line.split(" ", 1) for line in r.stdout.splitlines())
    assert out["get-allowed"] == "hello from allowed /a", r.stdout + r.stderr
    assert out["connect-allowed"] == "hello from allowed /tunnel"
    assert out["get-other"].startswith("ERR HTTP Error 403") and out["get-world"].startswith(
        "ERR HTTP Error 403"
    )
    assert out["connect-other"] == "refused HTTP/1.1 403 Forbidden"
    assert out["connect-api"] == "refused HTTP/1.1 403 Forbidden"
    assert out["direct-other"].startswith("ERR")  # no route around the proxy: the sandbox has no network
    assert other.hits == [] and allowed.hits == ["/a", "/tunnel"]
    log = [json.loads(x) for x in (tmp_path / "proxy.jsonl").read_text().splitlines()]
    assert sum(e["allowed"] for e in log) == 2 and sum(not e["allowed"] for e in log) == 5
    assert {(e["host"], e["port"]) for e in log if not e["allowed"]} == {
        ("127.0.0.1", other.port),
        ("example.com", 80),
        ("api.openai.com", 443),
    }


def test_claude_code_agent_runs_in_the_sandbox_through_the_gateway(
    tmp_path: Path, sites: tuple[_Site, _Site], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, other = sites
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-cli")
    script = [
        reply(
            tool(
                "Bash", command="id -u; hostname; echo 9 > /app/value.txt; tail -1 /logs/agent/instruction.md"
            ),
            text="Setting the value.",
            input_tokens=400,
            output_tokens=30,
        ),
        reply(tool("Bash", command="cat /app/value.txt"), input_tokens=500, output_tokens=10),
        reply(text="Done: value is 9.", input_tokens=600, output_tokens=12),
    ]
    forbidden = f"http://127.0.0.1:{other.port}/leak,http://example.com/"
    with ScriptedLLMServer("anthropic", script, api_key="sk-cli") as srv:
        kwargs = {
            "base_url": srv.base_url,
            "bin": "python3 /opt/fake_cli/fake_claude.py",
            "mounts": f"{FAKE_CLI}:/opt/fake_cli",
            "env": f"FAKE_FORBIDDEN_URLS={forbidden}",
        }
        res = trial(TINY_TASK, tmp_path / "t", "claude-code", "anthropic/scripted-cli", kwargs)
    assert res["status"] == "completed", res["exception_info"]
    ar = res["agent_result"]
    assert ar["stop_reason"] == "finished", ar
    assert res["reward"] == pytest.approx(0.9)  # the tool's edit, verified
    assert srv.n_model_calls == 3 and srv.problems == []
    # the model traffic went through the gateway, which sent the host's key; the sandbox held a dummy token
    assert all(r["headers"].get("x-api-key") == "sk-cli" for r in srv.requests)
    assert other.hits == []
    assert ar["egress"] == {"allowed": 0, "refused": 1}  # example.com refused by the proxy
    stderr = (tmp_path / "t" / "agent" / "sandbox-logs" / "claude-code.stderr.txt").read_text()
    assert f"forbidden http://127.0.0.1:{other.port}/leak: " in stderr and "REACHED" not in stderr
    assert "forbidden http://example.com/: HTTP 403" in stderr
    calls = (tmp_path / "t" / "agent" / "model-calls.jsonl").read_text()
    assert "sk-cli" not in calls and len(calls.splitlines()) == 3
    assert [e["usage"]["output_tokens"] for e in events(tmp_path / "t", "model_call")] == [30, 10, 12]
    # the instruction was passed in, with the deadline
    instr = (tmp_path / "t" / "agent" / "sandbox-logs" / "instruction.md").read_text()
    assert instr.startswith("Put the largest number") and "Time budget:" in instr and "UTC" in instr
    # the native stream-json log was converted into the trajectory (one event per message, usage once per message)
    assistant = events(tmp_path / "t", "assistant")
    assert [len(e["tool_calls"]) for e in assistant] == [1, 1, 0]
    assert assistant[0]["text"] == "Setting the value."
    obs = events(tmp_path / "t", "observation")
    assert [o["call_id"] for o in obs] == [c["id"] for e in assistant for c in e["tool_calls"]]
    assert obs[0]["content"].startswith("65534\nlooplab\n") and "UTC" in obs[0]["content"]
    u = ar["usage"]  # metered by the gateway from the server's replies
    assert (u["n_calls"], u["input_tokens"], u["output_tokens"]) == (3, 1500, 52)
    assert ar["cost_reported_by_tool"] == pytest.approx(0.0123)  # the tool's own total, kept aside
    assert u["cost_usd"] == 0 and ar["gateway"]["unpriced_models"] == ["scripted-cli"]
    _, atif = export_trial(tmp_path / "t")
    assert [s.source for s in atif.steps].count("agent") == 3


def test_cli_agent_reports_a_missing_tool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    res = trial(TINY_TASK, tmp_path / "t", "codex", "openai/gpt-5")
    ar = res["agent_result"]
    assert ar["stop_reason"] == "error" and "codex is not installed in the sandbox" in ar["error"]
    assert res["status"] == "agent_error" and res["reward"] == 0.0


def test_command_template_agent(tmp_path: Path) -> None:
    template = 'echo 6 > {workdir}/value.txt && echo \'{"type": "note"}\' > {log_dir}/mine.jsonl && wc -l < {instruction_file}'
    res = trial(TINY_TASK, tmp_path / "t", "cli", None, {"template": template, "log_file": "mine.jsonl"})
    ar = res["agent_result"]
    assert ar["stop_reason"] == "finished" and res["reward"] == pytest.approx(0.6)
    assert (tmp_path / "t" / "agent" / "sandbox-logs" / "mine.jsonl").exists()
    assert events(tmp_path / "t", "cli_exit")[0]["stdout"].strip().isdigit()


def test_cli_agent_is_stopped_at_the_turn_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-cli")
    script = [
        reply(tool("Bash", command="echo 3 > /app/value.txt; sleep 0.5")),
        reply(tool("Bash", command="sleep 0.5")),
    ]
    with ScriptedLLMServer("anthropic", script, repeat_last=True) as srv:
        kwargs = {
            "base_url": srv.base_url,
            "bin": "python3 /opt/fake_cli/fake_claude.py",
            "mounts": f"{FAKE_CLI}:/opt/fake_cli",
        }
        res = trial(TINY_TASK, tmp_path / "t", "claude-code", "anthropic/scripted-cli", kwargs, max_turns=2)
    ar = res["agent_result"]
    assert ar["stop_reason"] == "max_turns", ar
    assert srv.n_model_calls == 2  # the third call was refused by the gateway (the tool would go on for 20)
    (cap,) = events(tmp_path / "t", "cap")
    assert cap["model_calls"] == 2 and cap["refused_calls"] == 1
    last = json.loads((tmp_path / "t" / "agent" / "model-calls.jsonl").read_text().splitlines()[-1])
    assert last["status"] == 400 and "model-call budget is spent" in last["response"]
    assert (
        "HTTP Error 400" in (tmp_path / "t" / "agent" / "sandbox-logs" / "claude-code.stderr.txt").read_text()
    )
    assert not [
        e for e in events(tmp_path / "t", "cli_event") if e.get("event") == "result"
    ]  # killed mid-run
    assert res["reward"] == pytest.approx(0.3)
