"""Native logs of CLI agents turned into looplab trajectory events, as they are written.

One module per format (``--ak log_format=NAME``; a built-in tool names its own):

- ``claude-stream-json`` (``claude``): Claude Code's and Qwen Code's ``--output-format stream-json``;
- ``codex-jsonl`` (``codex``): Codex CLI's ``codex exec --json``;
- ``gemini-stream-json`` (``gemini``): Gemini CLI's ``--output-format stream-json``;
- ``mini-swe-traj`` (``mini``): mini-swe-agent's ``--output`` trajectory (one JSON document, read at the end);
- ``aider-chat`` (``aider``): aider's ``--chat-history-file`` markdown.

Each converter's ``feed(line)`` returns trajectory events (``assistant`` with tool
calls, ``observation`` with the matching ``call_id``, ``cli_event`` for the rest)
and keeps running ``usage`` totals of what the tool itself reports; unknown lines
become ``cli_event`` so nothing is lost. The gateway's metering, not these totals,
is the trial's usage; the ATIF export (``records.atif``) builds its agent steps
from the ``assistant`` events.
"""

from __future__ import annotations

from looplab.agents.cli.logs.aider import AiderChatConverter
from looplab.agents.cli.logs.base import Converter
from looplab.agents.cli.logs.claude import ClaudeStreamConverter
from looplab.agents.cli.logs.codex import CodexJsonConverter
from looplab.agents.cli.logs.gemini import GeminiStreamConverter
from looplab.agents.cli.logs.mini import MiniSweTrajConverter
from looplab.agents.llm.pricing import PriceTable

_CONVERTERS: dict[str, type[Converter]] = {
    c.format: c
    for c in (
        ClaudeStreamConverter,
        CodexJsonConverter,
        GeminiStreamConverter,
        MiniSweTrajConverter,
        AiderChatConverter,
        Converter,
    )
}
FORMATS = tuple(_CONVERTERS)

__all__ = [
    "FORMATS",
    "AiderChatConverter",
    "ClaudeStreamConverter",
    "CodexJsonConverter",
    "Converter",
    "GeminiStreamConverter",
    "MiniSweTrajConverter",
    "make_converter",
]


def make_converter(fmt: str, prices: PriceTable | None = None, model: str | None = None) -> Converter:
    return _CONVERTERS.get(fmt, Converter)(prices, model)
