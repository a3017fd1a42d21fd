"""The autoscaler's rounds (``Autoscaler.step``) against a real Redis and a fake Docker fleet:
the backlog read from the queues drives clones and drains, the cooldown holds, draining
workers are neither counted nor picked again, idle workers go first."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
import redis

from cluster.autoscaler import Autoscaler, Rules
from cluster.dockerfleet import Member
from cluster.models import JobSpec
from cluster.presence import announce
from cluster.settings import Settings


class FakeFleet:
    """Members by number; ``drain`` blocks until released, like a worker finishing its job."""

    def __init__(self, count: int) -> None:
        self.members_: list[Member] = []
        self.added = 0
        self.drained: list[int] = []
        self.release = threading.Event()
        for _ in range(count):
            self.add()

    def members(self) -> list[Member]:
        return list(self.members_)

    def add(self) -> str:
        number = max((m.number for m in self.members_), default=0) + 1
        self.members_.append(
            Member(f"id{number}", f"p-worker-{number}", number, f"h{number}", None)
        )
        self.added += 1
        return f"p-worker-{number}"

    def drain(self, member: Member, timeout_s: int) -> None:
        self.release.wait(10)
        self.drained.append(member.number)
        self.members_.remove(member)


@pytest.fixture
def settings(redis_url: str) -> Settings:
    with redis.Redis.from_url(redis_url) as client:
        client.flushall()
    return Settings(redis_url=redis_url, queues=["default", "other"])


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_rounds_scale_up_hold_and_drain(settings: Settings) -> None:
    rules = Rules(min_workers=1, max_workers=4, target_jobs_per_worker=2, cooldown_s=0.3,
                  interval_s=0.1, project="p")  # fmt: skip
    fleet = FakeFleet(1)

    async def scenario() -> None:
        scaler = Autoscaler(settings, rules, fleet)  # type: ignore[arg-type]
        await scaler.queue.scripts.load(scaler.redis)
        first = await scaler.step()
        assert (first.action, first.current, first.desired) == ("hold", 1, 1)
        await scaler.queue.submit(
            [JobSpec(type="echo")] * 5 + [JobSpec(type="echo", queue="other")]
        )
        up = await scaler.step()
        assert (up.action, up.backlog, up.desired, fleet.added) == ("up", 6, 3, 3)
        # the backlog grows again, but the cooldown holds
        await scaler.queue.submit([JobSpec(type="echo")] * 10)
        held = await scaler.step()
        assert (held.action, held.desired) == ("hold", 4) and "cooldown" in held.reason
        await asyncio.sleep(0.35)
        assert (await scaler.step()).action == "up" and len(fleet.members_) == 4
        # the backlog is gone: drain down to one; h4 is busy (its heartbeat lists a job)
        await scaler.redis.flushall()
        await scaler.queue.scripts.load(scaler.redis)
        info = {"jobs": [{"id": "x", "attempt": 1, "type": "echo"}]}
        await announce(
            scaler.redis, scaler.queue.keys, "h4-1-abcd", scaler.queue.clock(), info, [], 5
        )
        await asyncio.sleep(0.35)
        down = await scaler.step()
        assert (down.action, down.current, down.desired) == ("down", 4, 1)
        assert len(scaler.draining) == 3
        await asyncio.sleep(0.35)
        during = await scaler.step()  # the three draining ones are not counted
        assert (during.action, during.current) == ("hold", 1)
        fleet.release.set()
        await asyncio.wait(list(scaler.draining.values()), timeout=5)
        assert not scaler.draining
        await scaler.redis.aclose()

    run(scenario())
    assert sorted(fleet.drained) == [1, 2, 3]  # the idle ones
    assert [m.number for m in fleet.members_] == [4]  # the busy worker stays
