"""TaskThreads (plain tasks' threads, reused) and the per-attempt deadline, in one process."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from cluster.worker.execute import AttemptTimedOut, _within
from cluster.worker.threads import TaskThreads


def test_threads_are_reused_once_idle() -> None:
    async def main() -> tuple[list[int], int]:
        threads = TaskThreads()
        names = [await threads.run(lambda _: threading.get_ident(), None) for _ in range(20)]
        return names, threads.started

    idents, started = asyncio.run(main())
    assert started == 1
    assert len(set(idents)) == 1


def test_a_stuck_call_never_delays_the_next_one() -> None:
    release = threading.Event()

    async def main() -> tuple[str, int]:
        threads = TaskThreads()
        stuck = threads.run(lambda _: release.wait(30), None)
        quick = await asyncio.wait_for(threads.run(lambda x: f"ran {x}", 7), timeout=10)
        release.set()
        await stuck
        return quick, threads.started

    quick, started = asyncio.run(main())
    assert quick == "ran 7"
    assert started == 2


def test_exceptions_reach_the_awaiting_coroutine_and_system_exit_is_contained() -> None:
    def boom(_: object) -> None:
        raise KeyError("inside")

    def leave(_: object) -> None:
        raise SystemExit(3)

    async def main() -> None:
        threads = TaskThreads()
        with pytest.raises(KeyError, match="inside"):
            await threads.run(boom, None)
        with pytest.raises(RuntimeError, match="task raised SystemExit: 3"):
            await threads.run(leave, None)
        assert await threads.run(lambda x: x * 2, 21) == 42  # the thread survived both

    asyncio.run(main())


def test_idle_threads_end_after_keep_idle_and_calls_still_run() -> None:
    async def main() -> tuple[int, int, int]:
        threads = TaskThreads(keep_idle_s=0.05)
        await threads.run(lambda _: None, None)
        deadline = time.monotonic() + 10
        while threads.idle and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        gone = threads.idle
        value = await threads.run(lambda x: x + 1, 1)
        return gone, value, threads.started

    gone, value, started = asyncio.run(main())
    assert gone == 0
    assert value == 2
    assert started == 2


def test_a_cancelled_call_settles_nothing_and_frees_its_thread() -> None:
    async def main() -> int:
        threads = TaskThreads()
        slow = threads.run(lambda _: time.sleep(0.2), None)
        slow.cancel()
        await asyncio.sleep(0.4)  # the call ends; its result finds the future cancelled
        assert threads.idle == 1
        return int(await threads.run(lambda x: x, 5))

    assert asyncio.run(main()) == 5


def test_deadline_expiry_is_a_timeout_and_other_errors_pass_through() -> None:
    async def sleeper() -> None:
        await asyncio.sleep(5)

    async def own_timeout() -> None:
        raise TimeoutError("the task's own")

    async def main() -> None:
        with pytest.raises(AttemptTimedOut):
            await _within(0.01, sleeper())
        with pytest.raises(TimeoutError, match="the task's own"):
            await _within(5, own_timeout())
        current = asyncio.current_task()
        assert current is not None and current.cancelling() == 0
        assert await _within(5, asyncio.sleep(0, "value")) == "value"

    asyncio.run(main())


def test_a_cancel_from_outside_is_not_taken_for_the_deadline() -> None:
    async def main() -> None:
        task = asyncio.create_task(_within(5, asyncio.sleep(5)))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def test_a_task_that_swallows_the_deadline_keeps_its_result() -> None:
    async def stubborn() -> str:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            return "swallowed"
        return "slept"

    async def main() -> None:
        assert await _within(0.01, stubborn()) == "swallowed"
        current = asyncio.current_task()
        assert current is not None and current.cancelling() == 0  # the cancel was taken back

    asyncio.run(main())
