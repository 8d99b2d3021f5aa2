"""The lab's git operations on real repositories: candidate trees, exact restore, compare-and-swap keeps."""

from __future__ import annotations

import os

import pytest
from lab_helpers import git

from looplab.errors import LooplabError
from looplab.lab import gitops


@pytest.fixture
def repo(tmp_path):
    r = tmp_path / "repo"
    (r / "p" / "d").mkdir(parents=True)
    git(r, "init", "-q")
    (r / ".gitignore").write_text("*.o\n")
    (r / "p" / "a.txt").write_text("a\n")
    (r / "p" / "d" / "b.txt").write_text("b\n")
    (r / "other.txt").write_text("other\n")
    git(r, "add", "-A")
    git(r, "commit", "-qm", "init")
    return r


def test_candidate_tree_holds_exactly_the_pipeline_changes(repo, tmp_path):
    head = gitops.rev(repo, "HEAD")
    ws = tmp_path / "ws"
    gitops.materialize(repo, head, ["p"], ws)
    gitops.materialize(repo, head, gitops.ignore_files(repo, head, ["p"]), ws)
    assert sorted(str(p.relative_to(ws)) for p in ws.rglob("*") if p.is_file()) == [
        ".gitignore",
        "p/a.txt",
        "p/d/b.txt",
    ]
    (ws / "p" / "a.txt").write_text("changed\n")
    (ws / "p" / "d" / "b.txt").unlink()
    (ws / "p" / "new.txt").write_text("new\n")
    (ws / "p" / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(ws / "p" / "run.sh", 0o755)
    os.symlink("a.txt", ws / "p" / "link")
    (ws / "p" / "build.o").write_text("ignored\n")
    (ws / "outside.txt").write_text("not pipeline\n")
    tree = gitops.candidate_tree(repo, head, ws, ["p"])
    changes = gitops.changed_files(repo, gitops.tree_of(repo, head), tree, ["p"])
    assert sorted(changes) == [
        ("A", "p/link"),
        ("A", "p/new.txt"),
        ("A", "p/run.sh"),
        ("D", "p/d/b.txt"),
        ("M", "p/a.txt"),
    ]
    listing = git(repo, "ls-tree", "-r", tree)
    assert "120000 blob" in listing.split("p/link")[0].splitlines()[-1]  # a symlink, not its target
    assert "100755 blob" in listing.split("p/run.sh")[0].splitlines()[-1]
    assert "other.txt" in listing and "outside.txt" not in listing
    # the user's index and working tree were not touched
    assert git(repo, "status", "--porcelain") == ""


def test_globs_and_missing_paths(repo, tmp_path):
    head = gitops.rev(repo, "HEAD")
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "p").mkdir()
    (ws / "p" / "x.txt").write_text("x\n")
    # every pipeline file deleted except a new one; a glob that matches nothing is fine
    tree = gitops.candidate_tree(repo, head, ws, [":(glob)p/*.txt", ":(glob)p/d/**", "nothere"])
    names = git(repo, "ls-tree", "-r", "--name-only", tree).split()
    assert names == [".gitignore", "other.txt", "p/x.txt"]
    out = tmp_path / "out"
    assert gitops.materialize(repo, tree, ["p", "nothere"], out) == ["p/x.txt"]


def test_restore_is_exact_and_leaves_everything_else(repo):
    (repo / "p" / "a.txt").write_text("dirty\n")
    (repo / "p" / "d" / "b.txt").unlink()
    (repo / "p" / "untracked.txt").write_text("u\n")
    (repo / "p" / "newdir").mkdir()
    (repo / "p" / "newdir" / "f").write_text("f\n")
    (repo / "p" / "keep.o").write_text("ignored build output\n")
    git(repo, "add", "p/untracked.txt")
    (repo / "other.txt").write_text("user edit outside the pipeline\n")
    gitops.restore(repo, ["p"])
    assert (repo / "p" / "a.txt").read_text() == "a\n"
    assert (repo / "p" / "d" / "b.txt").read_text() == "b\n"
    assert not (repo / "p" / "untracked.txt").exists() and not (repo / "p" / "newdir").exists()
    assert (repo / "p" / "keep.o").exists()  # ignored files are the user's, left alone
    assert (repo / "other.txt").read_text() == "user edit outside the pipeline\n"
    assert gitops.dirty_paths(repo, ["p"]) == []


def test_keep_is_a_compare_and_swap_on_the_branch(repo, tmp_path):
    gitops.checkout_branch(repo, "lab/x")
    head = gitops.rev(repo, "HEAD")
    ws = tmp_path / "ws"
    gitops.materialize(repo, head, ["p"], ws)
    (ws / "p" / "a.txt").write_text("kept\n")
    tree = gitops.candidate_tree(repo, head, ws, ["p"])
    new = gitops.commit(repo, tree, head, "keep\n")
    gitops.advance_branch(repo, "lab/x", new, head, "keep")
    gitops.restore(repo, ["p"])
    assert (repo / "p" / "a.txt").read_text() == "kept\n"
    assert gitops.dirty_paths(repo, ["p"]) == []
    other = gitops.commit(repo, tree, head, "racing keep\n")
    with pytest.raises(LooplabError):
        gitops.advance_branch(repo, "lab/x", other, head, "stale")  # the branch is no longer at head
    assert gitops.rev(repo, "refs/heads/lab/x") == new


