"""The research loop with a scripted agent, step by step: improve, regress, no-op, break the build,
add a file then regress, improve while adding and deleting files. After each step the branch,
the working tree and the log must be exactly right (real git, real sandboxes)."""

from __future__ import annotations

import json

from lab_helpers import disk_files, git, make_lab, records, run_lab, tip, tree_files

SCRIPT = r"""
#!/bin/bash
set -e
cd "$LOOPLAB_PIPELINE_DIR/pipeline"
case "$LOOPLAB_EXPERIMENT" in
  1) echo '{"x": 5}' > params.json; echo "improve: x=5" ;;
  2) echo '{"x": 9}' > params.json; echo "regress: x=9" ;;
  3) echo "no-op" ;;
  4) printf '{"x": ' > params.json; echo "break the build" ;;
  5) mkdir -p sub; echo leak > sub/extra.txt; echo '{"x": 8}' > params.json; echo "add a file, regress" ;;
  6) echo '{"x": 4}' > params.json; echo new > new.txt; rm helper.txt; touch junk.o; echo "improve, add and delete" ;;
esac
"""


def test_scripted_agent_steps(tmp_path):
    repo = tmp_path / "repo"
    lab = make_lab(repo, agent_script=SCRIPT)
    # a user's unrelated work in progress must survive every step, uncommitted
    (repo / "README.md").write_text("edited by the user\n")
    (repo / "scratch.txt").write_text("untracked user file\n")
    initial = git(repo, "rev-parse", "HEAD").strip()

    def check_clean(expect_tip: str) -> None:
        assert tip(repo) == expect_tip
        assert git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == "lab/t"
        assert disk_files(repo, "pipeline") == tree_files(repo, expect_tip, "pipeline")
        status = git(repo, "status", "--porcelain", "--untracked-files=all", "--", "pipeline")
        assert status == ""
        assert (repo / "README.md").read_text() == "edited by the user\n"
        assert (repo / "scratch.txt").read_text() == "untracked user file\n"

    # baseline + 1: improve -> keep
    s = run_lab(lab)
    assert s.stop_reason == "max_iterations"
    recs = records(lab)
    assert [(r.experiment, r.status) for r in recs] == [(0, "baseline"), (1, "keep")]
    assert recs[0].score == 7 and recs[0].commit == initial
    keep1 = tip(repo)
    assert git(repo, "rev-parse", f"{keep1}^").strip() == initial
    assert recs[1].kept and recs[1].commit == keep1 and recs[1].score == 2 and recs[1].best_before == 7
    assert recs[1].notes == "improve: x=5" and recs[1].files == ["M pipeline/params.json"]
    assert git(repo, "diff", "--name-only", initial, keep1).split() == ["pipeline/params.json"]
    assert json.loads(tree_files(repo, keep1, "pipeline")["pipeline/params.json"]) == {"x": 5}
    assert "Looplab-Experiment: 1" in git(repo, "log", "-1", "--format=%B", keep1)
    check_clean(keep1)

    # 2: regress -> discard; nothing moves, the candidate stays inspectable under refs/looplab
    run_lab(lab)
    r = records(lab)[-1]
    assert (r.experiment, r.status, r.kept, r.score, r.commit) == (2, "discard", False, 6, keep1)
    cand = git(repo, "rev-parse", "refs/looplab/t/exp-2").strip()
    assert r.candidate == cand and json.loads(git(repo, "show", f"{cand}:pipeline/params.json")) == {"x": 9}
    check_clean(keep1)

    # 3: no-op -> unchanged, nothing evaluated
    run_lab(lab)
    r = records(lab)[-1]
    assert (r.experiment, r.status, r.kept, r.n_evals, r.files) == (3, "unchanged", False, 0, [])
    check_clean(keep1)

    # 4: break the build -> crash, discarded
    run_lab(lab)
    r = records(lab)[-1]
    assert (r.experiment, r.status, r.kept, r.score) == (4, "crash", False, None)
    assert "JSONDecodeError" in r.reason or "Expecting value" in r.reason
    check_clean(keep1)

    # 5: add a file, regress -> discard; the added file must not linger in the working tree
    run_lab(lab)
    r = records(lab)[-1]
    assert (r.experiment, r.status) == (5, "discard")
    assert sorted(r.files) == ["A pipeline/sub/extra.txt", "M pipeline/params.json"]
    assert not (repo / "pipeline" / "sub").exists()
    check_clean(keep1)

    # 6: improve while adding and deleting files -> keep holding exactly that state
    run_lab(lab)
    r = records(lab)[-1]
    keep6 = tip(repo)
    assert (r.experiment, r.status, r.commit, r.score) == (6, "keep", keep6, 1)
    files = tree_files(repo, keep6, "pipeline")
    assert sorted(files) == ["pipeline/new.txt", "pipeline/params.json"]  # helper deleted, junk.o ignored
    assert "pipeline/sub/extra.txt" not in files  # experiment 5's file did not leak into this keep
    assert git(repo, "rev-list", "--count", f"{initial}..lab/t").strip() == "2"
    assert not (repo / "pipeline" / "junk.o").exists()
    check_clean(keep6)
    # the log: every experiment exactly once, in order; the TSV mirrors it
    assert [r.experiment for r in records(lab)] == list(range(7))
    tsv = (lab / ".looplab" / "results.tsv").read_text().splitlines()
    assert len(tsv) == 8 and tsv[0].startswith("experiment\trun\tstatus")
    assert [line.split("\t")[2] for line in tsv[1:]] == [
        "baseline",
        "keep",
        "discard",
        "unchanged",
        "crash",
        "discard",
        "keep",
    ]


