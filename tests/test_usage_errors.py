"""Usage errors from the command-line parser itself: one line on stderr naming what is wrong, exit 2.

Typer's default is a multi-line boxed panel; docs/cli.md promises one line with exit 2.
Run at 80 columns and piped, as a new user's terminal or a script would see it.
"""

from __future__ import annotations

import sys

import pytest
from conftest import run_cli

CASES = [
    (("run", "--bogus"), ["looplab run", "--bogus"]),
    (("run",), ["looplab run", "'--path'"]),
    (("run", "-p", "x", "-k", "abc"), ["'--attempts'", "valid integer"]),
    (("run", "-p", "x", "-k", "0"), ["'--attempts'", "greater than or equal to 1"]),
    (("run", "-p", "x", "--network"), ["'--network'", "requires an argument"]),
    (("nosuch",), ["No such command 'nosuch'"]),
    (("report",), ["looplab report", "'JOB_DIRS'"]),
    (("lab", "run", "--bogus"), ["looplab lab run", "--bogus"]),
    (("tasks", "nosuch"), ["looplab tasks", "'nosuch'"]),
    (("view", "--port", "abc", "/tmp"), ["'--port'", "valid integer"]),
]


@pytest.mark.parametrize(("args", "named"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_a_usage_error_is_one_line_on_stderr_exit_2(args: tuple[str, ...], named: list[str]) -> None:
    r = run_cli(*args, env={"COLUMNS": "80"})
    assert r.returncode == 2, r.stderr
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr  # not typer's boxed panel
    assert lines[0].startswith("error: ") and "╭" not in lines[0] and "│" not in lines[0]
    for word in named:
        assert word in lines[0], lines[0]


def test_help_stays_rich_and_exits_0() -> None:
    r = run_cli("run", "--help", env={"COLUMNS": "80"})
    assert r.returncode == 0 and "--attempts" in r.stdout and "╭" in r.stdout, r.stdout
    bare = run_cli(env={"COLUMNS": "80"})  # a group with no command shows its help
    assert bare.returncode == 2 and "Usage" in bare.stdout + bare.stderr


def test_measure_module_usage_error_is_one_line() -> None:
    import subprocess

    r = subprocess.run(
        [sys.executable, "-m", "looplab.measure", "--bogus"], capture_output=True, text=True, check=False
    )
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1 and "--bogus" in r.stderr, r.stderr


def test_help_paragraphs_are_reflowed_and_brackets_shown() -> None:
    """A docstring wrapped in the source is one paragraph in --help (typer kept its line breaks, so
    at 80 columns a sentence broke after one word), and a literal [section] is not eaten as markup."""
    r = run_cli("run", "--help", env={"COLUMNS": "80"})
    text = [ln.strip() for ln in r.stdout.splitlines()]
    assert "the" not in text, r.stdout  # no line holding one word of a broken sentence
    assert any(ln.startswith("the job's result.json is written") for ln in text), r.stdout
    wide = run_cli("run", "--help", env={"COLUMNS": "200"})
    assert "[looplab] sections for foreign tasks" in wide.stdout
    lab = run_cli("lab", "run", "--help", env={"COLUMNS": "200"})
    assert "lab.toml [agent] name" in lab.stdout