def test_apply_diff_turns_a_linked_copy_into_the_new_tree_without_touching_the_base(repo, tmp_path):
    from looplab.lab.evaluate import link_copy

    head = gitops.rev(repo, "HEAD")
    old_tree = gitops.tree_of(repo, head)
    base = tmp_path / "base"
    gitops.materialize(repo, old_tree, ["p"], base)
    ws = tmp_path / "ws"
    gitops.materialize(repo, old_tree, ["p"], ws)
    (ws / "p" / "a.txt").write_text("changed\n")
    import shutil

    shutil.rmtree(ws / "p" / "d")  # a whole folder goes
    (ws / "p" / "d").write_text("a file where the folder was\n")
    (ws / "p" / "n" / "m").mkdir(parents=True)
    (ws / "p" / "n" / "m" / "deep.sh").write_text("#!/bin/sh\n")
    os.chmod(ws / "p" / "n" / "m" / "deep.sh", 0o755)
    os.symlink("a.txt", ws / "p" / "ln")
    new_tree = gitops.candidate_tree(repo, head, ws, ["p"])
    linked = tmp_path / "linked"
    link_copy(base, linked)
    changed = gitops.apply_diff(repo, old_tree, new_tree, ["p"], linked)
    assert sorted(changed) == ["p/a.txt", "p/d", "p/d/b.txt", "p/ln", "p/n/m/deep.sh"]
    fresh = tmp_path / "fresh"
    gitops.materialize(repo, new_tree, ["p"], fresh)

    def snapshot(root):
        out = {}
        for p in sorted(root.rglob("*")):
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_file():
                out[rel] = ("file", p.read_text(), os.stat(p).st_mode & 0o111 != 0)
            else:
                out[rel] = ("dir",)
        return out

    assert snapshot(linked) == snapshot(fresh)
    assert (base / "p" / "a.txt").read_text() == "a\n" and (base / "p" / "d" / "b.txt").read_text() == "b\n"


def test_restore_handles_a_folder_that_became_a_file(repo, tmp_path):
    head = gitops.rev(repo, "HEAD")
    ws = tmp_path / "ws"
    gitops.materialize(repo, head, ["p"], ws)
    import shutil

    shutil.rmtree(ws / "p" / "d")
    (ws / "p" / "d").write_text("now a file\n")
    tree = gitops.candidate_tree(repo, head, ws, ["p"])
    branch = gitops.current_branch(repo)
    gitops.advance_branch(repo, branch, gitops.commit(repo, tree, head, "type change\n"), head, "t")
    gitops.restore(repo, ["p"])
    assert (repo / "p" / "d").read_text() == "now a file\n"
    assert gitops.dirty_paths(repo, ["p"]) == []


def test_workspace_sync_restores_an_exact_copy_whatever_the_agent_did(tmp_path):
    import shutil

    from looplab.lab.agent_phase import sync_tree

    src = tmp_path / "best"
    (src / "p" / "d").mkdir(parents=True)
    (src / "p" / "a.txt").write_text("a\n")
    (src / "p" / "d" / "b.txt").write_text("b\n")
    (src / "p" / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(src / "p" / "run.sh", 0o755)
    os.symlink("a.txt", src / "p" / "ln")
    (src / ".gitignore").write_text("*.o\n")
    ws = tmp_path / "ws"
    shutil.copytree(src, ws, symlinks=True)
    # what an agent might leave behind
    (ws / "p" / "a.txt").write_text("A\n")  # same size, other content
    shutil.rmtree(ws / "p" / "d")
    (ws / "p" / "d").write_text("a file where a folder was\n")
    os.chmod(ws / "p" / "run.sh", 0o644)
    os.unlink(ws / "p" / "ln")
    os.symlink("/etc/passwd", ws / "p" / "ln")
    (ws / "p" / "x.o").write_text("ignored build output\n")
    (ws / "outside").mkdir()
    (ws / "outside" / "f").write_text("junk\n")
    os.symlink("/etc", ws / "p" / "etc")
    os.mkfifo(ws / "p" / "fifo")
    (ws / ".gitignore").write_text("*\n")
    os.chmod(ws / "outside", 0o000)

    def snapshot(root):
        out = {}
        for p in sorted(root.rglob("*")):
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_file():
                out[rel] = ("file", p.read_bytes(), os.stat(p).st_mode & 0o111 != 0)
            elif p.is_dir():
                out[rel] = ("dir",)
            else:
                out[rel] = ("other",)
        return out

    assert sync_tree(src, ws) > 0
    assert snapshot(ws) == snapshot(src)
    assert sync_tree(src, ws) == 0  # nothing left to do


def test_a_discarded_edit_of_equal_size_and_mtime_never_survives(tmp_path):
    """Experiment 2 rewrites params.json with the same size and mtime (and is discarded): experiment 3 sees the best."""
    from lab_helpers import make_lab, records, run_lab

    agent = """
    #!/bin/bash
    f="$LOOPLAB_PIPELINE_DIR/pipeline/params.json"
    seen=$(tr -d '\\n' < "$f")
    if [ "$LOOPLAB_EXPERIMENT" = 2 ]; then
      python3 -c "import os,sys; f=sys.argv[1]; st=os.stat(f); open(f,'w').write('{\\"x\\": 99}\\n'); os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))" "$f"
    fi
    echo "saw $seen"
    """
    lab = make_lab(tmp_path / "r", agent_script=agent, stop={"max_iterations": 3})
    run_lab(lab)
    recs = {r.experiment: r for r in records(lab)}
    assert recs[2].status == "discard" and recs[2].score == 96.0
    assert recs[3].notes == 'saw {"x": 10}', recs[3].notes
    assert (lab / "pipeline" / "params.json").read_text() == '{"x": 10}\n'
