"""aider's ``--chat-history-file`` markdown, as aider appends it: a ``# aider chat started at`` header,
the user's messages as ``#### `` lines (aider's own follow-ups, such as a failed edit's report, too), the
model's replies as plain text, and aider's notes as ``> `` lines (``Applied edit to PATH``, ``Tokens: 1.2k
sent, 42 received. Cost: $0.01 message, $0.02 session.``).

Each reply becomes an ``assistant`` event whose tool calls are its SEARCH/REPLACE blocks (``edit``, with
``path``, ``search``, ``replace``); the notes that follow answer them (``observation``), a block with no
``Applied edit`` note is answered by aider's next message (its failure report) as an error. The tokens
note is the tool's own count (``usage``)."""

from __future__ import annotations

import re
from typing import Any

from looplab.agents.base import Usage
from looplab.agents.cli.logs.base import Converter

_EDIT = re.compile(
    r"^(?P<path>[^\n`<>=]+?)[ \t]*\n```[^\n]*\n<<<<<<< SEARCH[^\n]*\n(?P<search>.*?)^=======[^\n]*\n"
    r"(?P<replace>.*?)^>>>>>>> REPLACE",
    re.M | re.S,
)
_TOKENS = re.compile(r"Tokens: (.+?)\.(?: Cost: (.*))?$")
_COUNT = re.compile(r"([\d.]+)(k?) (sent|received|cache write|cache hit)")
_SESSION = re.compile(r"\$([\d.]+) session")


def _tokens(n: str, k: str) -> int:
    return round(float(n) * (1000 if k else 1))


class AiderChatConverter(Converter):
    format = "aider-chat"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.kind: str | None = None  # the block being read: user, assistant, note
        self.lines: list[str] = []
        self.pending: list[dict[str, Any]] = []  # edit calls of the last reply not answered yet
        self.n_edits = 0
        self.note_open = False  # a note that runs over several lines, until one ends with two spaces

    def feed(self, line: str) -> list[dict[str, Any]]:
        line = line.rstrip("\n")
        if self.kind == "note" and self.note_open:
            self.lines[-1] += "\n" + line.rstrip()
            self.note_open = not line.endswith("  ")
            return []
        if line.startswith("# aider chat started at"):
            return self._end() + [{"type": "cli_event", "event": "session", "started": line[24:].strip()}]
        if line.startswith("####"):
            kind, text = "user", line[5:].rstrip()
        elif line.startswith("> "):
            kind, text = "note", line[2:].rstrip()
        elif not line.strip():
            if self.kind == "assistant":
                self.lines.append("")
            return []
        else:
            kind, text = "assistant", line
        out = self._end() if kind != self.kind else []
        self.note_open = kind == "note" and not line.endswith("  ")
        self.kind = kind
        self.lines.append(text)
        return out

    def flush(self) -> list[dict[str, Any]]:
        out = self._end()
        out += self._answer_pending("no result of this edit was reported", error=True)
        return out

    def _answer_pending(self, text: str, error: bool) -> list[dict[str, Any]]:
        out = [
            {"type": "observation", "call_id": c["id"], "tool": "edit", "content": text, "is_error": error}
            for c in self.pending
        ]
        self.pending = []
        return out

    def _end(self) -> list[dict[str, Any]]:
        kind, text = self.kind, "\n".join(self.lines).strip("\n")
        self.notes = list(self.lines)
        self.kind, self.lines, self.note_open = None, [], False
        if kind == "assistant":
            out = self._answer_pending("no result of this edit was reported", error=True)
            calls = []
            for m in _EDIT.finditer(text):
                self.n_edits += 1
                args = {"path": m["path"].strip(), "search": m["search"], "replace": m["replace"]}
                calls.append({"id": f"edit{self.n_edits}", "name": "edit", "arguments": args})
            self.pending = list(calls)
            ev: dict[str, Any] = {"type": "assistant", "text": text, "tool_calls": calls}
            if self.model:
                ev["model"] = self.model
            return out + [ev]
        if kind == "user":
            if self.pending:  # aider's report on the edits it could not apply
                return self._answer_pending(text, error=True)
            return [{"type": "cli_event", "event": "user", "content": text[:4000]}]
        if kind == "note":
            return self._notes(self.notes)
        return []

    def _notes(self, notes: list[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        rest = []
        for note in notes:
            if note.startswith("Applied edit to "):
                path = note[len("Applied edit to ") :].strip()
                hit = next((c for c in self.pending if c["arguments"]["path"] == path), None)
                if hit is not None:
                    self.pending.remove(hit)
                    out.append(
                        {
                            "type": "observation",
                            "call_id": hit["id"],
                            "tool": "edit",
                            "content": note,
                            "is_error": False,
                        }
                    )
                    continue
            if "failed to match" in note and self.pending:  # aider's report: which blocks did not apply
                for c in self.pending:
                    search = c["arguments"]["search"].strip()
                    failed = bool(search) and search in note
                    content = note if failed else "applied (aider: the other blocks were applied)"
                    out.append(
                        {
                            "type": "observation",
                            "call_id": c["id"],
                            "tool": "edit",
                            "content": content,
                            "is_error": failed,
                        }
                    )
                self.pending = []
                continue
            if (m := _TOKENS.search(note)) is not None:
                counts = {kind: _tokens(n, k) for n, k, kind in _COUNT.findall(m[1])}
                hit = counts.get("cache hit", 0)
                u = Usage(
                    n_calls=1,
                    input_tokens=max(0, counts.get("sent", 0) - hit),
                    output_tokens=counts.get("received", 0),
                    cache_read_tokens=hit,
                    cache_write_tokens=counts.get("cache write", 0),
                )
                u.cost_usd = self._cost(u, "openai")
                self.usage.add(u)
                if (s := _SESSION.search(m[2] or "")) is not None:
                    self.reported_cost = float(s[1])
                out.append(
                    {
                        "type": "usage",
                        "usage": u.event_fields(),
                        "cost_usd": round(u.cost_usd, 8),
                        "note": note,
                    }
                )
                continue
            rest.append(note)
        if rest:
            out.append({"type": "cli_event", "event": "aider", "notes": rest})
        return out
