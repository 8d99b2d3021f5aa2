"""The host-side model gateway: CLI agents in the sandbox call models through it, metered and capped.

``ModelGateway`` (``server``) serves plain HTTP on a Unix socket bound into the
sandbox (reached through the in-sandbox relay) and forwards each call to the real
provider with the real key, which never enters the sandbox; ``metering`` sums each
reply's usage and refuses calls past a cap; ``protocols`` reads the usage out of
Anthropic Messages, OpenAI Chat Completions and OpenAI Responses replies (JSON or
SSE); ``records`` writes every call, key redacted, into the trial.
"""
