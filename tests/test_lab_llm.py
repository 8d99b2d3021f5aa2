"""The lab drives the `llm` agent through the agent protocol: dev checks are lab evaluations,
tokens and dollars land in the log and count towards max_cost (a scripted model server)."""

from __future__ import annotations

import json

from fakes.llm_servers import ScriptedLLMServer, reply, tool
from fakes.trials import write_prices
from lab_helpers import make_lab, records, run_lab, tip, tree_files


def test_llm_agent_in_a_lab(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    model = "openai/scripted-1"
    prices = write_prices(tmp_path / "prices.toml", model, 2.0, 10.0)
    script = [
        reply(tool("dev_check"), input_tokens=1000, output_tokens=10),
        reply(
            tool("write_file", path="/app/pipeline/params.json", content='{"x": 3.5}\n'), input_tokens=1200
        ),
        reply(tool("dev_check"), input_tokens=1300, output_tokens=10),
        reply(tool("finish", summary="moved x next to 3"), input_tokens=1400, output_tokens=30),
    ]
    with ScriptedLLMServer("openai", script, api_key="sk-test") as srv:
        lab = make_lab(
            tmp_path / "r",
            agent={
                "name": "llm",
                "model": model,
                "timeout_sec": 120,
                "kwargs": {"base_url": srv.base_url, "prices": str(prices)},
            },
        )
        s = run_lab(lab, max_iterations=3, max_cost=0.005)
    assert srv.problems == [] and srv.n_model_calls == 4
    r = records(lab)[1]
    assert (r.status, r.score, r.notes, r.dev_evals) == ("keep", 0.5, "moved x next to 3", 2)
    assert (r.input_tokens, r.output_tokens) == (4900, 70)
    assert abs(r.cost_usd - (4900 * 2.0 + 70 * 10.0) / 1e6) < 1e-12
    assert json.loads(tree_files(lab, tip(lab), "pipeline")["pipeline/params.json"]) == {"x": 3.5}
    # the dev checks were lab evaluations of the agent's current files: 7 before the edit, 0.5 after
    bodies = [json.dumps(req["body"]["messages"]) for req in srv.requests]
    assert '\\"score\\": 7' in bodies[1] and '\\"score\\": 0.5' not in bodies[2]
    assert '\\"score\\": 0.5' in bodies[3]
    # the model was told the lab's instructions and the best so far
    first = json.dumps(srv.requests[0]["body"]["messages"])
    assert "Improve the pipeline." in first and "Best score so far: 7" in first
    assert s.stop_reason == "max_cost" and s.experiments == 1
