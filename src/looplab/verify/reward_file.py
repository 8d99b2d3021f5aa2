"""Read what a verifier wrote: ``/logs/verifier/reward.json`` first, else ``reward.txt``.

reward.json is a flat dict as Harbor reads it: every key holding a finite number is a
named reward and is recorded (``rewards``). The primary reward, the one a leaderboard
ranks by, is the task's ``[looplab] primary_reward`` key when it names one, else
``reward``; when reward.json has neither, it is the mean of the numeric keys (said so in
``primary``). A primary key that is there but not a finite number (null, a string, NaN)
means reward 0 with the reason recorded, as a failing AutoLab verifier writes nulls. A
reward of 0 with a string ``reason`` (AutoLab's ``build_failed``) records that reason.
Booleans, strings, lists and nested objects are kept as they are (``extra``).
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
    rewards: dict[str, float] = field(default_factory=dict)  # every finite-number key, as written
    primary: str = "reward"  # the key the reward is, or "mean(a, b)" when it is the mean of the keys

    def data(self) -> dict[str, Any]:
        """reward.json's content as a dict (for reward recomputation by formulas)."""
        return dict(self.raw) if isinstance(self.raw, dict) else {"reward": self.reward}


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def parse_reward_dir(log_dir: Path, primary: str | None = None) -> ParsedReward:
    """The reward file of a verifier's log folder; ``primary`` names the leaderboard's key."""
    js, txt = Path(log_dir) / "reward.json", Path(log_dir) / "reward.txt"
    if js.is_file() and not js.is_symlink():
        return parse_reward_json(js, primary)
    if txt.is_file() and not txt.is_symlink():
        return parse_reward_txt(txt)
    return ParsedReward(reason="the verifier wrote no reward file (reward.json or reward.txt)")


def parse_reward_json(path: Path, primary: str | None = None) -> ParsedReward:
    if path.stat().st_size > MAX_REWARD_FILE:
        return ParsedReward(reason="reward.json is larger than 1 MiB", source="reward.json")
    try:
        data = json.loads(path.read_text(errors="replace"))
    except ValueError as exc:
        return ParsedReward(reason=f"reward.json is not valid JSON: {exc}", source="reward.json")
    return parse_reward_data(data, primary=primary)


def parse_reward_data(data: Any, source: str = "reward.json", primary: str | None = None) -> ParsedReward:
    """A reward file's decoded JSON (or a trusted check's, ``source="runner"``) as a ``ParsedReward``."""
    if not isinstance(data, dict):
        if _is_number(data):
            return ParsedReward(reward=float(data), source=source, raw=data, rewards={"reward": float(data)})
        return ParsedReward(reason="reward.json is not a JSON object", source=source, raw=data)
    out = ParsedReward(source=source, raw=data)
    for k, v in data.items():
        k = str(k)
        if _is_number(v):
            out.rewards[k] = float(v)
        elif k != "reward":
            out.extra[k] = v
    key = primary or "reward"
    out.primary = key
    out.metrics = {k: v for k, v in out.rewards.items() if k != key}
    if key not in data:
        if primary is None and out.rewards:
            keys = sorted(out.rewards)
            out.primary = f"mean({', '.join(keys)})"
            out.reward = sum(out.rewards.values()) / len(keys)
        elif primary is None:
            out.reason = "reward.json has no 'reward' key and no other numeric key"
        else:
            out.reason = f"reward.json has no {key!r} key (the task's primary reward)"
        return out
    r = data[key]
    if r is None:
        out.reason = f"{key} is null" + (
            f" ({data['reason']})" if isinstance(data.get("reason"), str) else ""
        )
    elif not _is_number(r):
        out.reason = f"{key} is not a finite number: {r!r}"
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
    return ParsedReward(reward=val, source="reward.txt", raw=text, rewards={"reward": val})
