"""Model-checks the queue protocol: the real ``JobQueue`` on a real Redis, driven by Hypothesis.

Several simulated workers share one process and a fake clock (leases of a few milliseconds, and
time moves only when a rule says so). Every operation's answer must equal the model's prediction
(``model.py``), and after every step Redis' structures must agree with the model
(``snapshot.py``). At the end everything heals and every job must end terminal: nothing is lost.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from redis.asyncio import Redis

from cluster.keys import TERMINAL
from cluster.models import JobSpec
from cluster.queue import ClaimedJob, JobQueue, Outcome
from tests.property import snapshot
from tests.property.model import Model, NewJob

R = TypeVar("R")
QUEUES = ["default", "other"]
WORKER_NAMES = ["w0", 'w"1\\', "wörker-2", "w3 ✓"]
START_MS = 1_700_000_000_000
PREFIXES = itertools.count()
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


def in_loop(
    fn: Callable[..., Coroutine[Any, Any, None]],
) -> Callable[..., None]:
    """Turn an async rule body into a sync rule run on the machine's event loop."""

    @functools.wraps(fn)
    def wrapper(self: QueueMachine, *args: Any, **kwargs: Any) -> None:
        self.run(fn(self, *args, **kwargs))

    return wrapper


class QueueMachine(RuleBasedStateMachine):
    redis_url = ""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.broken = False
        self.now = START_MS
        self.redis = Redis.from_url(self.redis_url, decode_responses=True)
        self.queue = JobQueue(self.redis, prefix=f"pm{next(PREFIXES)}", clock=lambda: self.now)
        self.model = Model()
        self.workers = [SimWorker(name) for name in WORKER_NAMES]
        self.timeouts: dict[str, float | None] = {}
        self.seen_attempts: dict[str, int] = {}
        self.seen_status: dict[str, str] = {}
        self.retried: set[str] = set()
        self.run(self.redis.flushdb())

    def run(self, coro: Coroutine[Any, Any, R]) -> R:
        try:
            return self.loop.run_until_complete(coro)
        except BaseException:
            self.broken = True
            raise

    # --- helpers ---------------------------------------------------------------------------
    def pick_worker(self, pick: int, state: str = "alive") -> SimWorker | None:
        found = [w for w in self.workers if w.state == state]
        return found[pick % len(found)] if found else None

    def pick_job(self, pick: int) -> str:
        ids = list(self.model.jobs)
        return ids[pick % len(ids)]

    def holders(self) -> list[SimWorker]:
        """Live workers that hold jobs (or believe they do)."""
        return [w for w in self.workers if w.state == "alive" and w.held]

    def alive(self) -> int:
        return sum(w.state == "alive" for w in self.workers)

    def has(self, state: str) -> bool:
        return any(w.state == state for w in self.workers)

    async def report(self, worker: SimWorker, outcomes: list[Outcome]) -> None:
        """A worker reports finished attempts; the answers must be the model's."""
        states = await self.queue.finish(worker.id, outcomes)
        expected: dict[str, str] = {}
        for o in sorted(outcomes, key=lambda o: QUEUES.index(o.job.queue)):
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

    # --- submission ------------------------------------------------------------------------
    @initialize(batch=st.lists(st.tuples(NEW_JOBS, TIMEOUTS), min_size=1, max_size=6))
    @in_loop
    async def first_jobs(self, batch: list[tuple[NewJob, float | None]]) -> None:
        await self.do_submit(batch)
        missing = "f" * 32  # and nothing answers for a job that does not exist
        assert await self.queue.cancel(missing) == (False, "")
        assert await self.queue.retry(missing) == (False, "")
        assert await self.queue.get(missing) is None

    @rule(batch=st.lists(st.tuples(NEW_JOBS, TIMEOUTS), min_size=1, max_size=3))
    @in_loop
    async def submit(self, batch: list[tuple[NewJob, float | None]]) -> None:
        await self.do_submit(batch)

    async def do_submit(self, batch: list[tuple[NewJob, float | None]]) -> None:
        specs = [
            JobSpec(
                type="echo",
                payload=new.payload,
                max_attempts=new.max_attempts,
                timeout_s=timeout,
                delay_s=new.delay_ms / 1000,
                queue=new.queue,
                priority=new.priority,
            )
            for new, timeout in batch
        ]
        got = await self.queue.submit(specs, [new.idem for new, _ in batch])
        assert len(got) == len(batch)
        news = [new for new, _ in batch]
        for index in self.model.submit_order(news):
            result = got[index]
            if result.created:
                assert result.id not in self.model.jobs, "a job id was handed out twice"
                self.timeouts[result.id] = batch[index][1]
            expected = self.model.submit_one(news[index], result.id, self.now)
            assert (result.id, result.created, result.status) == expected

    # --- the worker's side -----------------------------------------------------------------
    @precondition(lambda self: self.has("alive"))
    @rule(
        pick=PICK,
        queues=st.sampled_from([QUEUES, QUEUES[::-1], QUEUES[:1], QUEUES[1:]]),
        count=st.integers(1, 3),
        lease=LEASES,
        then=st.none() | OUTCOMES,
    )
    @in_loop
    async def claim(
        self, pick: int, queues: list[str], count: int, lease: int, then: str | None
    ) -> None:
        """Take jobs; with ``then``, they run at once (a fast task) and are reported so."""
        worker = self.pick_worker(pick)
        assert worker is not None
        claimed = await self.queue.claim(worker.id, queues, count, lease)
        expected = self.model.claim(worker.id, queues, count, self.now, lease)
        assert [(c.id, c.attempt) for c in claimed] == expected
        for job in claimed:
            model_job = self.model.jobs[job.id]
            assert (job.type, job.queue) == ("echo", model_job.queue)
            assert orjson.loads(job.payload) == model_job.payload
            timeout = self.timeouts[job.id]
            if timeout is not None:  # stored to the nearest millisecond, never as zero
                assert job.timeout_s > 0, f"timeout_s={timeout!r} became {job.timeout_s}"
                near = abs(job.timeout_s - max(timeout, 0.001)) <= 0.0005 + 1e-9
                assert near, f"timeout_s={timeout!r} became {job.timeout_s}"
        worker.held += claimed
        if then is not None and claimed:
            await self.report(worker, [self.outcome(j, then, "boom", 5) for j in claimed])

    @precondition(lambda self: bool(self.holders()))
    @rule(pick=PICK, lease=LEASES)
    @in_loop
    async def renew(self, pick: int, lease: int) -> None:
        worker = self.holders()[pick % len(self.holders())]
        lost = await self.queue.renew(worker.id, worker.held, lease)
        held = [(j.id, j.attempt) for j in worker.held]
        assert Counter(lost) == Counter(self.model.renew(worker.id, held, self.now, lease))

    @precondition(lambda self: bool(self.holders()))
    @rule(
        pick=PICK,
        which=PICK,
        every=st.booleans(),
        outcome=OUTCOMES,
        error=ERROR_TEXT,
        retry_in=st.sampled_from([0, 3, 50]),
    )
    @in_loop
    async def finish(
        self, pick: int, which: int, every: bool, outcome: str, error: str, retry_in: int
    ) -> None:
        worker = self.holders()[pick % len(self.holders())]
        jobs = worker.held if every else [worker.held[which % len(worker.held)]]
        await self.report(worker, [self.outcome(j, outcome, error, retry_in) for j in jobs])

    @precondition(lambda self: any(w.last_report for w in self.workers if w.state == "alive"))
    @rule(pick=PICK)
    @in_loop
    async def report_again(self, pick: int) -> None:
        """A repeated report (a retried network call) is recognised and changes nothing."""
        reporters = [w for w in self.workers if w.state == "alive" and w.last_report]
        worker = reporters[pick % len(reporters)]
        await self.report(worker, worker.last_report)

    @precondition(
        lambda self: self.has("alive") and any(j.attempts for j in self.model.jobs.values())
    )
    @rule(pick=PICK, which=PICK, outcome=st.sampled_from(["succeeded", "failed"]))
    @in_loop
    async def impostor(self, pick: int, which: int, outcome: str) -> None:
        """A worker reports a job it does not hold, with the job's latest attempt number."""
        worker = self.pick_worker(pick)
        assert worker is not None
        job = self.model.jobs[self.pick_job(which)]
        if job.attempts == 0 or self.model.holds(worker.id, job.id, job.attempts):
            return
        forged = ClaimedJob(job.id, job.queue, job.attempts, "echo", "{}", 1.0)
        states = await self.queue.finish(worker.id, [self.outcome(forged, outcome, "x", 0)])
        expected = self.model.finish(worker.id, job.id, job.attempts, outcome, "x", 0)
        assert states == {job.id: expected} and expected in ("stale", "duplicate")

    @precondition(lambda self: bool(self.holders()))
    @rule(pick=PICK, which=PICK, every=st.booleans())
    @in_loop
    async def release(self, pick: int, which: int, every: bool) -> None:
        worker = self.holders()[pick % len(self.holders())]
        jobs = worker.held if every else [worker.held[which % len(worker.held)]]
        back = await self.queue.release(worker.id, jobs)
        expected = self.model.release(worker.id, [(j.id, j.attempt) for j in jobs])
        assert Counter(back) == Counter(expected)
        worker.held = [j for j in worker.held if j not in jobs]

    # --- faults ----------------------------------------------------------------------------
    @precondition(lambda self: self.alive() >= 2)
    @rule(pick=PICK, kind=st.sampled_from(["crash", "freeze"]))
    def fault(self, pick: int, kind: str) -> None:
        """A worker crashes (it vanishes holding its jobs and never calls anything again) or
        freezes (a GC pause, a stopped container: no renewals, no reports until it wakes).
        One worker always stays alive, so the fleet can make progress."""
        worker = self.pick_worker(pick)
        assert worker is not None
        if kind == "crash":
            worker.state, worker.held, worker.last_report = "crashed", [], []
        else:
            worker.state = "frozen"

    @precondition(lambda self: self.alive() < len(self.workers))
    @rule(pick=PICK, report_now=st.booleans())
    @in_loop
    async def recover(self, pick: int, report_now: bool) -> None:
        """A crashed worker is replaced by a new process under a new id; a frozen one wakes
        and (with ``report_now``) reports what it was running, fenced if it lost the lease."""
        worker = [w for w in self.workers if w.state != "alive"][pick % (len(self.workers) - self.alive())]
        if worker.state == "crashed":
            worker.incarnation += 1
        worker.state = "alive"
        if report_now and worker.held:
            await self.report(worker, [self.outcome(j, "succeeded", "", 0) for j in worker.held])

    # --- time and maintenance --------------------------------------------------------------
    @rule(ms=st.sampled_from([1, 3, 20, 5_000]))
    def advance(self, ms: int) -> None:
        self.now += ms

    @precondition(lambda self: bool(self.holders()))
    @rule(pick=PICK)
    @in_loop
    async def stall(self, pick: int) -> None:
        """A worker is slow (a long GC pause): time passes beyond every lease it holds and the
        fleet's maintenance runs; the worker itself carries on as if nothing happened."""
        worker = self.holders()[pick % len(self.holders())]
        leases = [self.model.jobs[j.id].lease_expires for j in worker.held]
        self.now = max(self.now, *leases) + 1
        for queue in QUEUES:
            await self.do_maintain(queue)

    @rule(queue=st.sampled_from(QUEUES))
    @in_loop
    async def maintain(self, queue: str) -> None:
        await self.do_maintain(queue)

    async def do_maintain(self, queue: str) -> None:
        got = await self.queue.maintain(queue)
        expected = self.model.maintain(queue, self.now)
        assert (got.promoted, got.reclaimed, got.failed, got.ids) == expected
        if got.reclaimed or got.failed:
            event("maintain reclaimed a lapsed lease")

    # --- operator actions ------------------------------------------------------------------
    @precondition(lambda self: bool(self.model.jobs))
    @rule(pick=PICK)
    @in_loop
    async def cancel(self, pick: int) -> None:
        job_id = self.pick_job(pick)
        assert await self.queue.cancel(job_id) == self.model.cancel(job_id)

    @precondition(lambda self: bool(self.model.jobs))
    @rule(pick=PICK)
    @in_loop
    async def retry(self, pick: int) -> None:
        job_id = self.pick_job(pick)
        ok, status = await self.queue.retry(job_id)
        assert (ok, status) == self.model.retry(job_id)
        if ok:
            self.retried.add(job_id)

    # --- invariants ------------------------------------------------------------------------
    @invariant()
    @in_loop
    async def structures_agree(self) -> None:
        await self.check_structures()

    async def check_structures(self) -> None:
        ids = list(self.model.jobs)
        snap = await snapshot.take(self.redis, self.queue.keys, QUEUES, ids)
        snapshot.check(snap, self.model, self.queue.keys)
        for job in self.model.jobs.values():
            before = self.seen_attempts.get(job.id, 0)
            assert job.attempts >= before, f"attempts of {job.id} went {before}->{job.attempts}"
            was = self.seen_status.get(job.id)
            if was in TERMINAL and job.id not in self.retried:
                assert job.status == was, f"terminal {job.id} moved {was}->{job.status}"
            self.seen_attempts[job.id], self.seen_status[job.id] = job.attempts, job.status
        self.retried.clear()

    # --- the end ---------------------------------------------------------------------------
    def teardown(self) -> None:
        try:
            if not self.broken:
                self.run(self.heal())
        finally:
            self.loop.run_until_complete(self.redis.aclose())
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    async def heal(self) -> None:
        """Everyone comes back, time passes, and every job must reach a terminal state."""
        for worker in self.workers:
            if worker.state == "frozen":
                worker.state = "alive"
                if worker.held:
                    outcomes = [self.outcome(j, "succeeded", "", 0) for j in worker.held]
                    await self.report(worker, outcomes)
            elif worker.state == "crashed":
                worker.incarnation += 1
                worker.state = "alive"
        healer = self.workers[0]
        for _ in range(4 * len(self.model.jobs) + 4):
            if not self.model.unfinished():
                break
            self.now += 1_000_000
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
            record = await self.queue.get(job.id)
            assert record is not None and record.status == job.status
            wins = [a for a in record.history if a.outcome == "succeeded"]
            assert len(wins) == (job.status == "succeeded"), f"{job.id}: {record.history}"
            if job.status == "failed":
                assert job.attempts - job.base == job.max_attempts, "failed with budget left"


def test_queue_protocol_state_machine(redis_url: str) -> None:
    QueueMachine.redis_url = redis_url
    run_state_machine_as_test(QueueMachine)
