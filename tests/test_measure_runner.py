"""The candidate runner and its one-shot jail, for real (bwrap, cgroups where the host allows).

Each property the runner promises is attacked here by a program that tries to break it:
leave state in /tmp or /dev/shm for the next run, read /tests or the expected answer,
write the read-only root, keep a process running after its run, hide CPU work in a
detached child named like a shell, plant a symlink to the expected answer in its
output, or answer right on the small correctness inputs and wrong on timed ones.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from looplab.environment.build import scratch_dir
from looplab.fsutil import remove_tree
from looplab.measure.timing import PairedSettings
from looplab.sandbox.cgroups import Cgroup
from looplab.sandbox.jail import JailCgroup, JailSpec, run_jail
from looplab.verify.runner import (
    CandidateRunner,
    RunDeclaration,
    StepFailed,
    keep_regular_files,
    load_declaration,
)

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


@pytest.fixture
def tmp_path() -> Path:  # type: ignore[override]
    """A scratch folder the sandbox uid can reach (pytest's own tmp folders are mode 700)."""
    d = scratch_dir("test-runner")
    yield d
    remove_tree(d)


def _has_cgroup() -> bool:
    cg = Cgroup.create(f"probe-{os.getpid()}")
    if cg is None:
        return False
    cg.remove()
    return True


def _root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    for d in ("app", "orig", "tests", "logs", "solution"):
        (root / d).mkdir(parents=True)
        os.chmod(root / d, 0o755)
    (root / "tests" / "secret").write_text("expected answer\n")
    os.chmod(root, 0o755)
    return root


def _sh(spec: JailSpec, script: str):  # noqa: ANN202
    return run_jail(["/bin/sh", "-c", script], spec)


def test_each_jail_gets_a_fresh_tmp_shm_and_home_and_a_read_only_root(tmp_path: Path) -> None:
    spec = JailSpec(root=_root(tmp_path), timeout_s=30)
    first = _sh(
        spec, 'echo cached > /tmp/answer; echo cached > /dev/shm/answer; echo cached > "$HOME/a"; echo ok'
    )
    assert first.ok and first.stdout.strip() == "ok", first
    second = _sh(
        spec,
        'echo "[$(ls -A /tmp /dev/shm | tr -d "\n")]"; cat /tmp/answer /dev/shm/answer /tmp/a 2>/dev/null; true',
    )
    assert second.stdout == "[/dev/shm:/tmp:]\n", second.stdout
    ro = _sh(spec, "touch /app/x 2>&1 || echo refused; touch /orig/x 2>&1 || echo refused")
    assert ro.stdout.count("refused") == 2
    assert not (spec.root / "app" / "x").exists()


def test_tests_logs_and_solution_are_not_in_a_program_jail(tmp_path: Path) -> None:
    spec = JailSpec(root=_root(tmp_path), timeout_s=30)
    r = _sh(spec, "ls -d /tests /logs /solution 2>&1; cat /tests/secret 2>&1; ls /")
    assert "expected answer" not in r.stdout
    assert "tests" not in r.stdout.split("\n")[-2:], r.stdout
    listing = _sh(spec, "ls /").stdout.split()
    assert not {"tests", "logs", "solution"} & set(listing)


def test_no_network_and_an_own_pid_namespace(tmp_path: Path) -> None:
    spec = JailSpec(root=_root(tmp_path), timeout_s=30)
    r = _sh(
        spec, "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; echo pids $(ls /proc | grep -c '^[0-9]')"
    )
    assert r.stdout.split()[0] == "lo" and r.stdout.split()[1] == "pids", r.stdout  # no interface but lo
    assert (
        int(r.stdout.split("pids")[1]) <= 6
    )  # sh (the jail's pid 1), the $( ) subshell, ls, grep: no host process


@pytest.mark.parametrize("reuse", [False, True], ids=["own-cgroup", "reused-cgroup"])
def test_nothing_a_run_started_survives_it(tmp_path: Path, reuse: bool) -> None:
    beat = tmp_path / "beat"
    beat.mkdir()
    cg = JailCgroup("test", None, 512, 64) if reuse else None
    spec = JailSpec(root=_root(tmp_path), rw=[(beat, "/beat")], timeout_s=30, cgroup=cg)
    script = "setsid sh -c 'while :; do date +%s%N > /beat/t; sleep 0.05; done' >/dev/null 2>&1 & sleep 0.3; echo started"
    r = _sh(spec, script)
    assert r.stdout.strip() == "started"
    stamp = (beat / "t").read_text()
    time.sleep(0.5)
    assert (beat / "t").read_text() == stamp, "a daemon of the run kept running after it"
    if cg is not None:
        # the next run in the same cgroup is charged only its own CPU time
        again = _sh(spec, "true")
        assert again.ok and again.cpu_s is not None and again.cpu_s < 0.2
        cg.close()


@pytest.mark.skipif(os.geteuid() != 0 or not _has_cgroup(), reason="needs root and a cgroup for a pids limit")
def test_a_reused_cgroup_keeps_its_pids_for_run_after_run(tmp_path: Path) -> None:
    """Each jail once left one pid charged to its cgroup: bwrap exited before its init was
    reaped, and an init that reaps late (this CI's does) let a verification's 64-pid cgroup
    fill up after ~60 jails, when forks in the jail failed with "Cannot fork"."""
    cg = JailCgroup("test", None, 256, 8)
    try:
        spec = JailSpec(root=_root(tmp_path), timeout_s=30, cgroup=cg)
        for i in range(40):
            if i % 10 == 9:  # a timed-out run, killed from outside, leaves nothing charged either
                spec.timeout_s = 0.3
                assert _sh(spec, "sleep 5 & sleep 5").timed_out
                spec.timeout_s = 30
                continue
            r = _sh(spec, "x=$(echo forked); cmp -s /dev/null /dev/null && echo $x")
            assert r.ok and r.stdout.strip() == "forked", (i, r)
        assert cg.cg is not None and not cg.cg.pids()
        for d in cg.cg.dirs.values():  # v1's pids folder or v2's one folder
            if (d / "pids.current").exists():
                assert (d / "pids.current").read_text().strip() == "0"
    finally:
        cg.close()


def test_a_run_past_its_timeout_is_killed(tmp_path: Path) -> None:
    t0 = time.monotonic()
    r = _sh(JailSpec(root=_root(tmp_path), timeout_s=1), "sleep 30")
    assert r.timed_out and not r.ok and time.monotonic() - t0 < 10


@pytest.mark.skipif(
    os.geteuid() != 0 or not _has_cgroup(), reason="needs root and a cgroup for CPU accounting"
)
def test_cpu_time_counts_a_detached_child_named_like_a_shell(tmp_path: Path) -> None:
    # the child is double-forked (nobody waits for it) and its executable is called "sh":
    # rusage of the waited-for process would miss it, an exclusion by name would skip it
    script = (
        "(exec -a sh sh -c 'i=0; while [ $i -lt 400000 ]; do i=$((i+1)); done; touch /tmp/done' &); "
        "while [ ! -f /tmp/done ]; do sleep 0.05; done"
    )
    r = run_jail(["/bin/bash", "-c", script], JailSpec(root=_root(tmp_path), timeout_s=60))
    assert r.cpu_source == "cgroup"
    busy = run_jail(
        ["/bin/sh", "-c", "i=0; while [ $i -lt 400000 ]; do i=$((i+1)); done"],
        JailSpec(root=_root(tmp_path / "b"), timeout_s=60),
    )
    assert r.cpu_s is not None and busy.cpu_s is not None
    assert r.cpu_s > 0.5 * busy.cpu_s, (r.cpu_s, busy.cpu_s)


# ---- the runner on a small declared task ---------------------------------------------------
GEN = """#!/bin/sh
# seed purpose input expected: n numbers; the expected sum only where the programs cannot see it
awk -v s="$1" -v n="$([ "$2" = time ] && echo 2000 || echo 20)" 'BEGIN{srand(s%100000); t=0; for(i=0;i<n;i++){x=int(rand()*1000); print x > "'"$3"'/nums"; t+=x}; print t > "'"$4"'/sum"}'
"""
CHECK = """#!/bin/sh
[ "$(cat "$1/stdout")" = "$(cat "$2/sum")" ] || { echo "wrong sum"; exit 1; }
"""
HONEST = "#!/bin/sh\nawk '{t+=$1} END{print t}' \"$1\"\n"


def _declared(tmp_path: Path, candidate: str) -> tuple[Path, RunDeclaration]:
    root = _root(tmp_path)
    (root / "tests" / "gen.sh").write_text(GEN)
    (root / "tests" / "check.sh").write_text(CHECK)
    (root / "orig" / "sum.sh").write_text(HONEST)
    (root / "app" / "sum.sh").write_text(candidate)
    toml = tmp_path / "run.toml"
    toml.write_text(
        'correctness_runs = 2\ntime = "wall"\n'
        '[generate]\ncommand = "sh /tests/gen.sh {seed} {purpose} {input} {expected}"\n'
        '[run]\ncommand = "sh {src}/sum.sh {input}/nums"\ntimeout_sec = 20\n'
        '[check]\ncommand = "sh /tests/check.sh {output} {expected}"\n'
    )
    decl = load_declaration(tmp_path)
    assert decl is not None
    return root, decl


def _measure(tmp_path: Path, candidate: str) -> float:
    root, decl = _declared(tmp_path, candidate)
    runner = CandidateRunner(decl, root, tmp_path / "scratch", None, {})
    try:
        for name in decl.programs:
            runner.build(name)
        runner.correctness()
        res = runner.time(PairedSettings(warmup=0, min_pairs=2, max_pairs=3, target=0.5), None)
        return res.speedup
    finally:
        runner.close()


def test_an_honest_candidate_is_measured(tmp_path: Path) -> None:
    assert _measure(tmp_path, HONEST) > 0


def test_no_run_finds_what_an_earlier_run_cached(tmp_path: Path) -> None:
    # every run leaves its answer in /tmp, /dev/shm and HOME and exits 3 on finding one there:
    # one cache hit in any of the ~8 runs would fail the measurement
    sneaky = (
        "#!/bin/sh\nfor f in /tmp/c /dev/shm/c $HOME/c; do [ -f $f ] && exit 3; done\n"
        "awk '{t+=$1} END{print t}' \"$1\" | tee /tmp/c /dev/shm/c $HOME/c\n"
    )
    assert _measure(tmp_path, sneaky) > 0


@pytest.mark.parametrize(
    "attack",
    [
        # read the expected answer or the verifier's files
        "#!/bin/sh\ncat /expected/sum /tests/* /logs/* 2>/dev/null || echo 0\n",
        # a symlink to the expected answer in place of the output the check reads
        "#!/bin/sh\nln -s /expected/sum /output/stdout; ln -s /expected/sum /output/x; echo 1\n",
        # right on the small correctness inputs, a guess on the big timed ones
        '#!/bin/sh\n[ $(wc -l < "$1") -gt 100 ] && { echo 12345; exit 0; }\nawk \'{t+=$1} END{print t}\' "$1"\n',
    ],
    ids=["read-expected", "symlink-output", "wrong-when-timed"],
)
def test_cheating_candidates_fail_a_check(tmp_path: Path, attack: str) -> None:
    with pytest.raises(StepFailed) as exc:
        _measure(tmp_path, attack)
    assert exc.value.side == "candidate"


def test_a_bad_declaration_is_one_line_naming_the_field(tmp_path: Path) -> None:
    (tmp_path / "run.toml").write_text('[run]\ncommand = "x"\n[check]\ncommand = "y"\n')
    with pytest.raises(Exception, match=r"run.toml: field generate: Field required"):
        load_declaration(tmp_path)


def test_the_output_sweep_fails_closed_below_path_max(tmp_path: Path) -> None:
    """A link to /expected 2500 folders down (deeper than PATH_MAX) fails the sweep, never slips past.

    The sweep once skipped any folder it could not list, so a program's symlink or FIFO at
    the bottom of a tree deeper than PATH_MAX stayed in the output the check's jail reads.
    """
    top = tmp_path / "out"
    top.mkdir()
    (top / "ok.txt").write_text("1\n")
    os.symlink("/expected", top / "shallow")
    assert keep_regular_files(top) == 1 and not (top / "shallow").is_symlink()
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(2500):
        os.mkdir("d" * 8, dir_fd=fd)
        nfd = os.open("d" * 8, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nfd
    os.symlink("/expected", "leak", dir_fd=fd)
    os.close(fd)
    with pytest.raises(OSError):
        keep_regular_files(top)
    remove_tree(top)
    assert not top.exists()
