"""Environments: a task's ``environment/Dockerfile`` realized without Docker, cached by content."""

from looplab.environment.build import Environment, build_environment

__all__ = ["Environment", "build_environment"]
