"""The ``llm`` agent: a tool-calling loop over the Anthropic or an OpenAI-compatible API (see ``loop``)."""

from looplab.agents.llm.loop import LLMAgent

__all__ = ["LLMAgent"]
