"""Tasks: the Harbor/AutoLab task-directory format, its models and loading."""

from looplab.tasks.loader import Task, load_task
from looplab.tasks.model import TaskConfig

__all__ = ["Task", "TaskConfig", "load_task"]
