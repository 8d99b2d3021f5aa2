"""The ``llm`` agent: a tool-calling loop run from the host, acting on the sandbox.

Each turn the model is told the elapsed and remaining time of its budget (and the
turn, token and dollar caps that apply), answers with tool calls, and gets their
results back. The loop ends when the model calls ``finish``, keeps answering
without tools (``idle_turns`` times in a row), or a cap is reached: time
(``timeout``), turns (``max_turns``), tokens (``max_tokens``) or dollars
(``max_cost``). Caps are checked before every model call, so the call that crosses
a token or dollar cap is the last one, and its tool calls still run. Every step
is streamed to the trajectory as it happens.

The conversation is kept within the model's context: when the estimated prompt
(characters times the tokens-per-character ratio measured on the last call)
passes ``compact_at`` of ``context_tokens``, old tool outputs are elided (all but
the last ``keep_observations``); if that is not enough, the oldest turns are
dropped and replaced by a summary (written by the model with ``compaction=
"summarize"``, the default, or a mechanical digest with ``"digest"``). Each
compaction is recorded in the trajectory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from looplab.agents.base import Agent, AgentContext, AgentOutcome, Budget, BudgetLimits, Usage
from looplab.agents.llm.pricing import PriceTable
from looplab.agents.llm.providers import (
    Completion,
    ContextTooLong,
    Message,
    Provider,
    ToolResult,
    make_provider,
    resolve_key,
    split_model,
)
from looplab.agents.llm.tools import TOOL_SPECS, ToolBox, truncate
from looplab.agents.options import AgentOptions
from looplab.agents.trajectory import Trajectory
from looplab.errors import LooplabError
from looplab.sandbox.base import Sandbox

SYSTEM_PROMPT = """\
You are an expert engineer working autonomously on an optimization task in a sandboxed Linux machine.

- Working folder: {workdir}. Only these files are scored: {editable}. Other changes are discarded.
- Local check: {dev_check}. The dev_check tool runs it and records a checkpoint of your files; a sealed \
verifier with hidden tests scores checkpoints and your final files afterwards, so run dev_check whenever \
your solution improves, and keep it correct.
- You have a fixed time budget of {budget}. Every message tells you the time used and the time remaining. \
Use the whole budget: keep measuring and improving until little time is left. Do not call finish while you \
could still improve the score; when time runs out, your last files are scored as they are.
- Tools: shell (bash, no network), read_file, write_file, apply_edit, dev_check, finish. Keep outputs short \
(long outputs are truncated).
"""

SUMMARY_PROMPT = """\
Below is the record of earlier turns of your work on the task, which must be removed to fit the context \
window. Write a concise summary (at most 400 words) that lets you continue: what you tried, what worked and \
what did not (with measured numbers), the current state of the files, and what to do next.

{record}
"""

DEFAULT_CONTEXT = {"anthropic": 200_000, "openai": 128_000}


class LLMOptions(AgentOptions):
    """The llm agent's options (``--ak KEY=VALUE``); an unset number falls back to its default."""

    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    prices: str | None = None  # a price file (else $LOOPLAB_PRICES, else the built-in table)
    max_output_tokens: int | None = None
    temperature: float | None = None
    context_tokens: int | None = None  # default: the provider's window
    compact_at: float | None = 0.7  # compact the conversation at this fraction of the window
    keep_observations: int | None = 6
    compaction: Literal["summarize", "digest"] = "summarize"
    shell_timeout: float | None = 600
    output_limit: int | None = 16000
    request_timeout: float | None = 600
    max_retries: int | None = 6
    retry_base_delay: float | None = 1.0
    idle_turns: int | None = 2
    system_prompt: str | None = None


