"""Read what a verifier wrote: ``/logs/verifier/reward.json`` first, else ``reward.txt``.

The ``reward`` key must be a finite number; anything else (null, a string, missing,
NaN) means reward 0 with the reason recorded, as a failing AutoLab verifier writes
nulls. A reward of 0 with a string ``reason`` (AutoLab's ``build_failed``) records
that reason. Other numeric fields become metrics; booleans, strings, lists and
nested objects are kept as they are.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_REWARD_FILE = 1 << 20


@dataclass
class ParsedReward:
    reward: float = 0.0
    reason: str | None = None  # why the reward is 0: not a clean number, or the verifier's own 'reason'
    metrics: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    source: str | None = None  # "reward.json" | "reward.txt" | None
    raw: Any = None

    def data(self) -> dict[str, Any]:
        """reward.json's content as a dict (for reward recomputation by formulas)."""
        return dict(self.raw) if isinstance(self.raw, dict) else {"reward": self.reward}


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def parse_reward_dir(log_dir: Path) -> ParsedReward:
    js, txt = Path(log_dir) / "reward.json", Path(log_dir) / "reward.txt"
    if js.is_file() and not js.is_symlink():
        return parse_reward_json(js)
    if txt.is_file() and not txt.is_symlink():
        return parse_reward_txt(txt)
    return ParsedReward(reason="the verifier wrote no reward file (reward.json or reward.txt)")


def parse_reward_json(path: Path) -> ParsedReward:
    if path.stat().st_size > MAX_REWARD_FILE:
        return ParsedReward(reason="reward.json is larger than 1 MiB", source="reward.json")
    try:
        data = json.loads(path.read_text(errors="replace"))
    except ValueError as exc:
        return ParsedReward(reason=f"reward.json is not valid JSON: {exc}", source="reward.json")
    return parse_reward_data(data)


def parse_reward_data(data: Any, source: str = "reward.json") -> ParsedReward:
    """A reward file's decoded JSON (or a trusted check's, ``source="runner"``) as a ``ParsedReward``."""
    if not isinstance(data, dict):
        if _is_number(data):
            return ParsedReward(reward=float(data), source=source, raw=data)
        return ParsedReward(reason="reward.json is not a JSON object", source=source, raw=data)
    out = ParsedReward(source=source, raw=data)
    for k, v in data.items():
        if k == "reward":
            continue
        if _is_number(v):
            out.metrics[k] = float(v)
        else:
            out.extra[k] = v
    r = data.get("reward")
    if "reward" not in data:
        out.reason = "reward.json has no 'reward' key"
    elif r is None:
        out.reason = "reward is null" + (
            f" ({data['reason']})" if isinstance(data.get("reason"), str) else ""
        )
    elif not _is_number(r):
        out.reason = f"reward is not a finite number: {r!r}"
    else:
        out.reward = float(r)
        if out.reward == 0 and isinstance(data.get("reason"), str):
            out.reason = data["reason"]  # AutoLab's failure form: {"reward": 0.0, "reason": "build_failed"}
    return out


def parse_reward_txt(path: Path) -> ParsedReward:
    with open(path, "rb") as fh:  # only the head: the file may be huge (or sparse)
        text = fh.read(1000).decode("utf-8", "replace").strip()
    try:
        val = float(text.split()[0]) if text else float("nan")
    except ValueError:
        return ParsedReward(
            reason=f"reward.txt is not a number: {text[:80]!r}", source="reward.txt", raw=text
        )
    if not math.isfinite(val):
        return ParsedReward(
            reason=f"reward.txt is not a finite number: {text[:80]!r}", source="reward.txt", raw=text
        )
    return ParsedReward(reward=val, source="reward.txt", raw=text)
