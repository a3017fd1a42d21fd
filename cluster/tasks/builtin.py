"""Built-in task types, for demos and for the chaos suite."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from cluster.tasks import TaskContext, task

BUILTIN = ("echo", "sleep", "cpu", "fail", "alloc")
MIB = 1024 * 1024


class PayloadError(ValueError):
    """The payload does not fit the task type."""


def _number(payload: dict[str, Any], name: str, default: float, high: float) -> float:
    value = payload.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= high:
        raise PayloadError(f"payload field {name!r} must be a number from 0 to {high}")
    return float(value)


@task("echo")
async def echo(ctx: TaskContext) -> Any:
    """Returns its payload."""
    return ctx.payload


@task("sleep")
async def sleep(ctx: TaskContext) -> dict[str, float]:
    """Sleeps ``{"seconds": x}`` without using the CPU."""
    seconds = _number(ctx.payload, "seconds", 1.0, 3600)
    ctx.log("sleeping", seconds=seconds)
    await asyncio.sleep(seconds)
    return {"slept": seconds}


@task("cpu")
def cpu(ctx: TaskContext) -> dict[str, int]:
    """Busy work for ``{"ms": n}`` milliseconds of wall time."""
    ms = _number(ctx.payload, "ms", 100, 600_000)
    deadline = time.perf_counter() + ms / 1000
    rounds = 0
    while time.perf_counter() < deadline:
        sum(i * i for i in range(1000))
        rounds += 1
    ctx.log("cpu done", rounds=rounds)
    return {"rounds": rounds}


@task("fail")
async def fail(ctx: TaskContext) -> dict[str, int]:
    """Fails the first ``{"times": n}`` attempts, then succeeds."""
    times = int(_number(ctx.payload, "times", 1, 1000))
    if ctx.attempt <= times:
        raise RuntimeError(f"planned failure {ctx.attempt} of {times}")
    return {"attempt": ctx.attempt}


@task("alloc")
def alloc(ctx: TaskContext) -> dict[str, float]:
    """Holds ``{"mb": n}`` MiB for ``{"seconds": s}``: enough of it provokes the OOM killer."""
    mb = int(_number(ctx.payload, "mb", 10, 65_536))
    seconds = _number(ctx.payload, "seconds", 1.0, 3600)
    block = bytearray(mb * MIB)
    for offset in range(0, len(block), 4096):  # touch every page so it is really resident
        block[offset] = 1
    ctx.log("holding memory", mb=mb)
    time.sleep(seconds)
    return {"mb": mb, "seconds": seconds}