class Conversation:
    """The neutral message list: ``[instruction, (assistant, user)*]``, with compaction."""

    def __init__(self, system: str, instruction: str, tool_chars: int):
        self.system = system
        self.instruction = instruction
        self.summary = ""
        self.messages: list[Message] = [Message("user", instruction)]
        self.fixed_chars = len(system) + tool_chars
        self.tokens_per_char = 0.3  # replaced by the measured ratio after the first call

    def chars(self) -> int:
        return self.fixed_chars + sum(m.chars() for m in self.messages)

    def estimate(self) -> int:
        return int(self.chars() * self.tokens_per_char)

    def observe(self, prompt_tokens: int, chars: int) -> None:
        if (
            prompt_tokens > 0 and chars > 0
        ):  # clamped: a server that misreports usage must not disable compaction
            self.tokens_per_char = min(2.0, max(0.1, prompt_tokens / chars))

    def set_summary(self, summary: str) -> None:
        self.summary = summary
        self.messages[0] = Message(
            "user", self.instruction + "\n\n[Earlier work, summarized to fit the context window]\n" + summary
        )

    def elide(self, keep: int) -> int:
        """Replace all but the last ``keep`` tool outputs with a stub; return how many were elided."""
        results = [(mi, ri) for mi, m in enumerate(self.messages) for ri in range(len(m.tool_results))]
        n = 0
        for mi, ri in results[: max(0, len(results) - keep)]:
            r = self.messages[mi].tool_results[ri]
            if r.content.startswith("[elided"):
                continue
            first = r.content.splitlines()[0][:120] if r.content else ""
            stub = f"[elided to save context: {len(r.content)} characters; it began: {first}]"
            if len(stub) < len(r.content):
                self.messages[mi].tool_results[ri] = ToolResult(r.call_id, r.name, stub, r.is_error)
                n += 1
        return n

    def drop_oldest(self, target_tokens: int, keep_turns: int = 2) -> list[Message]:
        """Drop the oldest (assistant, user) turns until the estimate is under ``target_tokens``."""
        dropped: list[Message] = []
        while self.estimate() > target_tokens and (len(self.messages) - 1) // 2 > keep_turns:
            dropped += self.messages[1:3]
            del self.messages[1:3]
        return dropped


@dataclass
class _Run:
    """What one run of the loop works with, and its counters."""

    conv: Conversation
    provider: Provider
    traj: Trajectory
    usage: Usage
    budget: Budget
    turns: int = 0
    compactions: int = 0
    idle: int = 0  # consecutive answers without a tool call
    unpriced: bool = False


def digest(messages: list[Message], per_item: int = 300) -> str:
    """A mechanical record of turns: the model's text, each tool call and the start of its result."""
    lines = []
    for m in messages:
        if m.role == "assistant":
            if m.text.strip():
                lines.append("assistant: " + truncate(m.text.strip(), per_item))
            for c in m.tool_calls:
                lines.append(f"call {c.name}({truncate(json.dumps(c.arguments), per_item)})")
        else:
            for r in m.tool_results:
                lines.append(f"result of {r.name}: " + truncate(r.content.strip(), per_item))
            if m.text.strip():
                lines.append("note: " + truncate(m.text.strip(), per_item))
    return "\n".join(lines)


