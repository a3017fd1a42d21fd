"""What the queue machine draws and drives: its strategies and its simulated workers."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from hypothesis import strategies as st

from cluster.models import JobSpec
from cluster.queue import ClaimedJob, Outcome
from tests.property.model import NewJob

QUEUES = ["default", "other"]
WORKER_NAMES = ["w0", 'w"1\\', "wörker-2", "w3 ✓"]
# a task's error text is an exception message: any code point, even a lone surrogate from bytes
# decoded with surrogateescape (file names, subprocess output)
ERROR_TEXT = st.lists(
    st.characters(exclude_categories=()) | st.sampled_from(["\udcff", "é", "\x00", '"']),
    max_size=12,
).map("".join)
JSON_LEAF = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=8)
PAYLOADS = st.dictionaries(
    st.text(max_size=6),
    st.recursive(
        JSON_LEAF | st.floats(allow_nan=False, allow_infinity=False),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
        max_leaves=6,
    ),
    max_size=3,
)
NEW_JOBS = st.builds(
    NewJob,
    queue=st.sampled_from(QUEUES),
    payload=PAYLOADS,
    priority=st.sampled_from([0, 0, -100, -1, 7, 100]),
    max_attempts=st.integers(1, 3),
    delay_ms=st.just(0) | st.just(0) | st.integers(1, 60) | st.integers(1_000, 1_100),
    idem=st.none() | st.sampled_from(["k0", "k1", "ключ-2"]),
)
TIMEOUTS = st.none() | st.floats(min_value=0, max_value=86_400, exclude_min=True)
PICK = st.integers(min_value=0, max_value=1_000)
LEASES = st.sampled_from([1, 5, 20, 100])
OUTCOMES = st.sampled_from(["succeeded", "failed", "timeout"])


@dataclass
class SimWorker:
    """A worker as the test drives it: what it believes it holds, and whether it is alive."""

    name: str
    incarnation: int = 0
    state: str = "alive"  # alive | frozen | crashed
    held: list[ClaimedJob] = field(default_factory=list)
    last_report: list[Outcome] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.name}#{self.incarnation}"


class Runner(Protocol):
    def run(self, coro: Awaitable[Any]) -> Any: ...


def in_loop(
    fn: Callable[..., Coroutine[Any, Any, None]],
) -> Callable[..., None]:
    """Turn an async rule body into a sync rule run on the machine's event loop."""

    @functools.wraps(fn)
    def wrapper(self: Runner, *args: Any, **kwargs: Any) -> None:
        self.run(fn(self, *args, **kwargs))

    return wrapper


def spec_of(new: NewJob, timeout_s: float | None) -> JobSpec:
    return JobSpec(
        type="echo",
        payload=new.payload,
        max_attempts=new.max_attempts,
        timeout_s=timeout_s,
        delay_s=new.delay_ms / 1000,
        queue=new.queue,
        priority=new.priority,
    )


def check_timeout(given: float | None, stored: float) -> None:
    """A timeout is stored to the nearest millisecond, and never as zero."""
    if given is not None:
        assert stored > 0, f"timeout_s={given!r} became {stored}"
        assert abs(stored - max(given, 0.001)) <= 0.0005 + 1e-9, f"{given!r} became {stored}"
