"""Backends and the evaluation sandbox: result parsing, isolation, data, host services."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import run_cli
from lab_helpers import free_port, git, make_lab, records, run_lab

from looplab.errors import LooplabError
from looplab.lab import gitops
from looplab.lab.backend import EvalResult, parse_result, worst_samples
from looplab.lab.config import load_lab
from looplab.lab.decide import EvalFailed
from looplab.lab.evaluate import Evaluator


def test_parse_result_forms():
    r = parse_result(
        'progress...\n{"score": 0.5, "metrics": {"m": 1}, "sample_results": [{"sample_id": 3, "score": 1}]}',
        "x",
    )
    assert r.score == 0.5 and r.samples[0].sample_id == "3"
    assert parse_result({"score": 2}, "x").score == 2
    with pytest.raises(LooplabError, match="score"):
        parse_result('{"score": NaN}', "backend")
    with pytest.raises(LooplabError, match="printed no result JSON"):
        parse_result("nothing useful", "backend")
    with pytest.raises(LooplabError, match="field score"):
        parse_result({"metrics": {}}, "backend")
    res = EvalResult(
        score=1,
        samples=[
            {"sample_id": "a", "score": 1},
            {"sample_id": "b", "score": 3},
            {"sample_id": "c", "score": 2, "error": "crashed"},
        ],
    )
    assert [s.sample_id for s in worst_samples(res, "lower")] == ["c", "b", "a"]
    assert [s.sample_id for s in worst_samples(res, "higher", 2)] == ["c", "a"]


PROBE_BACKEND = """
import json, os
from pathlib import Path
from looplab.lab.backend import EvalResult

class Backend:
    def evaluate(self, pipeline_dir, data_dir, sample_ids=None):
        facts = {}
        for name, target in [("pipeline", Path(pipeline_dir) / "pipeline" / "x"), ("data", Path(data_dir) / "x"),
                             ("lab", Path("/lab/x"))]:
            try:
                target.write_text("x")
                facts[name] = "writable"
            except OSError:
                facts[name] = "read-only"
        facts["data_files"] = sorted(p.name for p in Path(data_dir).iterdir())
        facts["role"] = os.environ["LOOPLAB_EVAL_ROLE"]
        facts["samples"] = sample_ids
        facts["uid"] = os.getuid()
        facts["net"] = open("/proc/net/dev").read().count(":")
        return EvalResult(score=float(len(facts["data_files"])), metrics=facts)
"""


def test_the_evaluation_sandbox_is_read_only_where_it_matters(tmp_path):
    lab = make_lab(tmp_path / "r", backend_code=PROBE_BACKEND)
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.json").write_text("{}")
    (data / "b.json").write_text("{}")
    ev = Evaluator(load_lab(lab), data)
    assert ev.data_snapshot  # pytest's tmp folders are private to root: the sandbox gets a copy
    repo = load_lab(lab).repo
    head = gitops.rev(repo, "HEAD")
    copy = ev.materialize(gitops.tree_of(repo, head))
    res, rec = ev.evaluate(copy, 7, "candidate", sample_ids=["a"])
    ev.close()
    m = res.metrics
    assert (m["pipeline"], m["data"], m["lab"]) == ("read-only", "read-only", "read-only")
    assert m["data_files"] == ["a.json", "b.json"] and res.score == 2.0
    assert m["role"] == "candidate" and m["samples"] == ["a"] and m["net"] == 1  # loopback only
    assert rec.ok and rec.index == 7


def test_a_failing_backend_is_a_crash_with_its_traceback(tmp_path):
    lab = make_lab(
        tmp_path / "r",
        backend_code="class Backend:\n    def evaluate(self, p, d, sample_ids=None):\n        raise RuntimeError('model diverged')\n",
    )
    ev = Evaluator(load_lab(lab), None)
    repo = load_lab(lab).repo
    copy = ev.materialize(gitops.tree_of(repo, gitops.rev(repo, "HEAD")))
    with pytest.raises(EvalFailed, match="model diverged") as e:
        ev.evaluate(copy, 1, "candidate")
    assert "Traceback" in e.value.record.output_tail
    r = run_cli("lab", "eval", "--lab", str(lab))
    assert r.returncode == 2 and "model diverged" in r.stderr


def test_command_backend_timeout_is_a_crash(tmp_path):
    lab = make_lab(tmp_path / "r", backend="command", command="sleep 30")
    (lab / "lab.toml").write_text(
        (lab / "lab.toml").read_text().replace("timeout_sec = 60", "timeout_sec = 1", 1)
    )
    ev = Evaluator(load_lab(lab), None)
    repo = load_lab(lab).repo
    copy = ev.materialize(gitops.tree_of(repo, gitops.rev(repo, "HEAD")))
    with pytest.raises(EvalFailed, match="timed out"):
        ev.evaluate(copy, 1, "candidate")


def test_host_service_is_forwarded_into_agent_and_evaluation_sandboxes(tmp_path):
    port = free_port()
    fetch = f"python3 -c \"import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:{port}/value.txt', timeout=10).read().decode().strip())\""
    command = f"v=$({fetch}); echo '{{\"score\": '$v'}}'"
    agent = f"""
    #!/bin/bash
    v=$({fetch})
    echo '{{"x": 4}}' > "$LOOPLAB_PIPELINE_DIR/pipeline/params.json"
    echo "the service said $v"
    """
    service = f"""
