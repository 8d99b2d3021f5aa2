"""``looplab lab run -a codex`` (and ``-a claude-code``): the research loop driving the real CLI (slow: it
is installed from npm).

The lab's own agent is the default one; ``-a NAME -m PROVIDER/MODEL --base-url URL`` and
the key variable are all it takes, with the tool on PATH (``cli_helpers``). The scripted
server (OpenAI Responses for codex, Anthropic Messages for Claude Code) asks for one shell command that moves the pipeline's parameter, then
ends the turn. The experiment is evaluated and kept, its tokens are the gateway's count
of what the server sent, its dollars count toward the lab's ``--max-cost`` (which stops
the loop), and the key never reached the sandbox.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import KEY_PROBE, KEY_VARS, REAL, no_key_in, path_with
from conftest import run_cli
from fakes.llm_servers import ScriptedLLMServer, reply, tool
from lab_helpers import make_lab, records, tip, tree_files

from looplab.agents.base import Usage
from looplab.agents.llm.pricing import PriceTable

pytestmark = pytest.mark.slow


CMD = "echo '{\"x\": 3.5}' > /app/pipeline/params.json; " + KEY_PROBE
CASES = {  # agent: (protocol, model, key variable, the shell tool's call)
    "codex": ("responses", "openai/gpt-5", "OPENAI_API_KEY", tool("exec_command", cmd=CMD)),
    "claude-code": (
        "anthropic",
        "anthropic/claude-sonnet-4-5",
        "ANTHROPIC_API_KEY",
        tool("Bash", command=CMD),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_lab_run_with_a_real_cli(name: str, tmp_path: Path) -> None:
    flavor, model, key_env, call = CASES[name]
    first = reply(call, text="Moving x.", input_tokens=1000, output_tokens=10, cache_read=200)
    last = reply(text="moved x next to 3", input_tokens=1200, output_tokens=30)
    served: list[dict[str, Any]] = []

    def answer(i: int, body: dict[str, Any]) -> dict[str, Any]:
        if flavor == "anthropic" and not body.get("tools"):  # a side call (e.g. a title): not counted below
            return reply(text="side", input_tokens=0, output_tokens=0)
        served.append(first if not served else last)
        return served[-1]

    lab = make_lab(tmp_path / "r")  # its lab.toml names the command agent: -a replaces it
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARS}
    env.update({key_env: REAL, "PATH": path_with(name)})
    with ScriptedLLMServer(flavor, answer, api_key=REAL) as srv:
        r = run_cli(
            "lab",
            "run",
            "--lab",
            str(lab),
            "-a",
            name,
            "-m",
            model,
            "--base-url",
            srv.base_url,
            "--max-iterations",
            "3",
            "--max-cost",
            "0.001",
            env=env,
        )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert srv.problems == [] and len(served) == 2
    auth = [q["headers"].get("x-api-key") or q["headers"].get("authorization", "")[7:] for q in srv.requests]
    assert auth and all(k == REAL for k in auth)  # the gateway put the key into every call
    later = json.dumps([q["body"] for q in srv.requests])
    assert "RAN 65534 looplab KEYS 0" in later  # the command ran as the sandbox user; no key in any environ
    rec = records(lab)[1]
    assert (rec.status, rec.score) == ("keep", 0.5)
    # the gateway's count of what the server sent: 1000 + 1200 uncached, 200 cached, 10 + 30 out
    assert (rec.input_tokens, rec.output_tokens, rec.tokens) == (2200, 40, 2440)
    price: Any = PriceTable().cost(
        model, Usage(n_calls=2, input_tokens=2200, output_tokens=40, cache_read_tokens=200)
    )
    assert price and abs(rec.cost_usd - price) < 1e-9
    assert json.loads(tree_files(lab, tip(lab), "pipeline")["pipeline/params.json"]) == {"x": 3.5}
    assert "max_cost" in r.stdout  # the lab's budget stopped it after this experiment
    assert any((lab / ".looplab").rglob("model-calls.jsonl"))  # the experiment's gateway record
    no_key_in(lab / ".looplab")
