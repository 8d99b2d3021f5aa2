"""A daily tool (issue 15): failures are failures, preflight, extending jobs, readable output, lab edges.

Everything runs for real: the CLI as a subprocess, tasks in the sandbox, labs in real git repositories.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import REPO, run_cli, trial_results
from lab_helpers import git, make_lab, run_lab

from looplab.errors import LooplabError
from looplab.lab.config import load_lab


def _run_tiny(tmp_path: Path, task: Path, job: str, *extra: str, env: dict | None = None):
    return run_cli(
        "run", "-p", str(task), "--jobs-dir", str(tmp_path / "jobs"), "--job-name", job, *extra, env=env
    )


# ---- 2. failures are failures ---------------------------------------------------------------
def test_agent_failure_is_an_error_exit_1_unless_allowed(tmp_path: Path, tiny_task: Path) -> None:
    script = tmp_path / "fail.sh"
    script.write_text("#!/bin/sh\necho 4 > /app/value.txt\necho 'no model access' >&2\nexit 3\n")
    args = ("-a", "command", "--ak", f"script={script}")
    r = _run_tiny(tmp_path, tiny_task, "bad", *args)
    assert r.returncode == 1, r.stderr + r.stdout
    (rec,) = trial_results(tmp_path / "jobs" / "bad")
    assert rec["status"] == "agent_error" and rec["reward"] == pytest.approx(0.4)
    assert "exit 3" in rec["exception_info"]["message"]
    assert "agent_error" in r.stdout and "exit 3" in r.stdout  # the reason is in the final table
    summary = json.loads((tmp_path / "jobs" / "bad" / "result.json").read_text())
    stats = summary["stats"]["agents"]["command"]
    assert stats["n_errors"] == 1 and stats["mean_reward"] is None
    assert stats["errors_by_status"] == {"agent_error": 1}
    rep = json.loads(run_cli("report", str(tmp_path / "jobs" / "bad"), "-f", "json").stdout)
    assert rep["leaderboard"][0]["n_errors"] == 1 and rep["leaderboard"][0]["n_completed"] == 0
    assert _run_tiny(tmp_path, tiny_task, "allowed", *args, "--allow-errors").returncode == 0


def test_llm_without_key_fails_before_any_trial(tmp_path: Path, tiny_task: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "LOOPLAB_KEY")}
    env["COLUMNS"] = "200"
    r = subprocess.run(
        [
            *(__import__("conftest").LOOPLAB),
            "run",
            "-p",
            str(tiny_task),
            "-a",
            "llm",
            "-m",
            "openai/gpt-x",
            "--jobs-dir",
            str(tmp_path / "jobs"),
            "--job-name",
            "k",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "OPENAI_API_KEY is not set" in r.stderr
    assert not list((tmp_path / "jobs").glob("k/*__*"))
    r = _run_tiny(
        tmp_path,
        tiny_task,
        "p",
        "-a",
        "llm",
        "-m",
        "openai/unpriced-x",
        "--max-cost",
        "1",
        env={"OPENAI_API_KEY": "sk-test"},
    )
    assert r.returncode == 2 and "--max-cost needs a price for openai/unpriced-x" in r.stderr


# ---- 11. extending a job, naming what differs --------------------------------------------------
def test_larger_k_extends_a_job_and_a_changed_field_is_named(tmp_path: Path, tiny_task: Path) -> None:
    assert _run_tiny(tmp_path, tiny_task, "j", "-a", "oracle").returncode == 0
    r = _run_tiny(tmp_path, tiny_task, "j", "-a", "oracle", "-k", "3")
    assert r.returncode == 0, r.stderr
    assert "1 finished trial(s) skipped" in r.stderr
    assert sorted(x["attempt"] for x in trial_results(tmp_path / "jobs" / "j")) == [0, 1, 2]
    r = _run_tiny(tmp_path, tiny_task, "j", "-a", "nop", "-k", "3")
    assert r.returncode == 2
    assert "different agents (agents was ['oracle'], now ['nop'])" in r.stderr, r.stderr


# ---- 7. all broken tasks of -p reported together -----------------------------------------------
def test_every_broken_task_is_reported(tmp_path: Path, tiny_task: Path) -> None:
    bad = []
    for name in ("bad_a", "bad_b"):
        d = tmp_path / name
        d.mkdir()
        (d / "task.toml").write_text('version = "1.0"\n[agent]\ntimeout_sec = "soon"\n')
        (d / "instruction.md").write_text("x\n")
        bad += ["-p", str(d)]
    r = _run_tiny(tmp_path, tiny_task, "b", *bad)
    assert r.returncode == 2
    assert "2 task(s) cannot run" in r.stderr and "bad_a" in r.stderr and "bad_b" in r.stderr, r.stderr


# ---- 5. output that survives a pipe and 60 columns ----------------------------------------------
def test_tables_never_truncate_when_narrow(tmp_path: Path) -> None:
    r = run_cli("tasks", "list", env={"COLUMNS": "60"})
    assert r.returncode == 0, r.stderr
    assert "…" not in r.stdout
    names = [p.name for p in (REPO / "tasks").iterdir() if (p / "task.toml").is_file()]
    first_cells = "".join(ln.split("│")[1].strip() for ln in r.stdout.splitlines() if ln.startswith("│"))
    for n in names:  # a long name may wrap onto the next line of its cell, never lose characters
        assert n in first_cells, n


# ---- 9. lab edges ------------------------------------------------------------------------------
DATA_BACKEND = """
from pathlib import Path
from looplab.lab.backend import EvalBackend, EvalResult, SampleResult