[backend.host_service]
command = "{sys.executable} -m http.server {port} --bind 127.0.0.1 --directory served"
port = {port}
"""
    lab = make_lab(tmp_path / "r", backend="command", command=command, agent_script=agent, extra_toml=service)
    (lab / "served").mkdir()
    (lab / "served" / "value.txt").write_text("0.25\n")
    git(lab, "add", "-A")
    git(lab, "commit", "-qm", "served")
    r = run_cli("lab", "eval", "--lab", str(lab))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["score"] == 0.25
    run_lab(lab)
    rec = records(lab)[-1]
    assert rec.notes == "the service said 0.25" and rec.agent_stop == "finished"
    assert (rec.status, rec.score, rec.best_scores) == (
        "discard",
        0.25,
        [0.25],
    )  # both scored via the service
    # the service was stopped with the run
    assert (
        subprocess.run(
            ["python3", "-c", f"import socket; socket.create_connection(('127.0.0.1', {port}), 1)"],
            capture_output=True,
        ).returncode
        != 0
    )


# ---- the result channel: nothing the pipeline's code can write ----------------------------------

# The backend imports the pipeline (as real backends do) and scores it |x - 3|, lower is better.
IMPORTING_BACKEND = """
import importlib.util, sys
from pathlib import Path
from looplab.lab.backend import EvalResult

class Backend:
    def evaluate(self, pipeline_dir, data_dir, sample_ids=None):
        spec = importlib.util.spec_from_file_location("model", Path(pipeline_dir) / "pipeline" / "model.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return EvalResult(score=abs(mod.predict() - 3))
"""

FORGING_PIPELINES = {
    # today's hole: the result file in the writable /out, then exit before the backend returns
    "writes /out/result.json and exits": """
import json, os
for p in ("/out/result.json", "/tmp/result.json"):
    try:
        open(p, "w").write(json.dumps({"ok": True, "result": {"score": 0.0, "metrics": {}, "samples": []}}))
    except OSError:
        pass
os._exit(0)
""",
    "prints result JSON and exits": """
import json, os, sys
print(json.dumps({"ok": True, "result": {"score": 0.0, "metrics": {}, "samples": []}}), flush=True)
print(json.dumps({"score": 0.0}), flush=True)
os._exit(0)
""",
    "writes the runner's stdout through /proc and kills it": """
import json, os, signal
msg = json.dumps({"ok": True, "result": {"score": 0.0, "metrics": {}, "samples": []}}) + "\\n"
for fd in ("1", "2"):
    try:
        with open(f"/proc/{os.getppid()}/fd/1", "w") as fh:
            fh.write(msg)
    except OSError:
        pass
os.kill(os.getppid(), signal.SIGKILL)
os._exit(0)
""",
}


@pytest.mark.parametrize("attack", sorted(FORGING_PIPELINES))
def test_a_pipeline_cannot_write_its_own_score(tmp_path, attack):
    files = {"pipeline/model.py": FORGING_PIPELINES[attack]}
    lab = make_lab(tmp_path / "r", backend_code=IMPORTING_BACKEND, files=files)
    ev = Evaluator(load_lab(lab), None)
    repo = load_lab(lab).repo
    copy = ev.materialize(gitops.tree_of(repo, gitops.rev(repo, "HEAD")))
    try:
        with pytest.raises(EvalFailed, match="before returning a result|without a result"):
            ev.evaluate(copy, 1, "candidate")
    finally:
        ev.close()


def test_a_forging_edit_is_a_crash_never_kept(tmp_path):
    """In a lab run: the agent's pipeline writes /out/result.json and exits; the loop records a crash."""
    honest = "def predict():\n    return 10\n"
    forge = FORGING_PIPELINES["writes /out/result.json and exits"]
    agent = f"""
    #!/bin/bash
    cat > "$LOOPLAB_PIPELINE_DIR/pipeline/model.py" <<'PY'
{forge}
PY
    echo forged
    """
    lab = make_lab(
        tmp_path / "r",
        backend_code=IMPORTING_BACKEND,
        files={"pipeline/model.py": honest},
        agent_script=agent,
    )
    run_lab(lab)
    recs = records(lab)
    assert recs[0].score == 7.0  # the baseline
    last = recs[-1]
    assert last.notes == "forged" and not last.kept and last.status == "crash", last
    assert (lab / "pipeline" / "model.py").read_text() == honest
