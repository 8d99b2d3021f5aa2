"""Sandboxes: one small protocol (start, exec, put/get, stop) and its implementations."""

from looplab.sandbox.base import ExecResult, Sandbox, SandboxSpec

__all__ = ["ExecResult", "Sandbox", "SandboxSpec"]