class Backend(EvalBackend):
    def evaluate(self, pipeline_dir, data_dir, sample_ids=None):
        v = float((Path(data_dir) / "v.txt").read_text())
        return EvalResult(score=v, metrics={}, samples=[SampleResult(sample_id="only", score=v)])
"""


def test_lab_run_remembers_data(tmp_path: Path) -> None:
    lab = make_lab(
        tmp_path / "repo",
        backend_code=DATA_BACKEND,
        agent_script="echo '{\"x\": 4}' > pipeline/params.json\n",
    )
    data = tmp_path / "data"
    data.mkdir()
    (data / "v.txt").write_text("5\n")
    first = run_lab(lab, data=data)
    assert first.best_score == 5.0
    second = run_lab(lab, max_iterations=2)
    assert ("data_kept", {"data": str(data.resolve())}) in second.events  # type: ignore[attr-defined]
    kinds = [k for k, i in second.events if k == "eval" and "error" in i]  # type: ignore[attr-defined]
    assert kinds == []


def test_lab_agent_checked_before_the_branch(tmp_path: Path) -> None:
    lab = make_lab(tmp_path / "repo", agent={"name": "comand", "timeout_sec": 60})
    before = git(lab, "rev-parse", "--abbrev-ref", "HEAD").strip()
    with pytest.raises(LooplabError, match="comand"):
        run_lab(lab)
    assert git(lab, "rev-parse", "--abbrev-ref", "HEAD").strip() == before
    assert "lab/t" not in git(lab, "branch", "--list")


def test_lab_pipeline_dot_and_missing_paths(tmp_path: Path) -> None:
    lab = make_lab(tmp_path / "repo")
    toml = lab / "lab.toml"
    text = toml.read_text()
    toml.write_text(text.replace('pipeline = ["pipeline"]', 'pipeline = ["."]'))
    with pytest.raises(LooplabError, match="is the whole repository"):
        load_lab(lab)
    toml.write_text(text.replace('pipeline = ["pipeline"]', 'pipeline = ["pipelin"]'))
    git(lab, "commit", "-qam", "typo")
    with pytest.raises(LooplabError, match="'pipelin' does not exist"):
        run_lab(lab)
    assert "lab/t" not in git(lab, "branch", "--list")  # found before the branch was made


def test_lab_results_show_crash_reasons(tmp_path: Path) -> None:
    lab = make_lab(tmp_path / "repo", agent_script="echo 'not json' > pipeline/params.json\n")
    run_lab(lab)
    r = run_cli("lab", "results", "--lab", str(lab), env={"COLUMNS": "80"})
    assert r.returncode == 0, r.stderr
    assert "crash" in r.stdout and "JSONDecodeError" in r.stdout.replace("\n", "").replace("│", ""), r.stdout
    rows = json.loads(run_cli("lab", "results", "--lab", str(lab), "--json").stdout)
    assert [x["status"] for x in rows] == ["baseline", "crash"] and rows[1]["reason"]


# ---- 3. waits you can see --------------------------------------------------------------------
HOLD_ALL_CORES = """
import os, sys, time
from looplab.job.cores import CoreAllocator
alloc = CoreAllocator(memory_mb=0)
grant = alloc.acquire(len(alloc.cores))
print("holding", grant.cores, flush=True)
time.sleep(120)
"""


def test_a_wait_for_cores_is_reported_bounded_and_recorded(tmp_path: Path, tiny_task: Path) -> None:
    claims = tmp_path / "claims"
    env = {**os.environ, "LOOPLAB_CORE_CLAIMS": str(claims)}
    holder = subprocess.Popen(
        [__import__("sys").executable, "-c", HOLD_ALL_CORES], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().startswith("holding")
        r = _run_tiny(
            tmp_path,
            tiny_task,
            "w",
            "-a",
            "oracle",
            "--core-wait",
            "6",
            env={"LOOPLAB_CORE_CLAIMS": str(claims)},
        )
    finally:
        holder.kill()
        holder.wait()
    assert r.returncode == 0, r.stderr + r.stdout
    assert f"waiting for 1 core(s) held by pid {holder.pid}:" in r.stderr, r.stderr
    assert "unpinned" in r.stderr and "1 trial(s) ran unpinned" in r.stdout
    (rec,) = trial_results(tmp_path / "jobs" / "w")
    assert rec["resources"]["pinned"] is False and rec["resources"]["core_wait_s"] >= 6
    rep = json.loads(run_cli("report", str(tmp_path / "jobs" / "w"), "--json").stdout)
    assert rep["leaderboard"][0]["n_unpinned"] == 1 and rep["trials"][0]["pinned"] is False


# ---- 7. validation -----------------------------------------------------------------------------
def test_a_looplab_typo_is_an_error_and_every_problem_is_listed(tmp_path: Path, tiny_task: Path) -> None:
    toml = tiny_task / "task.toml"
    toml.write_text(
        toml.read_text().replace('editable = ["value.txt"]', 'editabel = ["value.txt"]\nmeasure = "bogus"')
        + "\n[harbor_extra]\nanything = 1\n"
    )
    r = _run_tiny(tmp_path, tiny_task, "typo", "-a", "nop")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "unknown key 'looplab.editabel' (valid keys: editable, writable" in r.stderr
    assert "field looplab.measure" in r.stderr and "more)" not in r.stderr
    assert not (tmp_path / "jobs" / "typo").exists()
    # a foreign section's unknown key stays a warning
    toml.write_text(toml.read_text().replace("editabel", "editable").replace('measure = "bogus"\n', ""))
    r = run_cli("tasks", "check", "--no-build", str(tiny_task))
    assert r.returncode == 0 and "unknown key 'harbor_extra'" in r.stdout + r.stderr, r.stdout + r.stderr


def test_a_bad_replay_step_names_the_key_and_the_valid_ones(
    tmp_path: Path, tiny_task: Path, write_script
) -> None:
    script = write_script([{"run": "true"}, {"wrte": {"path": "/app/value.txt", "content": "1"}}])
    r = _run_tiny(tmp_path, tiny_task, "rp", "-a", "replay", "--ak", f"script={script}")
    assert r.returncode == 2
    assert "step 2: unknown key 'wrte' (valid keys: run, timeout, write" in r.stderr, r.stderr


def test_an_untraversable_cache_dir_fails_at_start_with_the_fix(tmp_path: Path, tiny_task: Path) -> None:
    import shutil
    import tempfile

    outer = Path(tempfile.mkdtemp(prefix="looplab-test-", dir="/var/tmp"))  # traversable parents
    try:
        outer.chmod(0o755)
        private = outer / "private"
        private.mkdir(mode=0o700)
        r = _run_tiny(
            tmp_path, tiny_task, "c", "-a", "nop", env={"LOOPLAB_CACHE_DIR": str(private / "cache")}
        )
    finally:
        shutil.rmtree(outer)
    assert r.returncode == 2
    assert f"cannot traverse {private}" in r.stderr and f"chmod o+x {private}" in r.stderr, r.stderr


# ---- 11. conventions ---------------------------------------------------------------------------
def test_jobs_dir_from_environment_and_config_file(tmp_path: Path, tiny_task: Path) -> None:
    r = run_cli(
        "run",
        "-p",
        str(tiny_task),
        "-a",
        "nop",
        "--job-name",
        "e",
        env={"LOOPLAB_JOBS_DIR": str(tmp_path / "envjobs")},
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "envjobs" / "e" / "result.json").is_file()
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'jobs_dir = "{tmp_path / "cfgjobs"}"\n')
    no_env = {"LOOPLAB_CONFIG": str(cfg), "LOOPLAB_JOBS_DIR": ""}  # the environment would beat the file
    r = run_cli("run", "-p", str(tiny_task), "-a", "nop", "--job-name", "f", env=no_env)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "cfgjobs" / "f" / "result.json").is_file()
    cfg.write_text('job_dir = "x"\n')
    r = run_cli("tasks", "list", env={"LOOPLAB_CONFIG": str(cfg)})
    assert (
        r.returncode == 2 and "unknown key 'job_dir' (valid keys: jobs_dir, cache_dir, tasks_dir)" in r.stderr
    )


def test_version_and_completion() -> None:
    r = run_cli("--version")
    assert r.returncode == 0 and r.stdout.startswith("looplab ")
    r = run_cli("--show-completion", env={"SHELL": "/bin/bash"})
    assert r.returncode == 0 and "complete" in r.stdout


# ---- 6. report and rescore take jobs, trials or a folder of jobs ---------------------------------
def test_report_and_rescore_say_what_they_got(tmp_path: Path, tiny_task: Path) -> None:
    assert _run_tiny(tmp_path, tiny_task, "a", "-a", "oracle", "-a", "nop").returncode == 0
    jobs = tmp_path / "jobs"
    r = run_cli("report", str(jobs), "--json")
    assert r.returncode == 0 and "folder of 1 job(s)" in r.stderr, r.stderr
    rep = json.loads(r.stdout)
    assert {row["task"] for row in rep["trials"]} == {"tiny_task"} and len(rep["trials"]) == 2
    assert all(row["status"] == "completed" for row in rep["trials"])
    oracle = next(x for x in trial_results(jobs / "a") if x["agent"] == "oracle")
    trial = jobs / "a" / oracle["trial_name"]
    r = run_cli("report", str(trial), "--json")
    assert r.returncode == 0 and "trial of job a" in r.stderr
    rows = json.loads(r.stdout)["trials"]
    assert [(x["task"], x["agent"]) for x in rows] == [("tiny_task", "oracle")]
    r = run_cli("report", str(tmp_path))
    assert r.returncode == 2 and "not a job folder" in r.stderr
    r = run_cli("rescore", str(jobs / "a"))
    assert r.returncode == 0, r.stderr + r.stdout
    assert "job (2 trial folders)" in r.stderr
    for x in trial_results(jobs / "a"):
        assert (jobs / "a" / x["trial_name"] / "checkpoints" / "scores.jsonl").is_file()


def test_lab_init_without_example_refers_to_no_example(tmp_path: Path) -> None:
    r = run_cli("lab", "init", str(tmp_path / "plain"), "--no-example")
    assert r.returncode == 0, r.stderr
    assert (
        "example" not in r.stdout.replace("without_example", "")
        and "propose.py" not in (tmp_path / "plain" / "lab.toml").read_text()
    )
    assert not (tmp_path / "plain" / "propose.py").exists()
    r = run_cli("lab", "init", str(tmp_path / "ex"))
    assert (
        "--data example-data" in r.stdout
        and 'script = "propose.py"' in (tmp_path / "ex" / "lab.toml").read_text()
    )


# ---- 10. lab plots -----------------------------------------------------------------------------
def test_lab_plot_marks_crashes_hides_zero_cost_picks_units_and_normalises(tmp_path: Path) -> None:
    from lab_helpers import records

    from looplab.lab.plot import figure, series

    script = """
    #!/bin/bash
    f="$LOOPLAB_PIPELINE_DIR/pipeline/params.json"
    if [ "$LOOPLAB_EXPERIMENT" = "2" ]; then echo broken > "$f"; exit 0; fi
    python3 -c "import json; x = json.load(open('$f'))['x']; json.dump({'x': x - 2}, open('$f', 'w'))"
    """
    lab = make_lab(tmp_path / "a", agent_script=script)
    summary = run_lab(lab, max_iterations=3)
    s = series("a", "lower", records(lab))
    assert (s.experiments, s.keeps, s.crashes) == (summary.experiments, summary.keeps, 1)
    fig = figure([s])
    assert len(fig.axes) == 2  # no money spent: no cost panel
    assert fig.axes[1].get_xlabel() == "wall-clock time (s)"
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "a: crash (1)" in labels
    other = series("b", "higher", records(lab))
    other.score = [None if v is None else v * 1000 for v in other.score]
    other.best = [None if v is None else v * 1000 for v in other.best]
    both = figure([s, other])
    assert both.axes[0].get_ylabel() == "improvement over baseline (fraction)"


def test_lab_an_already_discarded_tree_is_not_evaluated_again(tmp_path: Path) -> None:
    from lab_helpers import records

    lab = make_lab(tmp_path / "d", agent_script="echo '{\"x\": 20}' > pipeline/params.json\n")
    summary = run_lab(lab, max_iterations=3)
    recs = records(lab)
    assert [r.status for r in recs] == ["baseline", "discard", "duplicate", "duplicate"]
    assert recs[2].reason.startswith("duplicate of experiment 1") and recs[2].score == recs[1].score
    evals = [i["experiment"] for k, i in summary.events if k == "eval"]  # type: ignore[attr-defined]
    assert 2 not in evals and 3 not in evals and 1 in evals
    assert ("duplicate", {"experiment": 2, "of": 1}) in summary.events  # type: ignore[attr-defined]


# ---- 10. report plots ----------------------------------------------------------------------------
def test_anytime_curves_span_the_elapsed_time_with_round_ticks_and_modes_have_own_colours() -> None:
    import re

    from looplab.report.html import section_curves, section_modes
    from looplab.report.html_parts import heat, mode_heat

    curve = {
        "start": 0.0,
        "horizon_s": 1200.0,
        "points": [{"elapsed_s": 4.0, "reward": 0.5}, {"elapsed_s": 9.0, "reward": 0.8}],
    }
    rep = {"trials": [{"trial": "t1", "task": "x", "agent": "a", "used_s": 9.3}], "curves": {"t1": curve}}
    svg = section_curves(rep)
    ticks = re.findall(r'y="219" text-anchor="(?:middle|end)">([0-9.]+)</text>', svg)  # x labels
    assert ticks == ["0", "2.5", "5", "7.5", "10"], ticks  # a 9 s run on a 10 s axis, not 1200 s
    assert 'y="219" text-anchor="end">10</text>' in svg  # the last tick is not clipped
    colours = {mode_heat(m, 1.0) for m in ("steady_climber", "premature_stop", "unscored", "error")}
    assert len(colours) == 4 and heat(1.0) not in {
        mode_heat("premature_stop", 1.0),
        mode_heat("unscored", 1.0),
    }
    modes = {"failure_modes": {"a": {"premature_stop": 1, "unscored": 1}}, "settings": {}}
    html = section_modes(modes)
    assert mode_heat("premature_stop", 0.5) in html and mode_heat("unscored", 0.5) in html


def test_lab_plot_page_in_chromium(tmp_path: Path) -> None:
    from report_helpers import CHROMIUM, CHROMIUM_FLAGS, browser, keep_screenshot

    script = """
    #!/bin/bash
    f="$LOOPLAB_PIPELINE_DIR/pipeline/params.json"
    if [ "$LOOPLAB_EXPERIMENT" = "3" ]; then echo broken > "$f"; exit 0; fi
    python3 -c "import json; x = json.load(open('$f'))['x']; json.dump({'x': x - 2}, open('$f', 'w'))"
    """
    lab = make_lab(tmp_path / "a", agent_script=script)
    run_lab(lab, max_iterations=4)
    out = tmp_path / "plots"
    assert run_cli("lab", "plot", "--lab", str(lab), "--out", str(out)).returncode == 0
    with browser() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = b.new_page(viewport={"width": 1100, "height": 700})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto((out / "lab-plot.html").as_uri())
            cells = page.locator("table tr").nth(1).locator("td").all_inner_texts()
            assert cells[2:5] == ["4", "3", "1"], cells  # experiments, kept, crashes: as the run summary
            box = page.locator("svg").first.bounding_box()
            assert box is not None and box["width"] > 500
            assert not errors, errors
            shot = tmp_path / "lab-plot.png"
            page.screenshot(path=str(shot), full_page=True)
            keep_screenshot(shot, "lab-plot.png")
        finally:
            b.close()


def test_json_outputs_and_unsealed_flag(tmp_path: Path, tiny_task: Path) -> None:
    toml = tiny_task / "task.toml"
    toml.write_text(toml.read_text().replace('editable = ["value.txt"]\n', ""))  # no editable globs: unsealed
    r = _run_tiny(tmp_path, tiny_task, "u", "-a", "oracle", "--json")
    assert r.returncode == 0, r.stderr
    job = json.loads(r.stdout)
    assert job["schema_version"] == 1 and job["trials"][0]["sealed"] is False
    assert job["trials"][0]["status"] == "completed" and job["stats"]["agents"]["oracle"]["n_trials"] == 1
    table = _run_tiny(tmp_path, tiny_task, "u", "-a", "oracle")  # resumed: nothing to run, the table again
    assert "tiny_task (unsealed)" in table.stdout and "1 trial(s) unsealed" in table.stdout
    rep = json.loads(run_cli("report", str(tmp_path / "jobs" / "u"), "--json").stdout)
    assert rep["leaderboard"][0]["n_unsealed"] == 1 and rep["trials"][0]["sealed"] is False
    listed = json.loads(run_cli("tasks", "list", str(tiny_task), "--json").stdout)
    assert listed["schema_version"] == 1
    assert listed["tasks"][0]["task"] == "tiny_task" and listed["tasks"][0]["editable"] == []


def test_report_leaderboard_drops_columns_rather_than_breaking_words(tmp_path: Path, tiny_task: Path) -> None:
    r = _run_tiny(tmp_path, tiny_task, "w80", "-a", "oracle")
    assert r.returncode == 0, r.stderr
    (rec,) = trial_results(tmp_path / "jobs" / "w80")
    rep = run_cli("report", str(tmp_path / "jobs" / "w80"), env={"COLUMNS": "80"})  # piped, 80 columns
    assert rep.returncode == 0, rep.stderr
    lines = rep.stdout.splitlines()
    board = lines[lines.index(next(ln for ln in lines if "Leaderboard" in ln)) :]
    header = next(ln for ln in board if "agent (model)" in ln)
    assert "mean reward" in header and "95% CI" in header  # whole words, not "rewa" / "rd"
    row = next(ln for ln in board if ln.startswith("│ 1 "))
    assert f"{rec['reward']:.3f}" in row and "oracle" in row
    assert "columns left out to fit 80 columns: mean AUC" in rep.stdout
    assert all(len(ln) <= 80 for ln in lines), max(lines, key=len)


def test_lab_run_log_lines_are_not_broken_when_narrow(tmp_path: Path) -> None:
    lab = make_lab(tmp_path / "n", agent_script="echo '{\"x\": 4}' > pipeline/params.json\n")
    r = run_cli("lab", "run", "--lab", str(lab), env={"COLUMNS": "40"})
    assert r.returncode == 0, r.stderr
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("run 1 starts"))
    assert "max_iterations 1" in line and "{" not in line  # whole, and not a Python dict
    assert any(ln.startswith("run 1: 1 experiments, 1 kept; best score") for ln in r.stdout.splitlines())
