"""The queue machine's harness: its event loop, fake clock, simulated workers and model, the
checks every step ends with, and the ending (heal, then forget) every example goes through.
The rules themselves are in ``test_queue_machine.py``."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable
from typing import TypeVar

import orjson
from hypothesis import event
from hypothesis.stateful import RuleBasedStateMachine
from redis.asyncio import Redis

from cluster.queue import ClaimedJob, JobQueue, Outcome
from tests.property import snapshot
from tests.property.machine_support import QUEUES, WORKER_NAMES, SimWorker
from tests.property.model import Model

R = TypeVar("R")
START_MS = 1_700_000_000_000
RESULT_TTL_S = 3_600  # a terminal record's lifetime: an hour of the fake clock (see pass_time)
PRUNE_BATCH = 20  # index entries maintain.lua looks at per call
PREFIXES = itertools.count()


class Harness(RuleBasedStateMachine):
    redis_url = ""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.broken = False
        self.model = Model(now=START_MS, ttl_ms=RESULT_TTL_S * 1000)
        self.redis = Redis.from_url(self.redis_url, decode_responses=True)
        prefix = f"pm{next(PREFIXES)}"
        clock = self.clock
        self.queue = JobQueue(self.redis, prefix=prefix, result_ttl_s=RESULT_TTL_S, clock=clock)
        self.workers = [SimWorker(name) for name in WORKER_NAMES]
        self.timeouts: dict[str, float | None] = {}
        self.watch = snapshot.Watch()
        self.run(self.redis.flushdb())

    def run(self, coro: Awaitable[R]) -> R:
        try:
            return self.loop.run_until_complete(coro)
        except BaseException:
            self.broken = True
            raise

    # --- helpers ---------------------------------------------------------------------------
    @property
    def now(self) -> int:
        return self.model.now

    def clock(self) -> int:
        return self.model.now

    async def pass_time(self, ms: int) -> None:
        """The clock moves on; terminal records whose lifetime is over expire. (Redis expires
        them by its own clock, an hour of real time away: the test deletes them itself.)"""
        self.model.now += ms
        for job_id in self.model.expire():
            await self.redis.delete(self.queue.keys.job(job_id))

    def pick_worker(self, pick: int) -> SimWorker:
        """An alive worker (one always is: faults spare the last one)."""
        found = [w for w in self.workers if w.state == "alive"]
        return found[pick % len(found)]

    def pick_job(self, pick: int) -> str:
        ids = list(self.model.jobs)
        return ids[pick % len(ids)]

    def holders(self) -> list[SimWorker]:
        """Live workers that hold jobs (or believe they do)."""
        return [w for w in self.workers if w.state == "alive" and w.held]

    def alive(self) -> int:
        return sum(w.state == "alive" for w in self.workers)

    async def report(self, worker: SimWorker, outcomes: list[Outcome]) -> None:
        """A worker reports finished attempts; the answers must be the model's."""
        states = await self.queue.finish(worker.id, outcomes)
        expected: dict[str, str] = {}
        for o in outcomes:  # grouped by queue in Redis, but jobs of two queues never interact
            shown = o.value.encode("utf-8", "backslashreplace").decode()  # lone surrogates
            expected[o.job.id] = self.model.finish(
                worker.id, o.job.id, o.job.attempt, o.outcome, shown, o.retry_at_ms
            )
        assert states == expected
        for state in states.values():
            event(f"finish -> {state}")
        worker.held = [j for j in worker.held if j not in {o.job for o in outcomes}]
        worker.last_report = outcomes

    def outcome(self, job: ClaimedJob, outcome: str, error: str, retry_in: int) -> Outcome:
        value = error if outcome != "succeeded" else orjson.dumps([job.attempt, "ok"]).decode()
        return Outcome(job, outcome, value, self.now - 1, self.now, self.now + retry_in)

    async def do_maintain(self, queue: str) -> None:
        got = await self.queue.maintain(queue)
        expected = self.model.maintain(queue, self.now)
        assert (got.promoted, got.reclaimed, got.failed, got.ids) == expected
        if got.reclaimed or got.failed:
            event("maintain reclaimed a lapsed lease")

    async def check_structures(self) -> None:
        ids = list(self.model.jobs)
        snap = await snapshot.take(self.redis, self.queue.keys, QUEUES, ids)
        snapshot.check(snap, self.model, self.queue.keys)
        self.watch.step(self.model)

    # --- the end ---------------------------------------------------------------------------
    def teardown(self) -> None:
        try:
            if not self.broken:
                self.run(self.forget())
                self.run(self.heal())
                self.run(self.forget())
        finally:
            self.loop.run_until_complete(self.redis.aclose())
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    async def forget(self) -> None:
        """A record's lifetime later every terminal record has expired, and maintenance must
        forget them all, however old the jobs still waiting (a long delay, a queue nobody
        serves). No set grows forever. (Maintenance first ends the lapsed leases it finds,
        and those fresh dead letters need a lifetime of their own to expire.)"""
        for _ in range(2):
            await self.pass_time(self.model.ttl_ms)
            for queue in QUEUES:
                await self.do_maintain(queue)
        for _ in range(len(self.model.jobs) // PRUNE_BATCH + 2):
            for queue in QUEUES:
                await self.do_maintain(queue)
        snap = await snapshot.take(self.redis, self.queue.keys, QUEUES, list(self.model.jobs))
        snapshot.check(snap, self.model, self.queue.keys)
        assert not snapshot.leftovers(snap, self.model), "expired jobs still listed"

    async def wake_everyone(self) -> None:
        """Frozen workers wake and report what they held; crashed ones are replaced."""
        for worker in self.workers:
            if worker.state == "frozen" and worker.held:
                await self.report(
                    worker, [self.outcome(j, "succeeded", "", 0) for j in worker.held]
                )
            elif worker.state == "crashed":
                worker.incarnation += 1
            worker.state = "alive"

    async def heal(self) -> None:
        """Everyone comes back, time passes, and every job must reach a terminal state."""
        await self.wake_everyone()
        healer = self.workers[0]
        for _ in range(4 * len(self.model.jobs) + 4):
            if not self.model.unfinished():
                break
            await self.pass_time(60_000)
            for queue in QUEUES:
                await self.do_maintain(queue)
            claimed = await self.queue.claim(healer.id, QUEUES, 1_000, 1_000)
            expected = self.model.claim(healer.id, QUEUES, 1_000, self.now, 1_000)
            assert [(c.id, c.attempt) for c in claimed] == expected
            healer.held += claimed
            await self.report(healer, [self.outcome(j, "succeeded", "", 0) for j in claimed])
            await self.check_structures()
        lost = self.model.unfinished()
        assert not lost, f"jobs never finished: {[(j.id, j.status) for j in lost]}"
        for job in self.model.jobs.values():
            snapshot.check_ending(job, await self.queue.get(job.id))
