"""Run a typer app as a process: every error is one line on stderr with exit code 2.

``run_app(app)`` runs the app with click's standalone mode off, so click's own usage
errors (an unknown option or command, a missing argument, a bad value) come back as
exceptions instead of typer's boxed panel; each is printed as ``error: COMMAND: what is
wrong; try 'COMMAND --help'`` on one line. A ``LooplabError`` is printed as
``error: …``. ``--help`` (and a group run with no arguments, which shows its help) is
left to typer's rich help, with each docstring paragraph reflowed (``reflow_help``): typer
keeps a docstring's line breaks, so a paragraph wrapped at 100 columns in the source came out
broken mid-sentence at 80.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape

from looplab.errors import LooplabError

EXIT_USAGE = 2


def _is_click_error(exc: BaseException) -> bool:
    """Click's (or typer's vendored click's) ``ClickException``, recognised as typer itself does:
    by its shape, since which module defines the class depends on the typer version."""
    return callable(getattr(exc, "format_message", None)) and isinstance(getattr(exc, "exit_code", None), int)


def usage_line(exc: Exception) -> str:
    """Click's error as one line that names the command and where its help is."""
    message = " ".join(exc.format_message().split()).rstrip(".")  # type: ignore[attr-defined]
    param = getattr(exc, "param", None)
    if param is not None and getattr(param, "param_type_name", "") == "argument" and param.name:
        message = message.replace(f"'{param.name}'", f"'{param.name.upper()}'")  # as --help shows it
    ctx = getattr(exc, "ctx", None)
    if ctx is None:
        return message
    return f"{ctx.command_path}: {message}; try '{ctx.command_path} --help'"


def reflow(text: str) -> str:
    """A docstring with each paragraph's lines joined (lists, tables, indented and ``\\b`` blocks kept)."""
    out = []
    for para in inspect.cleandoc(text).split("\n\n"):
        lines = para.split("\n")
        verbatim = para.startswith("\b") or any(
            ln.startswith((" ", "-", "*", "|")) or ln.lstrip().startswith(("- ", "* ", "|")) for ln in lines
        )
        out.append(para if verbatim else " ".join(ln.strip() for ln in lines))
    return "\n\n".join(out)


def reflow_help(app: Any) -> None:
    """Reflow the help of every command of ``app`` and its sub-apps (their docstrings, in place)."""
    for info in app.registered_commands:
        text = info.help if isinstance(info.help, str) else inspect.getdoc(info.callback)
        if text:
            info.help = reflow(text)
    for group in app.registered_groups:
        reflow_help(group.typer_instance)


def run_app(app: Any, err_console: Console | None = None) -> None:
    """Run ``app`` (a ``typer.Typer``) and exit with its code; errors as one line on stderr."""
    err = err_console or Console(stderr=True, soft_wrap=True)
    reflow_help(app)
    try:
        code = app(standalone_mode=False)
    except LooplabError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        err.print("[red]interrupted[/]")
        sys.exit(130)
    except Exception as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # typer printed the help
            sys.exit(EXIT_USAGE)
        if type(exc).__name__ == "Abort":  # end of input at a prompt
            err.print("[red]error:[/] aborted (no answer at the prompt)", highlight=False)
            sys.exit(1)
        if not _is_click_error(exc):
            raise
        err.print(f"[red]error:[/] {escape(usage_line(exc))}", highlight=False, soft_wrap=True)
        sys.exit(EXIT_USAGE)
    sys.exit(code if isinstance(code, int) else 0)
