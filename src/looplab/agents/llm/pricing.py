"""Token accounting and dollars: usage per model call and a price table the user can override.

``usage_from_anthropic`` / ``usage_from_openai`` / ``usage_from_responses`` / ``usage_from_gemini`` turn
a provider's usage fields into a
``Usage`` (``input_tokens`` counts only the uncached input; cache reads and cache
writes are separate, so ``total_tokens`` adds up what was processed). ``PriceTable``
holds USD per million tokens for input, output, cache read and cache write, keyed by
model name; a name matches its longest listed prefix (``claude-sonnet-4`` prices
``claude-sonnet-4-5-20250929``). The built-in table is a dated snapshot of public list
prices; override or extend it with a TOML file (``--ak prices=FILE`` or the
``LOOPLAB_PRICES`` environment variable)::

    [models."openai/my-model"]      # or just "my-model"; prefixes match
    input = 1.0                     # USD per million uncached input tokens
    output = 2.0
    cache_read = 0.1                # optional, default: input
    cache_write = 1.25              # optional, default: input
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from looplab.agents.base import Usage
from looplab.errors import LooplabError

PRICES_ENV = "LOOPLAB_PRICES"
PRICES_AS_OF = "2025-10"


@dataclass(frozen=True)
class Price:
    input: float
    output: float
    cache_read: float
    cache_write: float

    def cost(self, u: Usage) -> float:
        return (
            u.input_tokens * self.input
            + u.output_tokens * self.output
            + u.cache_read_tokens * self.cache_read
            + u.cache_write_tokens * self.cache_write
        ) / 1e6


def _p(inp: float, out: float, read: float, write: float | None = None) -> Price:
    return Price(inp, out, read, inp if write is None else write)


# USD per million tokens: (input, output, cache read, cache write). Public list prices as of PRICES_AS_OF.
BUILTIN_PRICES: dict[str, Price] = {
    "anthropic/claude-opus-4-5": _p(5.0, 25.0, 0.50, 6.25),
    "anthropic/claude-opus-4": _p(15.0, 75.0, 1.50, 18.75),
    "anthropic/claude-sonnet-4": _p(3.0, 15.0, 0.30, 3.75),
    "anthropic/claude-3-7-sonnet": _p(3.0, 15.0, 0.30, 3.75),
    "anthropic/claude-3-5-sonnet": _p(3.0, 15.0, 0.30, 3.75),
    "anthropic/claude-haiku-4-5": _p(1.0, 5.0, 0.10, 1.25),
    "anthropic/claude-3-5-haiku": _p(0.80, 4.0, 0.08, 1.0),
    "openai/gpt-5-mini": _p(0.25, 2.0, 0.025),
    "openai/gpt-5-nano": _p(0.05, 0.40, 0.005),
    "openai/gpt-5": _p(1.25, 10.0, 0.125),
    "openai/gpt-4.1-mini": _p(0.40, 1.60, 0.10),
    "openai/gpt-4.1-nano": _p(0.10, 0.40, 0.025),
    "openai/gpt-4.1": _p(2.0, 8.0, 0.50),
    "openai/gpt-4o-mini": _p(0.15, 0.60, 0.075),
    "openai/gpt-4o": _p(2.50, 10.0, 1.25),
    "openai/o4-mini": _p(1.10, 4.40, 0.275),
    "openai/o3": _p(2.0, 8.0, 0.50),
    "gemini/gemini-2.5-pro": _p(1.25, 10.0, 0.31),
    "gemini/gemini-2.5-flash-lite": _p(0.10, 0.40, 0.025),
    "gemini/gemini-2.5-flash": _p(0.30, 2.50, 0.075),
}


class _PriceEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None


class _PriceFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    models: dict[str, _PriceEntry]


class PriceTable:
    def __init__(self, prices: dict[str, Price] | None = None):
        self.prices = dict(BUILTIN_PRICES if prices is None else prices)

    @classmethod
    def load(cls, path: str | Path | None = None) -> PriceTable:
        """The built-in table, overridden by ``path`` (or ``$LOOPLAB_PRICES`` when path is None)."""
        table = cls()
        path = path or os.environ.get(PRICES_ENV) or None
        if path:
            table.prices.update(read_price_file(Path(path)))
        return table

    def lookup(self, model: str) -> Price | None:
        """Price of ``provider/name`` (or a bare name): the longest listed prefix of either form."""
        name = model.split("/", 1)[1] if "/" in model else model
        best: tuple[int, Price] | None = None
        for key, price in self.prices.items():
            for cand in (model, name):
                if cand.startswith(key) and (best is None or len(key) > best[0]):
                    best = (len(key), price)
        return best[1] if best else None

    def cost(self, model: str, usage: Usage) -> float | None:
        price = self.lookup(model)
        return None if price is None else price.cost(usage)


def read_price_file(path: Path) -> dict[str, Price]:
    if not path.is_file():
        raise LooplabError(f"{path}: price file not found")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise LooplabError(f"{path}: not valid TOML: {exc}") from None
    try:
        parsed = _PriceFile.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        raise LooplabError(f"{path}: {where}: {err['msg']}") from None
    out = {}
    for key, e in parsed.models.items():
        read = e.input if e.cache_read is None else e.cache_read
        write = e.input if e.cache_write is None else e.cache_write
        out[key] = Price(e.input, e.output, read, write)
    return out


def _get(obj: Any, name: str) -> int:
    v = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
    return int(v or 0)


def usage_from_anthropic(u: Any) -> Usage:
    """Anthropic's ``usage``: input_tokens are already uncached; cache reads/creations are separate."""
    if u is None:
        return Usage(n_calls=1)
    return Usage(
        n_calls=1,
        input_tokens=_get(u, "input_tokens"),
        output_tokens=_get(u, "output_tokens"),
        cache_read_tokens=_get(u, "cache_read_input_tokens"),
        cache_write_tokens=_get(u, "cache_creation_input_tokens"),
    )


