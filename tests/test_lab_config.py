"""lab.toml: unknown keys and bad values are one-line errors naming the file and the field."""

from __future__ import annotations

import pytest
from lab_helpers import git

from looplab.errors import LooplabError
from looplab.lab.config import load_lab

BASE = """
[lab]
name = "demo"
pipeline = ["pipeline"]

[backend]
entry = "backend.py:Backend"
"""


def write(tmp_path, text):
    d = tmp_path / "lab"
    d.mkdir(exist_ok=True)
    if not (d / ".git").exists():
        git(d, "init", "-q")
    (d / "lab.toml").write_text(text)
    return d


def err(tmp_path, text) -> str:
    with pytest.raises(LooplabError) as e:
        load_lab(write(tmp_path, text))
    msg = str(e.value)
    assert "\n" not in msg and "lab.toml" in msg
    return msg


def test_defaults(tmp_path):
    lab = load_lab(write(tmp_path, BASE))
    assert lab.branch == "lab/demo" and lab.direction == "lower" and lab.pipeline == ["pipeline"]
    assert lab.config.noise.repeats == 10 and lab.config.noise.confidence == 0.95
    assert lab.config.stop.max_iterations == 50 and lab.config.stop.plateau == 10
    assert lab.sandbox_dir() == "/app"


def test_unknown_keys_are_errors(tmp_path):
    assert "unknown key 'noise.repeat'" in err(tmp_path, BASE + "[noise]\nrepeat = 3\n")
    assert "unknown key 'colour'" in err(tmp_path, "colour = 1\n" + BASE)
    assert "unknown key 'backend.colour'" in err(tmp_path, BASE + "colour = 1\n")
    assert "unknown key 'lab.pipline'" in err(tmp_path, BASE.replace("[lab]", "[lab]\npipline = 1"))


def test_bad_values_are_errors(tmp_path):
    assert "backend.direction" in err(tmp_path, BASE + 'direction = "sideways"\n')
    assert "stop.max_iterations" in err(tmp_path, BASE + "[stop]\nmax_iterations = 0\n")
    assert "noise.confidence" in err(tmp_path, BASE + "[noise]\nconfidence = 1.5\n")
    msg = err(tmp_path, BASE + "[noise]\nrepeats = 3\n")
    assert "can never show confidence" in msg and "at least 5" in msg
    two = BASE.replace('entry = "backend.py:Backend"', 'entry = "b.py:B"\ncommand = "x"')
    assert "exactly one of entry, command or task" in err(tmp_path, two)
    assert "backend.entry" in err(tmp_path, BASE.replace("backend.py:Backend", "backend.py"))
    assert "missing key 'lab.name'" in err(tmp_path, BASE.replace('name = "demo"', ""))
    assert "not valid TOML" in err(tmp_path, BASE + "[[[")


def test_off_switches_a_stopping_condition_off(tmp_path):
    lab = load_lab(write(tmp_path, BASE + '[stop]\nplateau = "off"\nmax_hours = "off"\ntarget_score = 1.5\n'))
    assert lab.config.stop.plateau is None and lab.config.stop.max_hours is None
    assert lab.config.stop.target_score == 1.5


def test_pipeline_may_not_cover_the_lab_itself_or_leave_the_repo(tmp_path):
    msg = err(tmp_path, BASE.replace('["pipeline"]', '["*.py"]'))
    assert "must not change" in msg
    assert "must not change" in err(tmp_path, BASE.replace('["pipeline"]', '["lab.toml"]'))
    assert "not inside the repository" in err(tmp_path, BASE.replace('["pipeline"]', '["../elsewhere"]'))


def test_pipeline_paths_are_resolved_against_the_repo(tmp_path):
    root = tmp_path / "repo"
    (root / "labs" / "a").mkdir(parents=True)
    git(root, "init", "-q")
    (root / "labs" / "a" / "lab.toml").write_text(BASE.replace('["pipeline"]', '["src", "../../lib/*.c"]'))
    lab = load_lab(root / "labs" / "a")
    assert lab.rel == "labs/a" and lab.sandbox_dir() == "/app/labs/a"
    assert lab.pipeline == ["labs/a/src", ":(glob)lib/*.c"]


def test_not_a_git_repo(tmp_path):
    d = tmp_path / "plain"
    d.mkdir()
    (d / "lab.toml").write_text(BASE)
    with pytest.raises(LooplabError, match="not inside a git repository"):
        load_lab(d)


def test_a_misconfigured_agent_fails_before_any_work(tmp_path):
    from lab_helpers import make_lab, run_lab

    lab = make_lab(tmp_path / "r", agent={"name": "command", "kwargs": {"scrpit": "x.sh"}})
    with pytest.raises(LooplabError, match="does not take scrpit"):
        run_lab(lab)
    assert not (lab / ".looplab" / "results.jsonl").exists()
    lab2 = make_lab(tmp_path / "r2", agent={"name": "no-such-agent"})
    with pytest.raises(LooplabError, match="unknown agent 'no-such-agent'"):
        run_lab(lab2)
