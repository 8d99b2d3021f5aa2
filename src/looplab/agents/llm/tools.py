"""The ``llm`` agent's tools, run in the agent's sandbox.

shell, read_file, write_file, apply_edit, dev_check, finish.

Every tool acts through the sandbox protocol (commands run as the sandbox user,
inside the task's /app), never on the host. Relative paths are taken from the
working folder. Long outputs are cut to a head and a tail with a note saying how
much was left out and how to see the rest; a shell command's timeout is capped at
the time left in the budget. ``dev_check`` runs the task's dev check through the
trial, which snapshots the editable files as a checkpoint.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

from looplab.agents.base import AgentContext, Budget
from looplab.agents.llm.providers import ToolCall, ToolSpec
from looplab.sandbox.base import Sandbox

_STR = {"type": "string"}

TOOL_SPECS: list[ToolSpec] = [
    ToolSpec(
        "shell",
        "Run a bash command in the task's sandbox (working folder: the task folder). Returns the exit code "
        "and output (long output is truncated: redirect to a file and read parts of it). Background "
        "processes keep running between calls. No network.",
        {
            "type": "object",
            "properties": {
                "command": {**_STR, "description": "bash command line"},
                "timeout": {
                    "type": "number",
                    "description": "seconds before the command is killed (default 600)",
                },
            },
            "required": ["command"],
        },
    ),
    ToolSpec(
        "read_file",
        "Read a text file (optionally a range of lines, 1-based, inclusive).",
        {
            "type": "object",
            "properties": {
                "path": _STR,
                "start_line": {"type": "integer", "minimum": 1},
                "end_line": {"type": "integer", "minimum": 1},
            },
            "required": ["path"],
        },
    ),
    ToolSpec(
        "write_file",
        "Create or replace a whole file with the given content.",
        {"type": "object", "properties": {"path": _STR, "content": _STR}, "required": ["path", "content"]},
    ),
    ToolSpec(
        "apply_edit",
        "Replace exactly one occurrence of old_text with new_text in a file. old_text must match the file "
        "exactly (whitespace included) and occur once; add surrounding lines to make it unique.",
        {
            "type": "object",
            "properties": {"path": _STR, "old_text": _STR, "new_text": _STR},
            "required": ["path", "old_text", "new_text"],
        },
    ),
    ToolSpec(
        "dev_check",
        "Run the task's local check on your current files and record a checkpoint of them. Checkpoints "
        "are scored later by the sealed verifier, so run this whenever your solution improves.",
        {"type": "object", "properties": {}},
    ),
    ToolSpec(
        "finish",
        "End your work. Only call this when you cannot improve the result further in the time left.",
        {"type": "object", "properties": {"summary": {**_STR, "description": "what you did"}}},
    ),
]
TOOL_NAMES = [t.name for t in TOOL_SPECS]


@dataclass
class ToolOutcome:
    content: str
    is_error: bool = False
    finish: bool = False
    info: dict[str, Any] = field(default_factory=dict)  # recorded in the trajectory, not shown to the model


def truncate(text: str, limit: int, hint: str = "") -> str:
    """``text`` cut to ``limit`` characters: 40% head, 60% tail, with a note of what was left out."""
    if len(text) <= limit:
        return text
    head, tail = int(limit * 0.4), int(limit * 0.6)
    cut = len(text) - head - tail
    note = f"\n[... {cut} characters omitted: output truncated to {limit} characters{hint} ...]\n"
    return text[:head] + note + text[-tail:]


class ToolBox:
    def __init__(
        self,
        sandbox: Sandbox,
        ctx: AgentContext,
        budget: Budget,
        shell_timeout: float = 600.0,
        output_limit: int = 16000,
    ):
        self.sandbox, self.ctx, self.budget = sandbox, ctx, budget
        self.shell_timeout = shell_timeout
        self.output_limit = output_limit

    def path(self, p: str) -> str:
        return posixpath.normpath(p if p.startswith("/") else posixpath.join(self.ctx.workdir, p))

    def run(self, call: ToolCall) -> ToolOutcome:
        if call.bad_arguments is not None:
            return ToolOutcome(
                f"error: the arguments were not a JSON object: {call.bad_arguments[:500]}", True
            )
        fn = getattr(self, f"_tool_{call.name}", None)
        if call.name not in TOOL_NAMES or fn is None:
            return ToolOutcome(f"error: unknown tool {call.name!r}; tools: {', '.join(TOOL_NAMES)}", True)
        try:
            return fn(**call.arguments)
        except TypeError as exc:
            return ToolOutcome(f"error: bad arguments for {call.name}: {exc}", True)

    # ---- tools ---------------------------------------------------------------------------
    def _tool_shell(self, command: str, timeout: float | None = None) -> ToolOutcome:
        left = self.budget.remaining()
        if left < 0.5:
            return ToolOutcome("error: not run, the time budget is used up", True)
        try:
            want = float(timeout) if timeout is not None else self.shell_timeout
        except (TypeError, ValueError):
            want = self.shell_timeout
        limit = max(0.5, min(want, left))
        r = self.sandbox.exec(command, timeout=limit, cwd=self.ctx.workdir)
        parts = [f"exit code: {r.exit_code} ({r.duration_s:.2f} s)"]
        if r.timed_out:
            capped = " (capped at the time left in your budget)" if limit < want else ""
            parts.append(f"[the command timed out after {limit:.0f} s{capped} and was killed]")
        hint = "; redirect output to a file and read parts of it"
        if r.stdout:
            parts.append("--- stdout ---\n" + truncate(r.stdout, self.output_limit, hint))
        if r.stderr:
            parts.append("--- stderr ---\n" + truncate(r.stderr, self.output_limit // 2, hint))
        if r.truncated:
            parts.append("[the sandbox kept only the first part of a very large output]")
        info = {"exit_code": r.exit_code, "timed_out": r.timed_out, "duration_s": round(r.duration_s, 3)}
        return ToolOutcome("\n".join(parts), r.exit_code != 0 or r.timed_out, info=info)

    def _tool_read_file(
        self, path: str, start_line: int | None = None, end_line: int | None = None
    ) -> ToolOutcome:
        p = self.path(path)
        r = self.sandbox.exec(["cat", "--", p], timeout=60)
        if r.exit_code != 0:
            return ToolOutcome(f"error: cannot read {p}: {r.stderr.strip()[:500]}", True)
        lines = r.stdout.splitlines(keepends=True)
        a = max(1, int(start_line or 1))
        b = min(len(lines), int(end_line or len(lines)))
        body = "".join(lines[a - 1 : b])
        head = (
            f"{p} (lines {a}-{b} of {len(lines)})"
            if (start_line or end_line)
            else f"{p} ({len(lines)} lines)"
        )
        hint = "; use start_line/end_line to read the rest"
        return ToolOutcome(
            head + "\n" + truncate(body, self.output_limit * 2, hint), info={"bytes": len(r.stdout)}
        )

    def _tool_write_file(self, path: str, content: str) -> ToolOutcome:
        p = self.path(path)
        r = self.sandbox.exec(
            ["/bin/sh", "-c", 'mkdir -p "$(dirname "$1")" && cat > "$1"', "sh", p], stdin=content, timeout=60
        )
        if r.exit_code != 0:
            return ToolOutcome(f"error: cannot write {p}: {r.stderr.strip()[:500]}", True)
        return ToolOutcome(f"wrote {p} ({len(content)} characters)", info={"bytes": len(content)})

    def _tool_apply_edit(self, path: str, old_text: str, new_text: str) -> ToolOutcome:
        p = self.path(path)
        cur = self.sandbox.exec(["cat", "--", p], timeout=60)
        if cur.exit_code != 0:
            return ToolOutcome(f"error: cannot read {p}: {cur.stderr.strip()[:500]}", True)
        if cur.truncated:
            return ToolOutcome(f"error: {p} is too large to edit this way; use shell tools", True)
        n = cur.stdout.count(old_text) if old_text else 0
        if n != 1:
            why = (
                "old_text is empty"
                if not old_text
                else f"old_text occurs {n} times in {p} (it must occur once)"
            )
            return ToolOutcome(f"error: {why}", True, info={"occurrences": n})
        new = cur.stdout.replace(old_text, new_text, 1)
        r = self.sandbox.exec(["/bin/sh", "-c", 'cat > "$1"', "sh", p], stdin=new, timeout=60)
        if r.exit_code != 0:
            return ToolOutcome(f"error: cannot write {p}: {r.stderr.strip()[:500]}", True)
        line = cur.stdout[: cur.stdout.index(old_text)].count("\n") + 1
        return ToolOutcome(f"edited {p} at line {line}", info={"line": line})

    def _tool_dev_check(self) -> ToolOutcome:
        if self.ctx.dev_check is None:
            return ToolOutcome("error: this task has no dev check", True)
        if self.budget.remaining() < 1.0:
            return ToolOutcome("error: not run, the time budget is used up", True)
        res = self.ctx.dev_check()
        r = res.exec
        parts = [
            f"checkpoint {res.checkpoint} recorded; dev check exit code: {r.exit_code} ({r.duration_s:.2f} s)"
        ]
        if r.timed_out:
            parts.append("[the dev check timed out]")
        out = (r.stdout + ("\n" + r.stderr if r.stderr else "")).strip()
        if out:
            parts.append(truncate(out, self.output_limit))
        info = {"checkpoint": res.checkpoint, "exit_code": r.exit_code, "timed_out": r.timed_out}
        return ToolOutcome("\n".join(parts), not r.ok, info=info)

    def _tool_finish(self, summary: str = "") -> ToolOutcome:
        return ToolOutcome("finished", finish=True, info={"summary": summary})
