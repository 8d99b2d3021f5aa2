"""Agent options as pydantic models: the ``--ak KEY=VALUE`` arguments of an agent, validated once.

An agent class names its model in ``Options``; the registry lists an agent's
arguments from the model's fields and rejects unknown ones. Values arrive as
strings from the command line (``""`` means unset) or as typed values from a
config file; a bad one is a one-line error naming the agent and the option.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from looplab.errors import LooplabError

_KIND = {
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "int_type": "an integer",
    "float_parsing": "a number",
    "float_type": "a number",
    "bool_parsing": "true or false",
}


class AgentOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_unset(cls, v: Any) -> Any:
        return None if isinstance(v, str) and v == "" else v

    @classmethod
    def parse(cls, agent: str, values: dict[str, Any]) -> Self:
        """Validate ``values``; a bad one raises ``LooplabError`` ("AGENT: NAME must be ..., got V")."""
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            err = exc.errors()[0]
            name = ".".join(str(p) for p in err["loc"]) or "options"
            kind = _KIND.get(err["type"])
            what = f"must be {kind}" if kind else err["msg"].lower()
            raise LooplabError(f"{agent}: {name} {what}, got {err.get('input')!r}") from None