def usage_from_openai(u: Any) -> Usage:
    """OpenAI's ``usage``: prompt_tokens include the cached ones (``prompt_tokens_details.cached_tokens``)."""
    if u is None:
        return Usage(n_calls=1)
    details = (
        u.get("prompt_tokens_details") if isinstance(u, dict) else getattr(u, "prompt_tokens_details", None)
    )
    cached = _get(details, "cached_tokens") if details is not None else 0
    prompt = _get(u, "prompt_tokens")
    return Usage(
        n_calls=1,
        input_tokens=max(0, prompt - cached),
        output_tokens=_get(u, "completion_tokens"),
        cache_read_tokens=cached,
    )


def usage_from_responses(u: Any) -> Usage:
    """OpenAI Responses' ``usage``: input_tokens include the cached ones
    (``input_tokens_details.cached_tokens``)."""
    if u is None:
        return Usage(n_calls=1)
    details = (
        u.get("input_tokens_details") if isinstance(u, dict) else getattr(u, "input_tokens_details", None)
    )
    cached = _get(details, "cached_tokens") if details is not None else 0
    return Usage(
        n_calls=1,
        input_tokens=max(0, _get(u, "input_tokens") - cached),
        output_tokens=_get(u, "output_tokens"),
        cache_read_tokens=cached,
    )


def usage_from_gemini(u: Any) -> Usage:
    """Gemini's ``usageMetadata``: promptTokenCount includes cachedContentTokenCount; thoughts are output."""
    if u is None:
        return Usage(n_calls=1)
    cached = _get(u, "cachedContentTokenCount")
    return Usage(
        n_calls=1,
        input_tokens=max(0, _get(u, "promptTokenCount") - cached),
        output_tokens=_get(u, "candidatesTokenCount") + _get(u, "thoughtsTokenCount"),
        cache_read_tokens=cached,
    )
