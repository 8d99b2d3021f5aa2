"""Agents: one protocol (``run(instruction, sandbox, budget, ctx)``) and the built-in agents."""

from looplab.agents.base import Agent, AgentContext, AgentOutcome, Budget, Usage

__all__ = ["Agent", "AgentContext", "AgentOutcome", "Budget", "Usage"]
