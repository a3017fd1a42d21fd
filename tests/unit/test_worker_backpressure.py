"""A worker whose outcomes cannot be recorded stops claiming instead of piling them up."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from cluster.models import JobSpec
from cluster.queue import Outcome
from cluster.settings import Settings
from cluster.tasks import load_registry
from cluster.worker.runtime import Worker


def test_claims_stop_at_the_held_bound_while_recording_is_stuck(
    redis_url: str, flush: None, tmp_path: Path
) -> None:
    asyncio.run(_stuck_recording(redis_url, tmp_path))


async def _stuck_recording(redis_url: str, tmp_path: Path) -> None:
    settings = Settings(redis_url=redis_url, log_dir=tmp_path, key_prefix="bp", concurrency=2)
    worker = Worker(settings, load_registry(None))
    bound = worker._max_held
    unstuck = asyncio.Event()
    real_finish = worker.queue.finish

    async def stuck_finish(wid: str, outcomes: Sequence[Outcome]) -> dict[str, str]:
        await unstuck.wait()  # Redis "hangs" for finish; claims still work
        return await real_finish(wid, outcomes)

    worker.queue.finish = stuck_finish  # type: ignore[method-assign,assignment]
    submitted = await worker.queue.submit([JobSpec(type="echo")] * (bound * 3))
    running = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(10):
            while len(worker.held) + worker.recording < bound:
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.5)  # time enough to claim more, were it allowed
        assert len(worker.held) + worker.recording == bound
        assert worker.recording > 0  # some are in the stuck finish call
        records = await worker.queue.get_many([s.id for s in submitted])
        statuses = [r.status if r else "gone" for r in records]
        assert statuses.count("running") == bound
        assert statuses.count("queued") == bound * 2
        unstuck.set()  # recording resumes: everything drains
        async with asyncio.timeout(20):
            while worker.completed < bound * 3:
                await asyncio.sleep(0.05)
        records = await worker.queue.get_many([s.id for s in submitted])
        assert {r.status for r in records if r is not None} == {"succeeded"}
    finally:
        unstuck.set()
        worker.stop()
        async with asyncio.timeout(15):
            assert await running == 0
