"""Read every job structure straight from Redis (by the ``Keys`` names) and hold it to the model.

``take`` reads one consistent-enough picture in one pipeline (the test is the only client);
``check`` asserts that the structures agree with each other and with the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis

from cluster.keys import STATUSES, TERMINAL, Keys
from cluster.models import JobRecord
from cluster.queue import SIGNAL_CAP
from tests.property.model import MJob, Model

STRUCTURES = ("ready", "scheduled", "leases", "dead")
HOLDS = {"ready": "queued", "scheduled": "scheduled", "leases": "running", "dead": "failed"}


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
        for status in STATUSES:
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
    """Every structure agrees with the model, hence with each other."""
    known = set(model.jobs)
    assert snap.job_keys == {keys.job(i) for i in known}, "job records appeared or vanished"
    assert set(snap.index_all) == known, "idx:all is not the set of submitted jobs"
    for (queue, name), members in snap.zsets.items():
        assert set(members) <= known, f"{queue}:{name} holds an unknown id"
    for status, members in snap.index.items():
        assert set(members) <= known, f"idx:{status} holds an unknown id"
    for queue, length in snap.signals.items():
        assert length <= SIGNAL_CAP, f"signal list of {queue} grew to {length}"
    for job in model.jobs.values():
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
        expected = queue == job.queue and HOLDS[name] == job.status
        assert (job.id in members) == expected, f"{where}: {queue}:{name} membership"
    q = job.queue
    if job.status == "queued":
        assert snap.zsets[q, "ready"][job.id] == job.score, f"{where}: ready score"
    if job.status == "scheduled":
        assert snap.zsets[q, "scheduled"][job.id] == job.run_at, f"{where}: run-at"
    if job.status == "running":
        assert snap.zsets[q, "leases"][job.id] == job.lease_expires, f"{where}: lease expiry"
    in_index = [s for s, members in snap.index.items() if job.id in members]
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