def test_lab_in_a_subfolder_touches_only_its_pipeline(tmp_path):
    repo = tmp_path / "repo"
    script = """
    #!/bin/bash
    cd "$LOOPLAB_PIPELINE_DIR"
    echo '{"x": 3}' > pipeline/params.json
    echo "outside" > ../../escape.txt 2>/dev/null || true
    echo "not pipeline" > notes.txt
    echo done
    """
    lab = make_lab(repo, agent_script=script, lab_rel="labs/one")
    s = run_lab(lab)
    r = records(lab)[-1]
    assert s.best_score == 0 and r.status == "keep"
    assert r.files == ["M labs/one/pipeline/params.json"]
    assert git(repo, "show", "--name-only", "--format=", tip(repo)).split() == [
        "labs/one/pipeline/params.json"
    ]
    assert not (repo / "escape.txt").exists() and not (lab / "notes.txt").exists()


def test_agent_cannot_reach_the_lab_state_or_the_backend(tmp_path):
    repo = tmp_path / "repo"
    script = """
    #!/bin/bash
    test -e /lab/history.jsonl || { echo "no history"; exit 3; }
    echo "listing: $(ls /lab | tr '\n' ' ')"
    if echo x > /lab/AGENT.md 2>/dev/null; then echo "wrote the instructions"; exit 4; fi
    if ls "$HOME"/../.. 2>/dev/null | grep -q looplab-state; then exit 5; fi
    echo '{"x": 4}' > "$LOOPLAB_PIPELINE_DIR/pipeline/params.json"
    echo ok
    """
    lab = make_lab(repo, agent_script=script)
    run_lab(lab)
    r = records(lab)[-1]
    assert r.agent_stop == "finished", r.agent_error
    assert r.status == "keep"
    traj = (lab / ".looplab" / "experiments" / "00001" / "agent" / "trajectory.jsonl").read_text()
    listing = traj.split("listing: ")[1].split("\\n")[0]
    assert sorted(listing.split()) == ["AGENT.md", "history.jsonl"]


def test_any_agent_can_score_its_files_with_lab_dev_eval(tmp_path):
    script = """
    #!/bin/bash
    looplab lab dev-eval > /tmp/before.json || exit 5
    echo '{"x": 4}' > "$LOOPLAB_PIPELINE_DIR/pipeline/params.json"
    looplab lab dev-eval > /tmp/after.json || exit 6
    python3 -c "import json; print('dev', json.load(open('/tmp/before.json'))['score'], json.load(open('/tmp/after.json'))['score'])"
    """
    lab = make_lab(tmp_path / "r", agent_script=script)
    run_lab(lab)
    r = records(lab)[-1]
    assert r.agent_stop == "finished", r.agent_error
    assert (r.notes, r.dev_evals, r.status, r.score) == ("dev 7.0 1.0", 2, "keep", 1)
    evals = sorted(p.name for p in (lab / ".looplab" / "experiments" / "00001" / "evals").iterdir())
    assert sum("-dev.json" in n for n in evals) == 2