class LLMAgent(Agent):
    name = "llm"

    Options = LLMOptions

    def __init__(self, **options: Any):
        o = LLMOptions.parse("llm agent", options)
        if not o.model:
            raise LooplabError("the llm agent needs a model: -m anthropic/NAME or -m openai/NAME")
        self.options = o
        self.provider_name, _ = split_model(o.model)
        self.model = o.model
        self.base_url = o.base_url
        self.api_key_env = o.api_key_env
        self.prices = PriceTable.load(o.prices)
        self.max_output_tokens = o.max_output_tokens
        self.temperature = o.temperature
        self.context_tokens = o.context_tokens or DEFAULT_CONTEXT[self.provider_name]
        self.compact_at = o.compact_at or 0.7
        self.keep_observations = o.keep_observations or 0
        self.compaction = o.compaction
        self.shell_timeout = o.shell_timeout or 600.0
        self.output_limit = o.output_limit or 16000
        self.request_timeout = o.request_timeout or 600.0
        self.max_retries = o.max_retries or 0
        self.retry_base_delay = o.retry_base_delay or 1.0
        self.idle_turns = o.idle_turns or 1
        self.system_prompt = o.system_prompt

    def preflight(self, budget: BudgetLimits) -> list[str]:
        """What would make every trial fail at its first call: no API key, no price under a cost cap."""
        problems = []
        try:
            resolve_key(self.provider_name, self.base_url, self.api_key_env)
        except LooplabError as exc:
            problems.append(str(exc))
        if budget.max_cost_usd is not None and self.prices.lookup(self.model) is None:
            problems.append(
                f"--max-cost needs a price for {self.model}: add it to a price file "
                "(--ak prices=FILE or $LOOPLAB_PRICES)"
            )
        return problems

    # ---- the loop -----------------------------------------------------------------------
    def run(self, instruction: str, sandbox: Sandbox, budget: Budget, ctx: AgentContext) -> AgentOutcome:
        traj = ctx.trajectory
        price = self.prices.lookup(self.model)
        if price is None and budget.max_cost_usd is not None:
            raise LooplabError(
                f"--max-cost needs a price for {self.model}: "
                "add it to a price file (--ak prices=FILE or $LOOPLAB_PRICES)"
            )
        provider = make_provider(
            self.model,
            base_url=self.base_url,
            api_key_env=self.api_key_env,
            max_output_tokens=self.max_output_tokens,
            temperature=self.temperature,
            max_retries=self.max_retries,
            retry_base_delay=self.retry_base_delay,
            on_retry=lambda info: traj.event("retry", **info),
        )
        system = (self.system_prompt or SYSTEM_PROMPT).format(
            workdir=ctx.workdir,
            editable=", ".join(ctx.editable) or f"anything under {ctx.workdir}",
            dev_check=ctx.dev_check_command or "(none; dev_check only records a checkpoint)",
            budget=_budget_words(budget),
        )
        tool_chars = len(json.dumps([t.__dict__ for t in TOOL_SPECS]))
        conv = Conversation(system, instruction, tool_chars)
        tools = ToolBox(sandbox, ctx, budget, self.shell_timeout, self.output_limit)
        usage = Usage()
        run = _Run(conv, provider, traj, usage, budget, unpriced=price is None)
        traj.event(
            "system_prompt", text=system, model=self.model, provider=provider.provider, base_url=self.base_url
        )
        traj.event("user", text=instruction)
        if price is None:
            traj.event("warning", text=f"no price known for {self.model}: its cost is counted as $0")

        def outcome(reason: str, error: str | None = None, notes: str = "") -> AgentOutcome:
            extra = {
                "turns": run.turns,
                "compactions": run.compactions,
                "model": self.model,
                "unpriced": run.unpriced,
            }
            usage.cost_usd = round(usage.cost_usd, 10)
            return AgentOutcome(stop_reason=reason, usage=usage, error=error, notes=notes, extra=extra)

        while True:
            stop = self._cap_reached(budget, usage, run.turns)
            if stop:
                traj.event("cap", stop_reason=stop, turns=run.turns, **usage.event_fields())
                return outcome(stop)
            run.turns += 1
            told = self._status_line(budget, usage, run.turns)
            last = conv.messages[-1]
            conv.messages[-1] = Message(
                "user", (last.text + "\n\n" if last.text else "") + told, [], last.tool_results
            )
            try:
                self._maybe_compact(run)
                completion = self._call(run)
            except TimeoutError:
                return outcome("timeout")
            except LooplabError as exc:
                traj.event("error", text=str(exc))
                if budget.remaining() < 1.0:
                    return outcome("timeout", error=str(exc))
                return outcome("error", error=str(exc))
            cost = self._account(completion, usage)
            traj.event(
                "assistant",
                turn=run.turns,
                text=completion.text,
                reasoning=completion.reasoning,
                tool_calls=[
                    {"id": c.id, "name": c.name, "arguments": c.arguments} for c in completion.tool_calls
                ],
                model=completion.model,
                stop_reason=completion.stop_reason,
                response_id=completion.response_id,
                duration_s=round(completion.duration_s, 3),
                retries=completion.retries,
                told=told,
                usage=completion.usage.event_fields(),
                cost_usd=cost,
                context_estimate=conv.estimate(),
            )
            conv.messages.append(Message("assistant", completion.text, completion.tool_calls))
            if not completion.tool_calls:
                run.idle += 1
                if run.idle >= self.idle_turns:
                    traj.event("finish", reason="the model stopped calling tools", text=completion.text)
                    return outcome("finished", notes="the model stopped calling tools")
                conv.messages.append(
                    Message(
                        "user",
                        "You did not call a tool. If you cannot improve the result further in the "
                        "time left, call finish; otherwise continue working with the tools.",
                    )
                )
                continue
            run.idle = 0
            results, finished = [], None
            for call in completion.tool_calls:
                if finished is not None or (budget.expired() and call.name != "finish"):
                    why = "not run: the agent finished" if finished is not None else "not run: the time is up"
                    results.append(ToolResult(call.id, call.name, why, True))
                    continue
                if call.name != "dev_check":  # the trial records the dev check's own command event
                    traj.event("command", tool=call.name, call_id=call.id, arguments=call.arguments)
                out = tools.run(call)
                traj.event(
                    "observation",
                    tool=call.name,
                    call_id=call.id,
                    content=out.content,
                    is_error=out.is_error,
                    **out.info,
                )
                results.append(ToolResult(call.id, call.name, out.content, out.is_error))
                if out.finish:
                    finished = out.info.get("summary", "")
            conv.messages.append(Message("user", "", [], results))
            if finished is not None:
                traj.event("finish", reason="the agent called finish", summary=finished)
                return outcome("finished", notes=str(finished)[:2000])

    def _cap_reached(self, budget: Budget, usage: Usage, turns: int) -> str | None:
        if budget.remaining() < 1.0:
            return "timeout"
        if budget.max_cost_usd is not None and usage.cost_usd >= budget.max_cost_usd:
            return "max_cost"
        if budget.max_tokens is not None and usage.total_tokens >= budget.max_tokens:
            return "max_tokens"
        if budget.max_turns is not None and turns >= budget.max_turns:
            return "max_turns"
        return None

    def _status_line(self, budget: Budget, usage: Usage, turn: int) -> str:
        parts = [budget.describe()]
        parts.append(f"Turn {turn}" + (f" of at most {budget.max_turns}." if budget.max_turns else "."))
        if budget.max_tokens:
            parts.append(f"Tokens used: {usage.total_tokens} of {budget.max_tokens}.")
        if budget.max_cost_usd is not None:
            parts.append(f"Cost so far: ${usage.cost_usd:.4f} of ${budget.max_cost_usd:g}.")
        return "[" + " ".join(parts) + "]"

    def _account(self, c: Completion, usage: Usage) -> float:
        cost = self.prices.cost(self.model, c.usage) or 0.0
        c.usage.cost_usd = cost
        usage.add(c.usage)
        return round(cost, 8)

    def _call(self, r: _Run) -> Completion:
        conv, budget = r.conv, r.budget
        for attempt in range(2):
            timeout = min(self.request_timeout, budget.remaining())
            if timeout < 1.0:
                raise TimeoutError
            chars = conv.chars()
            try:
                c = r.provider.complete(conv.system, conv.messages, TOOL_SPECS, timeout)
            except ContextTooLong as exc:
                if attempt == 1:
                    raise
                r.traj.event("context_overflow", text=str(exc), estimate=conv.estimate())
                self._compact(r, target=conv.estimate() // 2)
                continue
            conv.observe(c.usage.input_tokens + c.usage.cache_read_tokens + c.usage.cache_write_tokens, chars)
            return c
        raise LooplabError("unreachable")

    def _maybe_compact(self, r: _Run) -> None:
        target = int(self.context_tokens * self.compact_at)
        if r.conv.estimate() > target:
            self._compact(r, target)

    def _compact(self, r: _Run, target: int) -> None:
        conv = r.conv
        before = conv.estimate()
        elided = conv.elide(self.keep_observations)
        dropped: list[Message] = []
        summary, how, cost = "", None, 0.0
        if conv.estimate() > target:
            dropped = conv.drop_oldest(int(target * 0.7))
            if dropped:
                record = (conv.summary + "\n\n" if conv.summary else "") + digest(dropped, per_item=1500)
                summary, how = digest(dropped), "digest"
                if self.compaction == "summarize" and r.budget.remaining() > 5:
                    summary, how, cost = self._summarize(record, r)
                conv.set_summary(truncate(summary, 12000))
        r.compactions += 1
        r.traj.event(
            "compaction",
            tokens_before=before,
            tokens_after=conv.estimate(),
            target=target,
            elided_observations=elided,
            dropped_messages=len(dropped),
            summary_by=how,
            summary=summary or None,
            cost_usd=cost or None,
        )

    def _summarize(self, record: str, r: _Run) -> tuple[str, str, float]:
        record = truncate(record, max(4000, int(self.context_tokens * self.compact_at / 0.3 / 2)))
        try:
            c = r.provider.complete(
                "You write concise, factual progress summaries.",
                [Message("user", SUMMARY_PROMPT.format(record=record))],
                [],
                min(self.request_timeout, r.budget.remaining()),
            )
        except (LooplabError, TimeoutError) as exc:
            r.traj.event("warning", text=f"summary call failed ({exc}); a mechanical digest is used")
            return truncate(record, 8000), "digest", 0.0
        cost = self._account(c, r.usage)
        if not c.text.strip():
            return truncate(record, 8000), "digest", cost
        return c.text.strip(), "model", cost


def _duration_words(sec: float) -> str:
    if sec < 120:
        return f"{sec:.0f} seconds"
    if sec < 7200:
        return f"{sec / 60:.0f} minutes"
    h, m = divmod(round(sec / 60), 60)
    return f"{h} hours" + (f" {m} minutes" if m else "")


def _budget_words(b: Budget) -> str:
    words = [_duration_words(b.timeout_sec)]
    if b.max_turns:
        words.append(f"{b.max_turns} turns")
    if b.max_tokens:
        words.append(f"{b.max_tokens} tokens")
    if b.max_cost_usd is not None:
        words.append(f"${b.max_cost_usd:g}")
    return ", ".join(words)
