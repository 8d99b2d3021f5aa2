"""mini-swe-agent's ``--output`` trajectory: one JSON document (``info``, ``messages``,
``trajectory_format``), rewritten as the agent goes, so it is read once when the tool has ended.

``messages`` are OpenAI chat messages: ``system`` and ``user`` (the prompt, format errors), ``assistant``
with ``tool_calls`` (or a ```` ```bash ```` block in text mode) and ``extra.response`` (the provider's reply,
with its ``usage``) and ``extra.cost``, ``tool`` results (``tool_call_id``, ``extra.raw_output``,
``extra.returncode``), and a final ``exit`` (``extra.exit_status``). ``info.model_stats.instance_cost`` is
the tool's own total."""

from __future__ import annotations

import json
from typing import Any

from looplab.agents.cli.logs.base import Converter, text_of
from looplab.agents.llm.pricing import usage_from_openai


def _arguments(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        parsed = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        parsed = raw
    return parsed if isinstance(parsed, dict) else {"input": parsed}


class MiniSweTrajConverter(Converter):
    format = "mini-swe-traj"
    whole_file = True

    def document(self, text: str) -> list[dict[str, Any]]:
        try:
            doc = json.loads(text)
        except ValueError:
            return [{"type": "cli_event", "raw": text[:4000]}] if text.strip() else []
        if not isinstance(doc, dict):
            return [{"type": "cli_event", "raw": text[:4000]}]
        out: list[dict[str, Any]] = []
        names: dict[str, str] = {}
        for i, m in enumerate(doc.get("messages") or []):
            if not isinstance(m, dict):
                continue
            role, extra = m.get("role"), m.get("extra") if isinstance(m.get("extra"), dict) else {}
            if role == "assistant":
                calls = []
                for j, c in enumerate(m.get("tool_calls") or []):
                    fn = c.get("function") or {}
                    cid = str(c.get("id") or f"call{i}-{j}")
                    names[cid] = str(fn.get("name") or "bash")
                    calls.append(
                        {"id": cid, "name": names[cid], "arguments": _arguments(fn.get("arguments"))}
                    )
                if not calls:  # text mode: the commands the agent parsed out of the reply
                    for j, a in enumerate(extra.get("actions") or []):
                        cid = str(a.get("tool_call_id") or f"action{i}-{j}")
                        names[cid] = "bash"
                        calls.append({"id": cid, "name": "bash", "arguments": {"command": a.get("command")}})
                resp = extra.get("response") if isinstance(extra.get("response"), dict) else {}
                u = usage_from_openai(resp.get("usage"))
                u.cost_usd = (
                    float(extra["cost"])
                    if isinstance(extra.get("cost"), int | float)
                    else self._cost(u, "openai")
                )
                self.usage.add(u)
                ev: dict[str, Any] = {
                    "type": "assistant",
                    "text": text_of(m.get("content")),
                    "tool_calls": calls,
                    "usage": u.event_fields(),
                    "cost_usd": round(u.cost_usd, 8),
                }
                if resp.get("model") or self.model:
                    ev["model"] = str(resp.get("model") or self.model)
                out.append(ev)
            elif role == "tool" or (role == "user" and extra.get("returncode") is not None):
                cid = str(m.get("tool_call_id") or "")
                content = extra.get("raw_output")
                ev = {
                    "type": "observation",
                    "call_id": cid or None,
                    "tool": names.get(cid, "bash"),
                    "content": content if isinstance(content, str) else text_of(m.get("content")),
                    "is_error": extra.get("returncode") not in (0, None) or bool(extra.get("exception_info")),
                }
                if extra.get("returncode") is not None:
                    ev["exit_code"] = extra["returncode"]
                out.append(ev)
            elif role == "exit":
                out.append(
                    {
                        "type": "cli_event",
                        "event": "exit",
                        "exit_status": extra.get("exit_status"),
                        "submission": str(extra.get("submission") or "")[:4000],
                    }
                )
            else:
                out.append({"type": "cli_event", "event": role, "content": text_of(m.get("content"))[:4000]})
        stats = (doc.get("info") or {}).get("model_stats") or {}
        if isinstance(stats.get("instance_cost"), int | float):
            self.reported_cost = float(stats["instance_cost"])
        return out
