"""Every Redis key jobfleet uses, and what it means. This is the one place to read the layout.

All keys start with a configurable prefix (``Settings.key_prefix``, default ``jf``); ``{q}`` is a
queue name, ``{id}`` a job id (32 lowercase hex characters), ``{s}`` a job status.

========================  ======  ===========================================================
key                       type    meaning
========================  ======  ===========================================================
``jf:job:{id}``           hash    the job record (fields below); expires ``result_ttl_s``
                                  after the job reaches a terminal state
``jf:q:{q}:ready``        zset    jobs waiting to run; score = priority band * 2^40 + seq,
                                  so higher priority first, then FIFO
``jf:q:{q}:scheduled``    zset    jobs waiting for a time (``delay_s`` or retry backoff);
                                  score = run-at time in ms
``jf:q:{q}:leases``       zset    jobs in flight; score = lease expiry in ms. A job is here
                                  exactly while its status is ``running``
``jf:q:{q}:dead``         zset    dead letters: jobs that ended ``failed``; score = ms
``jf:q:{q}:signal``       list    wake-up tokens for idle workers (BLPOP); bounded length
``jf:seq``                string  counter giving every job a unique, increasing sequence number
``jf:queues``             set     names of every queue that ever received a job
``jf:idx:all``            zset    every job; score = seq (pagination for ``GET /jobs``)
``jf:idx:{s}``            zset    jobs by status, for ``scheduled`` and the terminal ones;
                                  score = seq. Queued and running jobs are listed from the
                                  ready and lease sets, so claim and finish touch no index
``jf:idem:{key}``         string  Idempotency-Key -> job id; expires ``idempotency_ttl_s``
``jf:workers``            zset    live workers; score = last heartbeat in ms
``jf:worker:{wid}``       hash    a worker's self-description (host, pid, jobs it runs);
                                  expires a few heartbeats after the worker stops
``jf:tasks``              hash    task type -> last time a worker announced it (ms)
``jf:rl:{client}``        hash    submission rate-limit bucket of one API token (its name or
                                  hash prefix) or client address: ``tokens``, ``at`` (ms);
                                  expires once full again (``scripts/ratelimit.lua``)
========================  ======  ===========================================================

Job record fields (``jf:job:{id}``): ``id type queue payload status attempts base max_attempts
timeout_s priority score seq created_at run_at started_at finished_at worker lease_expires_at
result error idem`` and one field ``att:{n}`` per attempt holding that attempt's JSON record.
Times are milliseconds since the epoch. ``attempts`` counts claims and is the fencing token: it
never decreases. ``base`` is the value of ``attempts`` when the job's current retry budget began
(0, or the attempt count at an explicit retry, or bumped when a draining worker hands a job back),
so the budget left is ``max_attempts - (attempts - base)``.

The job state machine (one Lua script per transition, see ``cluster/scripts``)::

    submit ──> queued ──claim──> running ──finish ok──> succeeded
       │         ^  ^               │ │ └─finish error, budget left──> scheduled ─┐
       │         │  └───reclaim─────┘ │   (lease lapsed, budget left)             │
       │         │  └───release───────┘   (graceful hand-back)                    │
       └> scheduled ──promote (due)───────────────────────────────────────────────┘
    running ──finish error or lease lapsed, no budget left──> failed ──retry──> queued
    queued / scheduled ──cancel──> cancelled

Every transition is one script, so a job is always in exactly one of ready / scheduled /
leases / a terminal index, and a crash between two Redis calls can never lose it. The scripts
on the hot path (submit, claim, finish, renew) take their batch as one JSON argument and write
each set with one variadic command per batch: Redis does the least work per job there.
"""

from __future__ import annotations

from dataclasses import dataclass

TERMINAL = ("succeeded", "failed", "cancelled")
STATUSES = ("queued", "scheduled", "running", *TERMINAL)
INDEXED = ("scheduled", *TERMINAL)  # the statuses with an idx:{s} zset


@dataclass(frozen=True)
class QueueKeys:
    """The keys of one queue."""

    ready: str
    scheduled: str
    leases: str
    dead: str
    signal: str


@dataclass(frozen=True)
class Keys:
    """Builds every key name from the prefix. Nothing else in jobfleet spells a key."""

    prefix: str = "jf"

    def job(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}"

    @property
    def job_prefix(self) -> str:
        """Passed to scripts that pop job ids inside Redis and must name their records."""
        return f"{self.prefix}:job:"

    def queue(self, name: str) -> QueueKeys:
        base = f"{self.prefix}:q:{name}"
        return QueueKeys(
            ready=f"{base}:ready",
            scheduled=f"{base}:scheduled",
            leases=f"{base}:leases",
            dead=f"{base}:dead",
            signal=f"{base}:signal",
        )

    @property
    def seq(self) -> str:
        return f"{self.prefix}:seq"

    @property
    def queues(self) -> str:
        return f"{self.prefix}:queues"

    @property
    def index_all(self) -> str:
        return f"{self.prefix}:idx:all"

    def index(self, status: str) -> str:
        return f"{self.prefix}:idx:{status}"

    @property
    def index_prefix(self) -> str:
        """Passed to scripts that move a job between status indexes."""
        return f"{self.prefix}:idx:"

    def idempotency(self, key: str) -> str:
        return f"{self.prefix}:idem:{key}"

    @property
    def workers(self) -> str:
        return f"{self.prefix}:workers"

    def worker(self, worker_id: str) -> str:
        return f"{self.prefix}:worker:{worker_id}"

    @property
    def tasks(self) -> str:
        return f"{self.prefix}:tasks"

    def rate_bucket(self, client: str) -> str:
        return f"{self.prefix}:rl:{client}"
