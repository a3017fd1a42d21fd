"""Task types: the registry workers run jobs from, and the decorator users add their own with.

A task is a function of one argument, a :class:`TaskContext`. ``async def`` tasks run on the
worker's event loop; plain functions run in a thread so they cannot stall heartbeats::

    from cluster.tasks import task

    @task("resize")
    def resize(ctx):
        ctx.log("resizing", width=ctx.payload["width"])
        return {"ok": True}

Name the module with ``JOBFLEET_TASKS_MODULE`` and every worker imports it at start.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


class TaskLog(Protocol):
    def write(self, event: str, **fields: Any) -> None: ...


@dataclass
class TaskContext:
    """What a running task sees: its job, its attempt and its log."""

    job_id: str
    attempt: int
    payload: dict[str, Any]
    logfile: TaskLog

    def log(self, message: str, **fields: Any) -> None:
        """Append one record to this attempt's log file."""
        self.logfile.write("log", msg=message, **fields)


TaskFunction = Callable[[TaskContext], Any]


@dataclass(frozen=True)
class Task:
    name: str
    function: TaskFunction
    is_async: bool


@dataclass
class TaskRegistry:
    """Task types by name."""

    tasks: dict[str, Task] = field(default_factory=dict)

    def task(self, name: str | None = None) -> Callable[[TaskFunction], TaskFunction]:
        """Decorator: register ``function`` under ``name`` (default: its own name)."""

        def register(function: TaskFunction) -> TaskFunction:
            task_name = name or function.__name__
            if task_name in self.tasks:
                raise ValueError(f"task type {task_name!r} is registered twice")
            is_async = inspect.iscoroutinefunction(function)
            self.tasks[task_name] = Task(task_name, function, is_async)
            return function

        return register

    def get(self, name: str) -> Task | None:
        return self.tasks.get(name)

    def names(self) -> list[str]:
        return sorted(self.tasks)


registry = TaskRegistry()
task = registry.task


def load_registry(tasks_module: str | None) -> TaskRegistry:
    """The default registry with the built-ins and, if named, the user's module imported."""
    importlib.import_module("cluster.tasks.builtin")
    if tasks_module:
        importlib.import_module(tasks_module)
    return registry


def builtin_names() -> list[str]:
    """The built-in task types (known to the master without asking any worker)."""
    importlib.import_module("cluster.tasks.builtin")
    from cluster.tasks.builtin import BUILTIN

    return sorted(BUILTIN)
