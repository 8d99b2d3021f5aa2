"""Every stopping condition stops a real lab run, and the run says which one stopped it."""

from __future__ import annotations

import json

from conftest import run_cli
from lab_helpers import git, make_lab, records, run_lab

from looplab.lab.stopping import Limits, Progress, check

IMPROVE_BY_ONE = """
#!/bin/bash
f="$LOOPLAB_PIPELINE_DIR/pipeline/params.json"
x=$(python3 -c "import json; print(json.load(open('$f'))['x'])")
python3 -c "import json; json.dump({'x': $x - 1}, open('$f', 'w'))"
echo "x=$x-1"
"""


def test_check_order_and_messages():
    lim = Limits(max_iterations=5, max_hours=1, max_cost=2, target_score=1.5, plateau=3, max_restarts=1)
    assert check(lim, Progress(), "higher") is None
    assert check(lim, Progress(best_score=1.5), "higher").reason == "target_score"
    assert check(lim, Progress(best_score=1.49), "higher") is None
    assert check(lim, Progress(best_score=1.6), "lower") is None
    assert check(lim, Progress(best_score=1.4), "lower").reason == "target_score"
    assert check(lim, Progress(restarts=2), "lower").reason == "max_restarts"
    assert check(lim, Progress(restarts=1), "lower") is None
    assert check(lim, Progress(iterations=5), "lower").reason == "max_iterations"
    assert check(lim, Progress(cost_usd=2.0), "lower").reason == "max_cost"
    assert check(lim, Progress(active_s=3600), "lower").reason == "max_hours"
    s = check(lim, Progress(since_keep=3), "lower")
    assert s.reason == "plateau" and "3 experiments in a row" in s.message
    assert check(Limits(), Progress(iterations=10**6, since_keep=10**6), "lower") is None


def test_max_iterations(tmp_path):
    lab = make_lab(tmp_path / "r", agent_script=IMPROVE_BY_ONE)
    s = run_lab(lab, max_iterations=3)
    assert (s.stop_reason, s.experiments, s.keeps) == ("max_iterations", 3, 3)
    assert [r.status for r in records(lab)] == ["baseline", "keep", "keep", "keep"]


def test_plateau(tmp_path):
    lab = make_lab(tmp_path / "r", agent_script="#!/bin/bash\necho nothing to try\n")
    s = run_lab(lab, max_iterations=20, plateau=3)
    assert (s.stop_reason, s.experiments) == ("plateau", 3)
    assert "3 experiments in a row without a keep" in s.stop_message


def test_max_restarts(tmp_path):
    lab = make_lab(tmp_path / "r", agent_script="#!/bin/bash\necho crashing >&2\nexit 1\n")
    s = run_lab(lab, max_iterations=20, max_restarts=1)
    assert (s.stop_reason, s.experiments) == ("max_restarts", 2)
    recs = records(lab)[1:]
    assert all(r.agent_stop == "error" and "crashing" in (r.agent_error or "") for r in recs)


def test_max_cost_from_a_command_reporting_its_spend(tmp_path):
    script = """
    #!/bin/bash
    echo '{"input_tokens": 1000, "output_tokens": 200, "cost_usd": 0.3}' > "$LOOPLAB_USAGE"
    echo "paid for nothing"
    """
    lab = make_lab(tmp_path / "r", agent_script=script)
    s = run_lab(lab, max_iterations=20, max_cost=0.5)
    assert (s.stop_reason, s.experiments) == ("max_cost", 2)
    r = records(lab)[-1]
    assert (r.cost_usd, r.input_tokens, r.output_tokens, r.tokens) == (0.3, 1000, 200, 1200)


def test_max_hours_also_bounds_the_agent(tmp_path):
    lab = make_lab(tmp_path / "r", agent_script="#!/bin/bash\nsleep 30\necho slow\n")
    s = run_lab(lab, max_iterations=20, max_hours=4 / 3600)
    assert s.stop_reason == "max_hours" and s.experiments == 1
    r = records(lab)[-1]
    assert r.agent_stop == "timeout" and r.timing["agent_s"] < 10


