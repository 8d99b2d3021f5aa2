"""Instruction counts with callgrind on real programs: exact repeats, one function, shells, sandboxes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from looplab.errors import LooplabError
from looplab.fsutil import remove_tree
from looplab.measure.instructions import (
    count_instructions,
    count_instructions_perf,
    is_simple_command,
    parse_totals,
    perf_available,
)
from looplab.measure.runners import SandboxRunner
from looplab.sandbox.base import SandboxSpec
from looplab.sandbox.bwrap import BwrapSandbox

pytestmark = pytest.mark.skipif(
    not (shutil.which("valgrind") and shutil.which("gcc")), reason="needs valgrind and gcc"
)

PROG = r"""
#include <stdio.h>
#include <stdlib.h>
__attribute__((noinline)) unsigned long work(long n) {
    volatile unsigned long x = 1;
    for (long i = 0; i < n; i++) x = x * 6364136223846793005UL + 1;
    return x;
}
__attribute__((noinline)) unsigned long rec(int depth) {
    return depth <= 0 ? work(10000) : work(10000) + rec(depth - 1);
}
int main(int argc, char **argv) {
    long n = atol(argv[1]);
    int depth = argc > 2 ? atoi(argv[2]) : 0;
    printf("%lu\n", work(n) + rec(depth));
    return 0;
}
"""


@pytest.fixture(scope="module")
def prog() -> Path:
    d = Path(tempfile.mkdtemp(prefix="looplab-test-instr-", dir="/var/tmp"))
    d.chmod(0o755)
    (d / "prog.c").write_text(PROG)
    subprocess.run(["gcc", "-O2", "-o", str(d / "prog"), str(d / "prog.c")], check=True)
    yield d / "prog"
    remove_tree(d)


def test_counts_repeat_exactly_and_ignore_the_callers_environment(prog, monkeypatch):
    a = count_instructions(f"{prog} 100000")
    monkeypatch.setenv("SOME_LONG_VARIABLE", "x" * 5000)  # would shift the count if it leaked in
    b = count_instructions(f"{prog} 100000")
    assert a.instructions == b.instructions > 100000
    assert a.tool == "callgrind" and a.tool_version.startswith("valgrind-")
    assert a.env["PYTHONHASHSEED"] == "0" and "SOME_LONG_VARIABLE" not in b.env
    assert not a.via_shell and len(a.processes) == 1


def test_arguments_change_the_count(prog):
    small = count_instructions(f"{prog} 100000").instructions
    large = count_instructions(f"{prog} 200000").instructions
    # same argv length, so start-up is identical: the difference is 100000 loop iterations
    # (plus a few instructions of printf formatting a different number)
    per_iter = (large - small) / 100000
    assert large > small and per_iter == pytest.approx(round(per_iter), abs=1e-3)


def test_one_function_is_counted_inclusively_and_exactly(prog):
    one = count_instructions(f"{prog} 100000", function="work").instructions
    two = count_instructions(f"{prog} 200000", function="work").instructions
    total = count_instructions(f"{prog} 100000").instructions
    assert one < total
    # work(n) runs n iterations plus work(10000) once from rec(0): the difference is exactly work's loop
    per_iter = (two - one) / 100000
    assert per_iter == pytest.approx(round(per_iter), abs=1e-3)


def test_recursive_functions_are_not_double_counted(prog):
    d0 = count_instructions(f"{prog} 1 0", function="rec").instructions
    d4 = count_instructions(f"{prog} 1 4", function="rec").instructions
    # rec(4) runs work(10000) five times, rec(0) once: about 5x, not the ~15x a naive toggle would give
    assert 4.8 < d4 / d0 < 5.2


def test_a_function_never_entered_is_an_error(prog):
    with pytest.raises(LooplabError, match="never entered"):
        count_instructions(f"{prog} 10", function="no_such_function")


def test_shell_commands_count_every_process_shells_included(prog):
    plain = count_instructions(f"{prog} 100000")
    piped = count_instructions(f"{prog} 100000 | cat > /dev/null")
    assert piped.via_shell and piped.shell_instructions > 0
    assert any(p.shell for p in piped.processes)
    programs = [p for p in piped.processes if not p.shell]
    assert {Path(p.cmd.split()[0]).name for p in programs} == {"prog", "cat"}
    prog_count = next(p.instructions for p in programs if p.cmd.split()[0].endswith("prog"))
    assert abs(prog_count - plain.instructions) / plain.instructions < 0.01
    assert piped.instructions == sum(p.instructions for p in piped.processes)


def test_work_hidden_in_a_child_named_like_a_shell_is_counted(prog, tmp_path):
    # the hole that scored 1.0: the baseline's work done by an executable called "sh"
    disguised = tmp_path / "sh"
    shutil.copy(prog, disguised)
    plain = count_instructions(f"{prog} 100000")
    hidden = count_instructions(f"{disguised} 100000 > /dev/null")
    assert any(
        p.shell and p.cmd.split()[0].endswith("/sh") and str(tmp_path) in p.cmd for p in hidden.processes
    )
    assert hidden.instructions >= plain.instructions


def test_a_failing_command_is_an_error(prog):
    with pytest.raises(LooplabError, match="exited"):
        count_instructions(f"{prog}")  # atol(NULL) crashes: non-zero exit


def test_simple_command_detection():
    assert is_simple_command("./prog 10 'a b'")
    for shelly in ["a | b", "a > f", "X=1 prog", "echo $HOME", "prog *.c", "a; b", "a && b"]:
        assert not is_simple_command(shelly), shelly


def test_parse_totals_prefers_totals_over_summary():
    out = (
        "/tmp/x/cg.10:cmd:  /bin/sh -c a | b\n/tmp/x/cg.10:summary: 5\n/tmp/x/cg.10:totals: 7\n"
        "/tmp/x/cg.11:cmd:  ./a\n/tmp/x/cg.11:summary: 100\n"
    )
    procs = parse_totals(out)
    assert [(p.pid, p.instructions, p.shell) for p in procs] == [(10, 7, True), (11, 100, False)]


def test_counts_inside_a_sandbox(prog):
    root = prog.parent / "root"
    (root / "app").mkdir(parents=True, exist_ok=True)
    spec = SandboxSpec(root=root, writable=["app"], ro_binds=[(prog.parent, "/opt/prog")], name="instr-test")
    with BwrapSandbox(spec) as box:
        runner = SandboxRunner(box, cwd="/app")
        a = count_instructions("/opt/prog/prog 50000", runner=runner)
        b = count_instructions("/opt/prog/prog 50000", runner=runner)
        assert a.instructions == b.instructions > 50000
        assert box.exec("ls /tmp").stdout.strip() == ""  # callgrind files are cleaned up


def test_cli_prints_json(prog, tmp_path):
    out = tmp_path / "count.json"
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "looplab.measure",
            "instructions",
            "--json",
            "--out",
            str(out),
            "--",
            str(prog),
            "1000",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    assert data["instructions"] > 1000 and data["command"] == f"{prog} 1000"
    assert json.loads(out.read_text())["instructions"] == data["instructions"]


def test_perf_is_used_only_where_it_counts():
    if perf_available():
        assert count_instructions_perf("true") > 0
    else:
        with pytest.raises(LooplabError, match="not available"):
            count_instructions_perf("true")
