"""Read every job structure straight from Redis (by the ``Keys`` names) and hold it to the model.

``take`` reads one consistent-enough picture in one pipeline (the test is the only client);
``check`` asserts that the structures agree with each other and with the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from redis.asyncio import Redis

from cluster.keys import INDEXED, STATUSES, TERMINAL, Keys
from cluster.models import JobRecord
from cluster.queue import SIGNAL_CAP
from tests.property.model import MJob, Model

STRUCTURES = ("ready", "scheduled", "leases", "dead")
HOLDS = {"ready": "queued", "scheduled": "scheduled", "leases": "running"}


@dataclass
class Snapshot:
    records: dict[str, dict[str, str]]
    zsets: dict[tuple[str, str], dict[str, float]]  # (queue, structure) -> members
    index: dict[str, dict[str, float]]  # status -> members
    index_all: dict[str, float]
    signals: dict[str, int]
    job_keys: set[str]


async def take(redis: Redis, keys: Keys, queues: list[str], ids: list[str]) -> Snapshot:
    async with redis.pipeline(transaction=True) as pipe:
        for job_id in ids:
            pipe.hgetall(keys.job(job_id))
        for queue in queues:
            q = keys.queue(queue)
            for name in STRUCTURES:
                pipe.zrange(getattr(q, name), 0, -1, withscores=True)
            pipe.llen(q.signal)
        for status in STATUSES:  # queued and running have no index: those must stay empty
            pipe.zrange(keys.index(status), 0, -1, withscores=True)
        pipe.zrange(keys.index_all, 0, -1, withscores=True)
        pipe.keys(keys.job("*"))
        rows: list[Any] = await pipe.execute()
    records = dict(zip(ids, rows[: len(ids)], strict=True))
    rest = iter(rows[len(ids) :])
    zsets: dict[tuple[str, str], dict[str, float]] = {}
    signals: dict[str, int] = {}
    for queue in queues:
        for name in STRUCTURES:
            zsets[queue, name] = dict(next(rest))
        signals[queue] = next(rest)
    index = {status: dict(next(rest)) for status in STATUSES}
    index_all = dict(next(rest))
    job_keys = set(next(rest))
    return Snapshot(records, zsets, index, index_all, signals, job_keys)


def check(snap: Snapshot, model: Model, keys: Keys) -> None:
    """Every structure agrees with the model, hence with each other. A job whose record has
    expired may linger in its last status index, idx:all and (until forgotten) the dead
    letters, and nowhere else."""
    known = set(model.jobs)
    live = {j.id for j in model.jobs.values() if not j.gone}
    assert snap.job_keys == {keys.job(i) for i in live}, "job records appeared or vanished"
    assert live <= set(snap.index_all) <= known, "idx:all lost a job or invented one"
    for (queue, name), members in snap.zsets.items():
        assert set(members) <= known, f"{queue}:{name} holds an unknown id"
    for status, members in snap.index.items():
        assert set(members) <= known, f"idx:{status} holds an unknown id"
    for queue, length in snap.signals.items():
        assert length <= SIGNAL_CAP, f"signal list of {queue} grew to {length}"
    for job in model.jobs.values():
        if job.gone:
            _check_membership(snap, job, f"expired job {job.id[:8]} ({job.status})")
        else:
            check_job(snap, job)


def check_job(snap: Snapshot, job: MJob) -> None:
    rec = snap.records[job.id]
    where = f"job {job.id[:8]} (model: {job.status}, attempt {job.attempts})"
    assert rec.get("status") == job.status, f"{where}: Redis says {rec.get('status')}"
    assert int(rec["attempts"]) == job.attempts, f"{where}: attempts {rec['attempts']}"
    assert int(rec["base"]) == job.base, f"{where}: base {rec['base']} != {job.base}"
    assert job.attempts - job.base <= job.max_attempts, f"{where}: over its attempt budget"
    assert int(rec["seq"]) == job.seq and int(float(rec["score"])) == job.score, where
    _check_membership(snap, job, where)
    _check_lease(rec, job, where)
    _check_attempts(rec, job, where)
    decoded = JobRecord.from_hash(rec)
    assert decoded.payload == job.payload, f"{where}: payload changed"
    assert [a.attempt for a in decoded.history] == list(range(1, job.attempts + 1)), where
    if job.status == "succeeded":
        assert "error" not in rec and "result" in rec, f"{where}: success without a result"
    if job.status == "failed" and job.error is not None:
        assert rec.get("error") == job.error, f"{where}: error text {rec.get('error')!r}"


def _check_membership(snap: Snapshot, job: MJob, where: str) -> None:
    for (queue, name), members in snap.zsets.items():
        listed = job.dead_listed if name == "dead" else HOLDS[name] == job.status
        assert (job.id in members) == (queue == job.queue and listed), f"{where}: {queue}:{name}"
    in_index = [s for s, members in snap.index.items() if job.id in members]
    if job.gone:  # forgotten, or not yet
        assert in_index in ([], [job.status]), f"{where}: status indexes {in_index}"
        return
    q = job.queue
    if job.status == "queued":
        assert snap.zsets[q, "ready"][job.id] == job.score, f"{where}: ready score"
    if job.status == "scheduled":
        assert snap.zsets[q, "scheduled"][job.id] == job.run_at, f"{where}: run-at"
    if job.status == "running":
        assert snap.zsets[q, "leases"][job.id] == job.lease_expires, f"{where}: lease expiry"
    if job.status not in INDEXED:  # listed from its ready or lease set instead
        assert in_index == [], f"{where}: status indexes {in_index}"
    else:
        assert in_index == [job.status], f"{where}: status indexes {in_index}"
        assert snap.index[job.status][job.id] == job.seq, f"{where}: index score"
    assert snap.index_all[job.id] == job.seq, f"{where}: idx:all score"
    assert not (job.status in TERMINAL and job.id in snap.zsets[q, "leases"]), where


def _check_lease(rec: dict[str, str], job: MJob, where: str) -> None:
    if job.status == "running":
        assert job.holder is not None
        assert rec.get("worker") == job.holder[0], f"{where}: held by {rec.get('worker')!r}"
        assert int(rec["lease_expires_at"]) == job.lease_expires, f"{where}: lease field"
    else:
        assert "lease_expires_at" not in rec, f"{where}: a lease outside running"


def _check_attempts(rec: dict[str, str], job: MJob, where: str) -> None:
    numbers = sorted(int(k[4:]) for k in rec if k.startswith("att:"))
    assert numbers == list(range(1, job.attempts + 1)), f"{where}: attempt records {numbers}"
    for number in numbers:
        data = orjson.loads(rec[f"att:{number}"])
        outcome = data.get("outcome")
        assert outcome == job.outcomes[number], (
            f"{where}: attempt {number} recorded {outcome!r}, model {job.outcomes[number]!r}"
        )
        assert data.get("attempt") == number, f"{where}: attempt record {number} misnumbered"


@dataclass
class Watch:
    """What must hold from one step to the next: ``attempts`` never decreases, and a terminal
    status never changes except by an explicit retry (the machine notes those in ``retried``)."""

    attempts: dict[str, int] = field(default_factory=dict)
    status: dict[str, str] = field(default_factory=dict)
    retried: set[str] = field(default_factory=set)

    def step(self, model: Model) -> None:
        for job in model.jobs.values():
            before = self.attempts.get(job.id, 0)
            assert job.attempts >= before, f"attempts of {job.id} went {before}->{job.attempts}"
            was = self.status.get(job.id)
            if was in TERMINAL and job.id not in self.retried:
                assert job.status == was, f"terminal {job.id} moved {was}->{job.status}"
            self.attempts[job.id], self.status[job.id] = job.attempts, job.status
        self.retried.clear()


def leftovers(snap: Snapshot, model: Model) -> dict[str, list[str]]:
    """Where ids of expired records are still listed (maintenance should forget them)."""
    gone = {j.id for j in model.jobs.values() if j.gone}
    found = {f"idx:{s}": sorted(gone & set(m)) for s, m in snap.index.items()}
    found["idx:all"] = sorted(gone & set(snap.index_all))
    for (queue, name), members in snap.zsets.items():
        found[f"{queue}:{name}"] = sorted(gone & set(members))
    return {where: ids for where, ids in found.items() if ids}


def check_ending(job: MJob, record: JobRecord | None) -> None:
    """After healing: the record is there unless expired, and it ended as the model says; a
    succeeded job has exactly one accepted success, a failed one used up its budget."""
    assert (record is None) == job.gone, f"{job.id}: record {'kept' if record else 'lost'}"
    if record is not None:
        assert record.status == job.status
        wins = [a for a in record.history if a.outcome == "succeeded"]
        assert len(wins) == (job.status == "succeeded"), f"{job.id}: {record.history}"
    if job.status == "failed":
        assert job.attempts - job.base == job.max_attempts, f"{job.id}: failed with budget left"