def test_target_score_lower_is_better(tmp_path):
    script = """
    #!/bin/bash
    echo '{"x": 3.1}' > "$LOOPLAB_PIPELINE_DIR/pipeline/params.json"
    """
    lab = make_lab(tmp_path / "r", agent_script=script)
    s = run_lab(lab, max_iterations=20, target_score=0.25)
    assert (s.stop_reason, s.experiments) == ("target_score", 1)
    assert abs(s.best_score - 0.1) < 1e-9 and "<= target 0.25" in s.stop_message


HIGHER_BACKEND = """
import json
from pathlib import Path
from looplab.lab.backend import EvalResult

class Backend:
    def evaluate(self, pipeline_dir, data_dir, sample_ids=None):
        return EvalResult(score=json.loads((Path(pipeline_dir) / "pipeline" / "params.json").read_text())["x"])
"""


def test_target_score_above_one_higher_is_better(tmp_path):
    script = """
    #!/bin/bash
    f="$LOOPLAB_PIPELINE_DIR/pipeline/params.json"
    python3 -c "import json; x = json.load(open('$f'))['x']; json.dump({'x': x + 0.3}, open('$f', 'w'))"
    """
    lab = make_lab(
        tmp_path / "r",
        agent_script=script,
        direction="higher",
        backend_code=HIGHER_BACKEND,
        files={"pipeline/params.json": '{"x": 1.0}'},
    )
    s = run_lab(lab, max_iterations=20, target_score=1.5)
    assert (s.stop_reason, s.experiments, s.keeps) == ("target_score", 2, 2)
    assert abs(s.best_score - 1.6) < 1e-9 and ">= target 1.5" in s.stop_message


def test_a_catalog_task_as_a_lab(tmp_path, tiny_task):
    """`lab run --task`: the task's editable file is the pipeline, its sealed verifier the backend."""
    script = tmp_path / "bump.sh"
    script.write_text(
        '#!/bin/bash\nv=$(cat /app/value.txt)\necho $((v + 3)) > /app/value.txt\necho "value + 3"\n'
    )
    lab = tmp_path / "tasklab"
    r = run_cli(
        "lab",
        "run",
        "--task",
        str(tiny_task),
        "--lab",
        str(lab),
        "-a",
        "command",
        "--ak",
        f"script={script}",
        "--target-score",
        "0.5",
        "--max-iterations",
        "5",
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "stopped: target_score" in r.stdout
    recs = records(lab)
    assert [x.status for x in recs] == ["baseline", "keep", "keep"]
    assert [x.score for x in recs] == [0.0, 0.3, 0.6]  # value 0 -> 3 -> 6, reward = value / 10
    assert git(lab, "show", "lab/tiny_task-lab:value.txt").strip() == "6"
    assert (lab / "value.txt").read_text().strip() == "6"
    assert json.loads((lab / ".looplab" / "state.json").read_text())["run"]["stop_reason"] == "target_score"


def test_a_task_lab_can_optimize_another_verifier_metric(tmp_path, tiny_task):
    from looplab.lab.init import init_task_lab

    lab = init_task_lab(str(tiny_task), tmp_path / "tl")
    toml = (lab / "lab.toml").read_text().replace('metric = "reward"', 'metric = "value"')
    script = tmp_path / "bump.sh"
    script.write_text("#!/bin/bash\necho $(( $(cat /app/value.txt) + 4 )) > /app/value.txt\n")
    toml = toml.replace('name = "llm"', f'name = "command"\nkwargs = {{ script = "{script}" }}')
    (lab / "lab.toml").write_text(toml)
    git(lab, "commit", "-qam", "optimize the raw value")
    s = run_lab(lab, max_iterations=5, target_score=7)
    assert (s.stop_reason, s.best_score) == ("target_score", 8.0)
    assert [r.score for r in records(lab)] == [0.0, 4.0, 8.0]
    assert records(lab)[-1].metrics["reward"] == 0.8
