"""The ``llm`` agent: a tool-calling loop over the Anthropic or an OpenAI-compatible API.

``loop`` (the agent, ``LLMAgent``), ``providers`` (SDK calls, retries), ``tools`` (what the
model can do in the sandbox), ``pricing`` (tokens and dollars). Nothing is imported here,
so using ``pricing`` does not load the SDKs.
"""
