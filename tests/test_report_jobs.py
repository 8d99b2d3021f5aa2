"""Reports on job folders produced by real runs: oracle, nop and scripted replay agents, rescored.

One module-scoped set of jobs (about half a minute): oracle and nop twice, and one
replay trial per scripted improvement schedule in tests/fixtures/climb_scripts/,
each rescored with ``looplab rescore``. The report must get the numbers and the
failure modes right, in every output format and in the HTML page (headless Chromium).
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from pathlib import Path

import pytest
from report_helpers import CHROMIUM, CHROMIUM_FLAGS, SCRIPTED, browser, keep_screenshot, looplab, run_jobs

from looplab.fsutil import read_json
from looplab.report.aggregate import build_report
from looplab.report.failure_modes import FailureSettings


@pytest.fixture(scope="module")
def jobs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return run_jobs(tmp_path_factory.mktemp("report-jobs"))


@pytest.fixture(scope="module")
def report(jobs: dict[str, Path]) -> dict:
    return build_report(list(jobs.values()))


def _results(jobs: dict[str, Path]) -> list[dict]:
    return [
        read_json(d / "result.json")
        for j in jobs.values()
        for d in j.iterdir()
        if (d / "result.json").is_file() and d.is_dir()
    ]


def test_every_trial_ran_and_was_rescored(jobs: dict[str, Path], report: dict) -> None:
    assert len(report["trials"]) == 4 + len(SCRIPTED)
    for t in report["trials"]:
        assert t["status"] == "completed", t
        assert t["n_scored"] == t["n_checkpoints"] >= 1, t  # looplab rescore scored every checkpoint


def test_leaderboard_means_and_interval(jobs: dict[str, Path], report: dict) -> None:
    results = _results(jobs)
    board = {r["agent"]: r for r in report["leaderboard"]}
    assert set(board) == {"oracle", "nop", "replay"}
    # independent computation from the result.json files: one task, so the mean over tasks is the mean
    for agent in board:
        rw = [r["reward"] for r in results if r["agent"] == agent]
        assert board[agent]["mean_reward"] == pytest.approx(statistics.fmean(rw), abs=1e-4)
        assert board[agent]["n_completed"] == len(rw)
    assert board["oracle"]["mean_reward"] == 1.0 and board["nop"]["mean_reward"] == 0.0
    # oracle and nop ran two attempts: an interval exists (zero width: the scorer is exact)
    assert (
        board["oracle"]["n_attempts"] == 2
        and board["oracle"]["ci95_low"] == board["oracle"]["ci95_high"] == 1.0
    )
    # the replay trials come from five jobs, one attempt each: five replicates with different rewards
    rep = board["replay"]
    assert rep["n_attempts"] == 5 and rep["ci95_low"] < rep["mean_reward"] < rep["ci95_high"]
    # leaderboard order: best first
    assert [r["agent"] for r in report["leaderboard"]][0] == "oracle"
    # the broken trial fails its correctness gate: 4 of 5 replay trials pass
    assert rep["pass_rate"] == pytest.approx(0.8) and board["oracle"]["pass_rate"] == 1.0


def test_failure_modes_of_scripted_agents(report: dict) -> None:
    by_job = {t["job"]: t for t in report["trials"] if t["agent"] == "replay"}
    for script, mode in SCRIPTED.items():
        assert by_job[script]["failure_mode"] == mode, (script, by_job[script]["why"])
    modes = {t["failure_mode"] for t in report["trials"] if t["agent"] == "nop"}
    assert modes == {"premature_stop"}  # did nothing and said it was done at once
    assert {t["failure_mode"] for t in report["trials"] if t["agent"] == "oracle"} == {"steady_climber"}
    assert report["failure_modes"]["replay"] == {m: 1 for m in SCRIPTED.values()}


def test_failure_mode_thresholds_are_settings(jobs: dict[str, Path]) -> None:
    """The same trials, judged with a stricter 'premature' line, classify differently."""
    strict = build_report([jobs["premature"]], FailureSettings(premature_budget_left=0.95))
    assert strict["trials"][0]["failure_mode"] != "premature_stop"
    out = looplab(
        "report", str(jobs["premature"]), "--format", "json", "--setting", "premature_budget_left=0.95"
    )
    assert json.loads(out.stdout)["trials"][0]["failure_mode"] == strict["trials"][0]["failure_mode"]


def test_anytime_curve_numbers(report: dict) -> None:
    by_job = {t["job"]: t for t in report["trials"] if t["agent"] == "replay"}
    climber = report["curves"][by_job["climber"]["trial"]]
    assert [p["reward"] for p in climber["points"]][:5] == [0.2, 0.4, 0.6, 0.8, 0.9]
    assert climber["final"] == 0.9 and climber["horizon_s"] == 8.0
    # 50% of 0.9 is first reached by 0.6 (at ~4 s), 90% by 0.9 (at ~7 s)
    assert 3.5 < climber["t50_s"] < 5.5 and 6.5 < climber["t90_s"] < 8.0
    # the area is the mean of the step function: between the staircase's lower and upper bounds
    assert 0.35 < climber["auc_time"] < 0.6
    ex = report["curves"][by_job["exhaustion"]["trial"]]
    assert ex["final"] == 0.6 and ex["last_gain_s"] < 2.0
    assert ex["auc_time"] > climber["auc_time"]  # early gains are worth more area than late ones
    nop = [t for t in report["trials"] if t["agent"] == "nop"][0]
    assert report["curves"][nop["trial"]]["auc_time"] == 0.0 and nop["t50_s"] is None


def test_report_cli_formats(jobs: dict[str, Path], tmp_path: Path) -> None:
    dirs = [str(p) for p in jobs.values()]
    j = json.loads(looplab("report", *dirs, "--format", "json").stdout)
    assert {r["agent"] for r in j["leaderboard"]} == {"oracle", "nop", "replay"}
    rows = list(csv.DictReader(io.StringIO(looplab("report", *dirs, "--format", "csv").stdout)))
    assert len(rows) == 4 + len(SCRIPTED)
    assert {r["failure_mode"] for r in rows if r["job"] == "exhaustion"} == {"budget_exhaustion"}
    md = looplab("report", *dirs, "--format", "md").stdout
    assert "## Leaderboard" in md and "| 1 | oracle | 1.000 |" in md
    table = looplab("report", *dirs).stdout
    assert "Leaderboard" in table and "oracle" in table
    bad = looplab("report", *dirs, "--format", "xml", check=False)
    assert bad.returncode != 0 and "--format" in bad.stderr
    bad = looplab("report", *dirs, "--setting", "nonsense=1", check=False)
    assert bad.returncode != 0 and "nonsense" in bad.stderr


def test_html_report_in_chromium(jobs: dict[str, Path], report: dict, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    looplab("report", *[str(p) for p in jobs.values()], "--html", str(out), "--format", "json")
    text = out.read_text()
    assert "http://" not in text and "https://" not in text  # self-contained: nothing to fetch
    with browser() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = b.new_page(viewport={"width": 1300, "height": 900})
            errors: list[str] = []
            requests: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(out.as_uri())
            page.wait_for_load_state("load")
            assert errors == []
            assert all(u.startswith("file://") or u.startswith("data:") for u in requests), requests
            # the leaderboard shows the right numbers
            board = {r["agent"]: r for r in report["leaderboard"]}
            for agent in ("oracle", "nop", "replay"):
                cell = page.locator(
                    f'#leaderboard-table tr[data-agent="{agent}"] td.mean-reward'
                ).inner_text()
                assert cell == f"{board[agent]['mean_reward']:.3f}"
            # a curve is drawn: one visible step line per rescored trial, with real extent
            lines = page.locator('#curves figure[data-task="climb"] polyline.curve')
            assert lines.count() == len(report["trials"])
            box = lines.first.bounding_box()
            assert box is not None and box["width"] > 100
            assert page.locator("#modes-table td[data-mode=budget_exhaustion]").nth(0).is_visible()
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
            keep_screenshot(shot, "report.png")
            # a trial's trajectory view opens from its link, in the same file
            ex = next(t for t in report["trials"] if t["job"] == "exhaustion")
            page.locator(f'#trials a[href="#trial-{ex["trial"]}"]').click()
            view = page.locator(f"section#trial-{ex['trial']}")
            assert view.is_visible() and not page.locator("#leaderboard").is_visible()
            assert view.locator(".event").count() >= 10
            assert view.locator("table.checkpoints tr").count() == ex["n_checkpoints"] + 1
            assert errors == []
        finally:
            b.close()
