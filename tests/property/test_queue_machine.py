"""Model-checks the queue protocol: the real ``JobQueue`` on a real Redis, driven by Hypothesis.

Several simulated workers share one process and a fake clock (leases of a few milliseconds, and
time moves only when a rule says so). Every operation's answer must equal the model's prediction
(``model.py``), and after every step Redis' structures must agree with the model
(``snapshot.py``). Time passing also expires terminal records, as Redis would. At the end
(``harness.py``) everything heals and every job must end terminal: nothing is lost; and once
every record has expired, maintenance must have forgotten them all: no set grows forever.
"""

from __future__ import annotations

from collections import Counter

import orjson
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import (
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from cluster.queue import ClaimedJob
from tests.property.budget import suite_settings
from tests.property.harness import RESULT_TTL_S, Harness
from tests.property.machine_support import (
    ERROR_TEXT,
    LEASES,
    NEW_JOBS,
    OUTCOMES,
    PICK,
    QUEUES,
    TIMEOUTS,
    check_timeout,
    in_loop,
    spec_of,
)
from tests.property.model import NewJob


class QueueMachine(Harness):
    """The rules: what workers, operators and time may do next."""

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
        specs = [spec_of(new, timeout) for new, timeout in batch]
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
        claimed = await self.queue.claim(worker.id, queues, count, lease)
        expected = self.model.claim(worker.id, queues, count, self.now, lease)
        assert [(c.id, c.attempt) for c in claimed] == expected
        for job in claimed:
            model_job = self.model.jobs[job.id]
            assert (job.type, job.queue) == ("echo", model_job.queue)
            assert orjson.loads(job.payload) == model_job.payload
            check_timeout(self.timeouts[job.id], job.timeout_s)
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

    @precondition(lambda self: any(j.attempts for j in self.model.jobs.values()))
    @rule(pick=PICK, which=PICK, outcome=st.sampled_from(["succeeded", "failed"]))
    @in_loop
    async def impostor(self, pick: int, which: int, outcome: str) -> None:
        """A worker reports a job it does not hold, with the job's latest attempt number."""
        worker = self.pick_worker(pick)
        job = self.model.jobs[self.pick_job(which)]
        if job.attempts == 0 or self.model.holds(worker.id, job.id, job.attempts):
            return
        forged = ClaimedJob(job.id, job.queue, job.attempts, "echo", "{}", 1.0)
        states = await self.queue.finish(worker.id, [self.outcome(forged, outcome, "x", 0)])
        expected = self.model.finish(worker.id, job.id, job.attempts, outcome, "x", 0)
        assert states == {job.id: expected} and expected in ("stale", "duplicate", "missing")

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
        worker = [w for w in self.workers if w.state != "alive"][
            pick % (len(self.workers) - self.alive())
        ]
        if worker.state == "crashed":
            worker.incarnation += 1
        worker.state = "alive"
        if report_now and worker.held:
            await self.report(worker, [self.outcome(j, "succeeded", "", 0) for j in worker.held])

    # --- time and maintenance --------------------------------------------------------------
    @rule(ms=st.sampled_from([1, 3, 20, 5_000, RESULT_TTL_S * 1000]))
    @in_loop
    async def advance(self, ms: int) -> None:
        await self.pass_time(ms)

    @precondition(lambda self: bool(self.holders()))
    @rule(pick=PICK)
    @in_loop
    async def stall(self, pick: int) -> None:
        """A worker is slow (a long GC pause): time passes beyond every lease it holds and the
        fleet's maintenance runs; the worker itself carries on as if nothing happened."""
        worker = self.holders()[pick % len(self.holders())]
        leases = [self.model.jobs[j.id].lease_expires for j in worker.held]
        await self.pass_time(max(0, *(t - self.now for t in leases)) + 1)
        for queue in QUEUES:
            await self.do_maintain(queue)

    @rule(queue=st.sampled_from(QUEUES))
    @in_loop
    async def maintain(self, queue: str) -> None:
        await self.do_maintain(queue)

    # --- operator actions ------------------------------------------------------------------
    @rule(pick=PICK)
    @in_loop
    async def cancel(self, pick: int) -> None:
        job_id = self.pick_job(pick)
        assert await self.queue.cancel(job_id) == self.model.cancel(job_id)

    @rule(pick=PICK)
    @in_loop
    async def retry(self, pick: int) -> None:
        job_id = self.pick_job(pick)
        ok, status = await self.queue.retry(job_id)
        assert (ok, status) == self.model.retry(job_id)
        if ok:
            self.watch.retried.add(job_id)

    # --- invariants ------------------------------------------------------------------------
    @invariant()
    @in_loop
    async def structures_agree(self) -> None:
        await self.check_structures()


@pytest.mark.timeout(3_600)  # the thorough profile, or shrinking several distinct failures
def test_queue_protocol_state_machine(redis_url: str) -> None:
    QueueMachine.redis_url = redis_url
    run_state_machine_as_test(QueueMachine, settings=suite_settings())
