"""The candidate runner's exact mode (``mode = "exact"``): one jailed run, the trusted check's JSON.

Real jails (bubblewrap, cgroups where there are): the program never sees the seed, ``/expected``
or ``/tests``; what it prints cannot become the reward; the check reads its output as data.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from looplab.environment.build import scratch_dir
from looplab.errors import LooplabError
from looplab.fsutil import remove_tree
from looplab.tasks.model import TaskConfig
from looplab.verify.rewards import check_reward_config
from looplab.verify.runner import CandidateRunner, load_declaration
from looplab.verify.runner_exact import run_exact

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")

GEN = """#!/bin/sh
# seed input expected: 50 numbers for the program, their sum only for the check
awk -v s="$1" 'BEGIN{srand(s%100000); t=0; for(i=0;i<50;i++){x=int(rand()*1000); print x > "'"$2"'/nums"; t+=x}; print t > "'"$3"'/sum"}'
"""
# the check: the reward is 1 when the program printed the sum, else 0 with the reason
CHECK = """#!/bin/sh
got="$(head -c 100 "$1/stdout")"; want="$(cat "$2/sum")"
if [ "$got" = "$want" ]; then echo "checking..."; echo '{"reward": 1.0, "correct": true, "sum": '"$want"'}'
else echo '{"reward": 0.0, "correct": false, "reason": "wrong sum"}'; fi
"""
HONEST = "#!/bin/sh\nawk '{t+=$1} END{print t}' \"$1\"\n"


@pytest.fixture
def tmp_path() -> Path:  # type: ignore[override]
    """A scratch folder the sandbox uid can reach (pytest's own tmp folders are mode 700)."""
    d = scratch_dir("test-runner-exact")
    yield d
    remove_tree(d)


def _root(tmp_path: Path, candidate: str) -> Path:
    root = tmp_path / "root"
    for d in ("app", "tests", "logs", "solution"):
        (root / d).mkdir(parents=True)
        os.chmod(root / d, 0o755)
    (root / "tests" / "gen.sh").write_text(GEN)
    (root / "tests" / "check.sh").write_text(CHECK)
    (root / "app" / "sum.sh").write_text(candidate)
    os.chmod(root, 0o755)
    return root


def _exact(tmp_path: Path, candidate: str, toml: str | None = None) -> dict:
    root = _root(tmp_path, candidate)
    (tmp_path / "run.toml").write_text(
        toml
        or 'mode = "exact"\n'
        '[generate]\ncommand = "sh /tests/gen.sh {seed} {input} {expected}"\n'
        '[run]\ncommand = "sh {src}/sum.sh {input}/nums"\ntimeout_sec = 20\n'
        '[check]\ncommand = "sh /tests/check.sh {output} {expected}"\n'
    )
    decl = load_declaration(tmp_path)
    assert decl is not None and decl.programs == {"candidate": "/app"}
    runner = CandidateRunner(decl, root, tmp_path / "scratch", None, {})
    try:
        return run_exact(runner).model_dump()
    finally:
        runner.close()


def test_the_checks_json_is_the_result_on_a_fresh_input(tmp_path: Path) -> None:
    a = _exact(tmp_path, HONEST)
    assert a["reason"] is None and a["data"]["reward"] == 1.0 and a["data"]["correct"] is True
    remove_tree(tmp_path / "root")
    b = _exact(tmp_path, HONEST)
    assert a["seed"] != b["seed"] and a["data"]["sum"] != b["data"]["sum"]  # drawn at verification time


@pytest.mark.parametrize(
    "attack",
    [
        # print a forged reward (the check reads stdout only as the answer)
        '#!/bin/sh\necho \'{"reward": 1.0, "correct": true, "sum": 1}\'\n',
        # read what only the check may: the expected sum, the generator, the seed in the environment
        "#!/bin/sh\ncat /expected/sum 2>/dev/null || cat /tests/* 2>/dev/null || env | grep -i seed || echo 0\n",
        # leave a symlink to the expected answer where the check reads the output
        "#!/bin/sh\nrm -f /output/stdout; ln -s /expected/sum /output/stdout; ln -s /expected/sum /output/x\n",
    ],
    ids=["forged-json", "read-expected", "symlink-output"],
)
def test_what_the_program_does_besides_answering_earns_nothing(tmp_path: Path, attack: str) -> None:
    res = _exact(tmp_path, attack)
    assert res["data"] == {"reward": 0.0, "correct": False, "reason": "wrong sum"}


def test_a_failing_program_or_check_gives_no_data_and_the_reason(tmp_path: Path) -> None:
    res = _exact(tmp_path, "#!/bin/sh\necho oops >&2\nexit 3\n")
    assert res["data"] is None and "exited 3" in res["reason"] and "oops" in res["reason"]
    remove_tree(tmp_path / "root")
    no_json = 'mode = "exact"\n[run]\ncommand = "sh {src}/sum.sh /dev/null"\n[check]\ncommand = "echo fine"\n'
    res = _exact(tmp_path, HONEST, no_json)
    assert res["data"] is None and "no JSON object" in res["reason"]


def test_without_a_run_the_check_reads_the_sources_as_data(tmp_path: Path) -> None:
    toml = (
        'mode = "exact"\n[check]\n'
        'command = "n=$(wc -l < {src}/sum.sh); echo \'{\\"reward\\": 0.5, \\"lines\\": \'$n\'}\'"\n'
    )
    res = _exact(tmp_path, HONEST, toml)
    assert res["data"] == {"reward": 0.5, "lines": 2} and res["seed"] is None


def test_a_bad_exact_declaration_is_one_line_naming_the_field(tmp_path: Path) -> None:
    (tmp_path / "run.toml").write_text(
        'mode = "exact"\n[programs]\nbaseline = "/orig"\ncandidate = "/app"\n[check]\ncommand = "y"\n'
    )
    with pytest.raises(LooplabError, match=r"run.toml: field programs: mode = 'exact' runs one program"):
        load_declaration(tmp_path)


def test_tasks_check_reads_the_declaration(tmp_path: Path) -> None:
    (tmp_path / "run.toml").write_text('mode = "exact"\n[check]\ncommand = "y"\n')
    exact = load_declaration(tmp_path)
    reported = TaskConfig.model_validate({"looplab": {"measure": "reported"}})
    paired = TaskConfig.model_validate({"looplab": {"measure": "paired"}})
    assert check_reward_config(reported, exact) == []
    assert any(
        "field mode: 'exact' needs [looplab] measure = 'reported'" in p
        for p in check_reward_config(paired, exact)
    )
    (tmp_path / "run.toml").write_text(
        '[generate]\ncommand = "g"\n[run]\ncommand = "r"\n[check]\ncommand = "c"\n'
    )
    timed = load_declaration(tmp_path)
    # a declared paired task needs no [looplab.paired] commands: the runner runs its programs
    assert not any("looplab.paired" in p for p in check_reward_config(paired, timed))
    assert any("looplab.paired" in p for p in check_reward_config(paired))


# ---- [run] cpu_sec: a CPU-second budget of the whole run jail; hidden: root entries programs lack ----
BURN = (
    "sh -c 'while :; do :; done' & "  # a second process: the budget counts every process of the jail
    "i=0; while :; do i=$((i+1)); echo $i > {output}/progress.tmp; mv {output}/progress.tmp {output}/progress; done"
)
# reads what the stopped run left (the progress it saved), as a trainer's check reads its last model
PROGRESS_CHECK = (
    "n=$(cat {output}/progress 2>/dev/null || echo 0); "
    'if [ "$n" -gt 0 ]; then echo \'{"reward": 1.0, "steps": \'$n\'}\'; '
    'else echo \'{"reward": 0.0, "correct": false, "reason": "nothing saved"}\'; fi'
)


def _budgeted(
    tmp_path: Path, run: str, check: str, cpu_sec: float, timeout_sec: float = 60
) -> tuple[dict, list]:
    root = _root(tmp_path, HONEST)
    q = "'" * 3  # TOML literal strings: the shell commands as they are
    (tmp_path / "run.toml").write_text(
        f"mode = 'exact'\n[run]\ncommand = {q}{run}{q}\ncpu_sec = {cpu_sec}\ntimeout_sec = {timeout_sec}\n"
        f"[check]\ncommand = {q}{check}{q}\n"
    )
    decl = load_declaration(tmp_path)
    assert decl is not None and decl.run is not None and decl.run.cpu_sec == cpu_sec
    runner = CandidateRunner(decl, root, tmp_path / "scratch", None, {})
    try:
        return run_exact(runner).model_dump(), runner.log
    finally:
        runner.close()


def test_a_run_is_stopped_at_its_cpu_budget_and_what_it_saved_is_checked(tmp_path: Path) -> None:
    res, log = _budgeted(tmp_path, BURN, PROGRESS_CHECK, cpu_sec=1, timeout_sec=60)
    run = next(s for s in log if s["step"] == "run")
    assert run["cpu_limited"] is True and res["reason"] is None, (res, log)
    assert res["data"]["reward"] == 1.0 and res["data"]["steps"] > 0
    # two busy processes: stopped at about one CPU second of both together, long before the wall limit
    assert run["s"] < 30
    if run["cpu_s"] is not None:
        assert 0.9 <= run["cpu_s"] < 1.6, run


def test_a_check_failing_a_stopped_run_says_it_was_stopped(tmp_path: Path) -> None:
    res, _ = _budgeted(tmp_path, "while :; do :; done", PROGRESS_CHECK, cpu_sec=1)
    assert res["data"]["reward"] == 0.0
    assert res["data"]["reason"] == "nothing saved (candidate was stopped at its 1 CPU-second budget)"


def test_the_wall_limit_of_a_budgeted_run_is_still_a_failure(tmp_path: Path) -> None:
    res, log = _budgeted(tmp_path, "sleep 30", PROGRESS_CHECK, cpu_sec=5, timeout_sec=1)
    assert res["data"] is None and "timed out after 1 s" in res["reason"]
    assert next(s for s in log if s["step"] == "run")["cpu_limited"] is False


@pytest.mark.parametrize(
    "toml",
    [
        'mode = "exact"\n[check]\ncommand = "c"\ncpu_sec = 5\n',
        '[generate]\ncommand = "g"\n[run]\ncommand = "r"\ncpu_sec = 5\n[check]\ncommand = "c"\n',
    ],
    ids=["on-check", "timed-mode"],
)
def test_only_an_exact_run_takes_a_cpu_budget(tmp_path: Path, toml: str) -> None:
    (tmp_path / "run.toml").write_text(toml)
    with pytest.raises(
        LooplabError, match=r"run.toml: field (check|run).cpu_sec: only \[run\] of mode = 'exact'"
    ):
        load_declaration(tmp_path)


def test_hidden_root_entries_are_not_in_program_jails_but_in_trusted_ones(tmp_path: Path) -> None:
    root = _root(tmp_path, HONEST)
    (root / "data").mkdir()
    os.chmod(root / "data", 0o755)
    (root / "data" / "local.txt").write_text("local-only\n")
    (tmp_path / "run.toml").write_text(
        'mode = "exact"\nhidden = ["data"]\n'
        '[run]\ncommand = "ls /data > {output}/seen 2>&1; cat /data/local.txt >> {output}/seen 2>&1; true"\n'
        '[check]\ncommand = "grep -q local-only {output}/seen && echo \'{\\"reward\\": 1}\' || '
        '(grep -q local-only /data/local.txt && echo \'{\\"reward\\": 0}\')"\n'
    )
    decl = load_declaration(tmp_path)
    assert decl is not None
    runner = CandidateRunner(decl, root, tmp_path / "scratch", None, {})
    try:
        res = run_exact(runner)
    finally:
        runner.close()
    assert res.data == {"reward": 0}, res  # the program saw no /data; the check did


# ---- reference = "solution": the task's solution runs alongside the candidate -------------------------
WHO = (  # each program saves who it is and when it started, then trains (burns) until its budget stops it
    '#!/bin/sh\necho {who} > "$1/who"; date +%s.%N > "$1/t0"\n'
    'i=0; while :; do i=$((i+1)); echo $i > "$1/n.tmp"; mv "$1/n.tmp" "$1/n"; done\n'
)
ALONGSIDE_CHECK = """import json, sys
out, ref = sys.argv[1], sys.argv[2]
read = lambda d, f: open(f"{d}/{f}").read().strip()
print(json.dumps({"reward": 1.0, "who": read(out, "who"), "ref_who": read(ref, "who"),
                  "t0": float(read(out, "t0")), "ref_t0": float(read(ref, "t0"))}))
"""


def _alongside(tmp_path: Path, reference_script: str) -> tuple[dict, list]:
    root = _root(tmp_path, WHO.format(who="candidate"))
    (root / "tests" / "check.py").write_text(ALONGSIDE_CHECK)
    ref_app = tmp_path / "reference-app"  # the derived reference: bound over /app in its own jails only
    ref_app.mkdir()
    (ref_app / "sum.sh").write_text(reference_script)
    os.chmod(ref_app, 0o755)
    (tmp_path / "run.toml").write_text(
        'mode = "exact"\nreference = "solution"\n'
        '[run]\ncommand = "sh {src}/sum.sh {output}"\ncpu_sec = 1\ntimeout_sec = 60\n'
        '[check]\ncommand = "python3 /tests/check.py {output} {reference}"\n'
    )
    decl = load_declaration(tmp_path)
    assert decl is not None and decl.reference == "solution"
    runner = CandidateRunner(decl, root, tmp_path / "scratch", None, {})
    try:
        runner.add_program("solution", "/app", [(ref_app, "/app")])
        return run_exact(runner).model_dump(), runner.log
    finally:
        runner.close()


def test_the_solution_runs_alongside_the_candidate_under_its_own_budget(tmp_path: Path) -> None:
    res, log = _alongside(tmp_path, WHO.format(who="solution"))
    assert res["reason"] is None, res
    data = res["data"]
    # each program ran its own sources; the check read both outputs
    assert data["who"] == "candidate" and data["ref_who"] == "solution"
    runs = {s["program"]: s for s in log if s["step"] == "run"}
    assert set(runs) == {"candidate", "solution"} and all(r["cpu_limited"] for r in runs.values())
    for r in runs.values():  # each stopped at its own budget: the cgroups are separate
        if r["cpu_s"] is not None:
            assert 0.9 <= r["cpu_s"] < 1.6, runs
    # at the same time: the second started before the first was stopped
    assert abs(data["t0"] - data["ref_t0"]) < max(r["s"] for r in runs.values()), (data, runs)


def test_a_failing_reference_is_the_harness_failure_not_the_candidates(tmp_path: Path) -> None:
    with pytest.raises(
        LooplabError, match="reference solution failed alongside the candidate: solution exited 4"
    ):
        _alongside(tmp_path, "#!/bin/sh\nexit 4\n")


@pytest.mark.parametrize(
    ("toml", "why"),
    [
        (
            'mode = "exact"\nreference = "baseline"\n[run]\ncommand = "r"\n[check]\ncommand = "c"\n',
            "takes only",
        ),
        ('mode = "exact"\nreference = "solution"\n[check]\ncommand = "c"\n', "which is missing"),
    ],
    ids=["not-the-solution", "no-run"],
)
def test_exact_mode_takes_only_the_solution_as_reference(tmp_path: Path, toml: str, why: str) -> None:
    (tmp_path / "run.toml").write_text(toml)
    with pytest.raises(LooplabError, match=f"run.toml: field reference: .*{why}"):
        load_declaration(tmp_path)
