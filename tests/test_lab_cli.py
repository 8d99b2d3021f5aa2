"""`looplab lab` end to end through the real CLI: init, run, eval, diagnose, results, plot."""

from __future__ import annotations

import csv
import io
import json
import re

from conftest import run_cli
from lab_helpers import git, make_lab, records, run_lab


def test_init_in_a_new_folder_makes_a_repo_and_writes_only_there(tmp_path):
    before = sorted(p.name for p in tmp_path.iterdir())
    r = run_cli("lab", "init", str(tmp_path / "mylab"), "--name", "demo")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*before, "mylab"])
    lab = tmp_path / "mylab"
    assert (lab / ".git").is_dir()
    for f in (
        "lab.toml",
        "backend.py",
        "AGENT.md",
        "pipeline/model.py",
        "propose.py",
        "example-data/s00.json",
    ):
        assert (lab / f).is_file(), f
    assert "/.looplab/" in (lab / ".gitignore").read_text().splitlines()
    assert 'name = "demo"' in (lab / "lab.toml").read_text()
    again = run_cli("lab", "init", str(lab))
    assert again.returncode == 2 and "already exists" in again.stderr


def test_init_in_an_existing_repo_touches_nothing_outside_the_lab_folder(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "app.py").write_text("print('hi')\n")
    (repo / ".gitignore").write_text("*.pyc\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "user project")
    r = run_cli("lab", "init", "labs/speed", "--no-example", cwd=repo)
    assert r.returncode == 0, r.stderr
    status = git(repo, "status", "--porcelain", "--untracked-files=all").splitlines()
    assert sorted(line[3:] for line in status) == [
        "labs/speed/.gitignore",
        "labs/speed/AGENT.md",
        "labs/speed/backend.py",
        "labs/speed/lab.toml",
    ]
    assert (repo / ".gitignore").read_text() == "*.pyc\n"


def test_example_lab_end_to_end(tmp_path):
    lab = tmp_path / "ex"
    assert run_cli("lab", "init", str(lab)).returncode == 0
    git(lab, "add", "-A")
    git(lab, "commit", "-qm", "lab")
    # the example pipeline is deterministic: one evaluation per decision is enough
    toml = (lab / "lab.toml").read_text().replace("repeats = 10 ", "repeats = 1 ")
    (lab / "lab.toml").write_text(toml)
    git(lab, "commit", "-qam", "deterministic backend")

    e = run_cli("lab", "eval", "--data", "example-data", cwd=lab)
    assert e.returncode == 0, e.stderr
    got = json.loads(e.stdout)
    assert got["score"] == 7.75 and not got["dirty"] and len(got["samples"]) == 12

    d = run_cli("lab", "diagnose", "--data", "example-data", "--top", "3", "--json", cwd=lab)
    worst = json.loads(d.stdout)["samples"]
    assert [s["sample_id"] for s in worst] == ["s11", "s10", "s09"]
    one = run_cli("lab", "diagnose", "--data", "example-data", "--sample", "s00", "--json", cwd=lab)
    assert [s["sample_id"] for s in json.loads(one.stdout)["samples"]] == ["s00"]

    summary = run_lab(
        lab, data=lab / "example-data", max_iterations=4, plateau=None
    )  # the CLI run: resume tests
    assert summary.stop_reason == "max_iterations"
    recs = records(lab)
    assert [x.status for x in recs] == [
        "baseline",
        "discard",
        "keep",
        "discard",
        "keep",
    ]  # the example climbs
    best = [x for x in recs if x.kept][-1]
    assert best.score < 7.75

    # the working tree now holds the best; eval agrees with the log
    e2 = json.loads(run_cli("lab", "eval", "--data", "example-data", cwd=lab).stdout)
    assert abs(e2["score"] - best.score) < 1e-12 and e2["commit"] == best.commit
    (lab / "pipeline" / "params.json").write_text('{"a": 2.5, "b": -1.0}\n')
    e3 = json.loads(run_cli("lab", "eval", cwd=lab).stdout)  # --data defaults to the last run's
    assert e3["dirty"] and e3["score"] == 0.0
    git(lab, "checkout", "--", "pipeline")

    js = json.loads(run_cli("lab", "results", "--format", "json", cwd=lab).stdout)
    assert [x["experiment"] for x in js] == list(range(5))
    b = json.loads(run_cli("lab", "results", "--best", "--format", "json", cwd=lab).stdout)
    assert [x["experiment"] for x in b] == [best.experiment]
    rows = list(
        csv.DictReader(
            io.StringIO(run_cli("lab", "results", "--last", "2", "--format", "csv", cwd=lab).stdout)
        )
    )
    assert [int(x["experiment"]) for x in rows] == [3, 4]
    table = run_cli("lab", "results", cwd=lab)
    assert table.returncode == 0 and "baseline" in table.stdout


def test_plot_overlays_labs(tmp_path):
    script = """
    #!/bin/bash
    f="$LOOPLAB_PIPELINE_DIR/pipeline/params.json"
    python3 -c "import json; x = json.load(open('$f'))['x']; json.dump({'x': x - 2}, open('$f', 'w'))"
    """
    labs = []
    for name in ("first", "second"):
        lab = make_lab(tmp_path / name, agent_script=script)
        (lab / "lab.toml").write_text(
            (lab / "lab.toml").read_text().replace('name = "t"', f'name = "{name}"')
        )
        git(lab, "commit", "-qam", "name")
        run_lab(lab, max_iterations=2 if name == "first" else 1)
        labs.append(lab)
    out = tmp_path / "plots"
    p = run_cli("lab", "plot", "--lab", str(labs[0]), "--lab", str(labs[1]), "--out", str(out))
    assert p.returncode == 0, p.stderr
    assert (out / "lab-plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "lab-plot.html").read_text()
    assert "<svg" in page and "<script" not in page and 'src="http' not in page and 'href="http' not in page
    assert "<td>first</td>" in page and "<td>second</td>" in page
    rows = page.split("<td>first</td>")[1].split("</tr>")[0]
    cells = re.findall(r"<td>(.*?)</td>", rows)
    assert cells[1] == "2"  # 2 experiments, as the run summary counts them (the baseline is not one)
    empty = run_cli("lab", "plot", "--lab", str(make_lab(tmp_path / "empty")))
    assert empty.returncode == 2 and "no experiments" in empty.stderr


def test_bad_flags_and_missing_lab(tmp_path):
    r = run_cli("lab", "run", "--plateau", "soon", cwd=tmp_path)
    assert r.returncode == 2 and "--plateau" in r.stderr
    r = run_cli("lab", "results", cwd=tmp_path)
    assert r.returncode == 2 and "no lab here" in r.stderr
