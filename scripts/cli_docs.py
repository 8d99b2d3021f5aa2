"""Write docs/cli.md from the looplab CLI itself (every command, argument and option).

Run: .venv/bin/python scripts/cli_docs.py  (the tests check docs/cli.md is up to date)
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from looplab.cli import app

OUT = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def _param_row(p) -> str:  # noqa: ANN001 - a click parameter
    if getattr(p, "param_type_name", "") == "argument":
        name = f"`{p.name.upper()}`"
        kind = "argument"
    else:
        name = ", ".join(f"`{o}`" for o in [*p.opts, *p.secondary_opts])
        kind = "flag" if getattr(p, "is_flag", False) else "option"
    # help text is rich markup: a literal "[" is escaped there ("\\[looplab]"), plain here
    helptext = (getattr(p, "help", None) or "").replace("\\[", "[").replace("|", "\\|").replace("\n", " ")
    default = p.default
    show = "" if default in (None, False, (), []) or callable(default) else f" (default: `{default}`)"
    multiple = " (repeatable)" if getattr(p, "multiple", False) and "repeatable" not in helptext else ""
    return f"| {name} | {kind} | {helptext}{multiple}{show} |"


def _walk(cmd, path: list[str], out: list[str]) -> None:  # noqa: ANN001 - a click command
    if hasattr(cmd, "commands"):
        for name in sorted(cmd.commands):
            _walk(cmd.commands[name], [*path, name], out)
        return
    out += [f"## `{' '.join(path)}`", ""]
    doc = (cmd.help or "").strip()
    if doc:
        out += [doc.split("\n\n")[0].replace("\n", " "), ""]
    params = [p for p in cmd.params if p.name != "help"]
    if params:
        out += ["| name | kind | meaning |", "|---|---|---|"]
        out += [_param_row(p) for p in params]
        out.append("")


def render() -> str:
    root = typer.main.get_command(app)
    out = [
        "# CLI reference",
        "",
        "Generated from the CLI by `scripts/cli_docs.py`; `looplab COMMAND --help` shows the same.",
        "Errors are one line on stderr with exit code 2, the parser's own included (an unknown option,",
        "a missing argument, a bad value: `error: looplab run: No such option: --bogus; try 'looplab run",
        "--help'`); `--help` stays rich. `tasks check`: one line per invalid task.",
        "A job with a trial that did not complete (`agent_error`, `verifier_error`,",
        "`environment_build_failed`, `cancelled`) exits 1 unless `--allow-errors`; Ctrl-C or SIGTERM",
        "exits 130 after recording the running trials as `cancelled` (a second Ctrl-C exits at once);",
        "an environment build in progress is stopped and its task's trials are recorded as `cancelled`.",
        "`tasks lint` prints one line per problem on stdout (`FILE: FIELD: problem`; docs/task-format.md)",
        "and exits 1 when there is any.",
        "",
        "Defaults: `LOOPLAB_JOBS_DIR`, `LOOPLAB_CACHE_DIR`, `LOOPLAB_TASKS_DIR`, or the user config file",
        "`~/.config/looplab/config.toml` (`$LOOPLAB_CONFIG`, `$XDG_CONFIG_HOME`) with the keys",
        "`jobs_dir`, `cache_dir`, `tasks_dir`; a flag beats the environment, which beats the file.",
        "",
        "JSON output (`--json`): `run` and `resume` print the job's `result.json` (`JobResult`,",
        "docs/reports.md); `tasks list` prints `{schema_version, tasks: [{task, path, domain, metric,",
        "direction, measure, agent_timeout_sec, editable} or {task, path, error}]}`; `report` prints",
        "the report (docs/reports.md); `lab results` prints the list of experiment records",
        "(docs/lab.md); `lab eval` always prints JSON (the evaluation result); `tasks lint` prints",
        "`{schema_version, tasks, problems: [{file, field, message}]}`.",
        "",
    ]
    _walk(root, ["looplab"], out)
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        sys.exit(0 if OUT.exists() and OUT.read_text() == text else 1)
    OUT.write_text(text)
    print(f"written: {OUT}")
