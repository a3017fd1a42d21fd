"""Every Prometheus metric of jobfleet, defined here, and the one-line hooks that feed them.

A process calls :func:`enable` once (the master, a worker, the autoscaler); until then every
hook is a no-op that costs one global lookup and ``prometheus_client`` is not even imported, so
a worker with ``JOBFLEET_METRICS_PORT=0`` carries none of it. Each process has its own
registry: the master serves it at ``/metrics``, workers and the autoscaler on
``JOBFLEET_METRICS_PORT`` (:func:`serve`, a daemon thread).

Who exports what (sum over instances in PromQL: several workers each count their share):

- master: ``jobs_submitted``, ``jobs_rejected`` (bad input, by HTTP status), the queue gauges
  (``queue_depth``, ``queue_running``, ``queue_scheduled``, ``queue_dead``) and
  ``workers_live``, refreshed from Redis at each scrape, plus its share of ``jobs_reclaimed``.
- workers: ``jobs_started``, ``jobs_succeeded``, ``jobs_retried``, ``jobs_failed``,
  ``jobs_reclaimed``, ``attempts_stale``, ``job_duration_seconds``, ``job_queue_wait_seconds``
  (sampled: one claim batch per ``WAIT_SAMPLE_S`` per worker), ``lease_renewals``,
  ``leases_lost``, ``worker_running_jobs`` and the ``container_*`` cgroup readings.
- everyone: ``redis_roundtrip_seconds{op}`` and the standard ``process_*`` metrics.

Per-job log events ("job started" / "job finished") are emitted here at DEBUG: at thousands of
jobs per second an INFO line per job would dwarf the work (``JOBFLEET_LOG_LEVEL=debug``).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from cluster import __version__

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
    from prometheus_client.metrics_core import Metric
    from prometheus_client.registry import Collector

    from cluster.queue import ClaimedJob, JobQueue, Maintenance, Outcome, QueueStats

log = logging.getLogger("jobfleet.jobs")
T = TypeVar("T")
WAIT_SAMPLE_S = 0.2
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600)
RTT_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1)
OUTCOME_COUNTER = {"succeeded": "succeeded", "scheduled": "retried", "failed": "failed"}


Q = ("queue",)
# attribute: (kind, name after "jobfleet_", help, labels, the only role exporting it or "")
DEFINITIONS: dict[str, tuple[str, str, str, tuple[str, ...], str]] = {
    "submitted": ("counter", "jobs_submitted", "jobs accepted by the master (new ones)", Q, ""),
    "rejected": ("counter", "jobs_rejected", "submissions refused, by status", ("status",), ""),
    "started": ("counter", "jobs_started", "attempts started (claimed by a worker)", Q, ""),
    "succeeded": ("counter", "jobs_succeeded", "jobs that ended succeeded", Q, ""),
    "retried": ("counter", "jobs_retried", "attempts that failed, a retry scheduled", Q, ""),
    "failed": ("counter", "jobs_failed", "jobs that ended failed (dead-lettered)", Q, ""),
    "reclaimed": ("counter", "jobs_reclaimed", "running jobs re-queued: lease lapsed", Q, ""),
    "stale": ("counter", "attempts_stale", "late attempt reports fenced off", Q, ""),
    "duration": ("histogram", "job_duration_seconds", "attempt run time",
                 ("queue", "type", "outcome"), ""),
    "wait": ("histogram", "job_queue_wait_seconds", "from due (run_at) to claimed, sampled", Q, ""),
    "depth": ("gauge", "queue_depth", "jobs ready to run (queued)", Q, ""),
    "running": ("gauge", "queue_running", "jobs in flight (under a lease)", Q, ""),
    "scheduled": ("gauge", "queue_scheduled", "jobs waiting for their time (delay, retry)", Q, ""),
    "dead": ("gauge", "queue_dead", "dead-lettered (failed) jobs kept", Q, ""),
    "workers_live": ("gauge", "workers_live", "workers with a recent heartbeat", (), "master"),
    "renewals": ("counter", "lease_renewals", "lease renewals (one per job)", (), "worker"),
    "leases_lost": ("counter", "leases_lost", "leases found lost at renewal", (), "worker"),
    "worker_running": ("gauge", "worker_running_jobs", "jobs this worker runs now", (), "worker"),
    "worker_slots": ("gauge", "worker_concurrency", "jobs this worker may run at once", (),
                     "worker"),
    "rtt": ("histogram", "redis_roundtrip_seconds", "Redis round trips, by operation", ("op",), ""),
    "scaler_workers": ("gauge", "autoscaler_workers", "worker containers serving", (),
                       "autoscaler"),
    "scaler_draining": ("gauge", "autoscaler_draining_workers", "workers being drained", (),
                        "autoscaler"),
    "scaler_desired": ("gauge", "autoscaler_desired_workers", "workers the rules want", (),
                       "autoscaler"),
    "scaler_backlog": ("gauge", "autoscaler_backlog_jobs", "queued + running jobs seen", (),
                       "autoscaler"),
    "scaler_events": ("counter", "autoscaler_scale_events", "scale actions taken", ("direction",),
                      "autoscaler"),
    "scaler_errors": ("counter", "autoscaler_errors", "failed rounds or docker calls", (),
                      "autoscaler"),
    "scaler_seconds": ("histogram", "autoscaler_action_seconds",
                       "time to start / drain and remove one worker", ("direction",), "autoscaler"),
}  # fmt: skip
BUCKETS = {"duration": DURATION_BUCKETS, "wait": WAIT_BUCKETS, "rtt": RTT_BUCKETS,
           "scaler_seconds": DURATION_BUCKETS}  # fmt: skip


class Metrics:
    """The metric objects of one process (built by :func:`enable` from ``DEFINITIONS``). A
    metric of another role is created but not registered: usable, never exported."""

    submitted: Counter
    rejected: Counter
    started: Counter
    succeeded: Counter
    retried: Counter
    failed: Counter
    reclaimed: Counter
    stale: Counter
    duration: Histogram
    wait: Histogram
    depth: Gauge
    running: Gauge
    scheduled: Gauge
    dead: Gauge
    workers_live: Gauge
    renewals: Counter
    leases_lost: Counter
    worker_running: Gauge
    worker_slots: Gauge
    rtt: Histogram
    scaler_workers: Gauge
    scaler_draining: Gauge
    scaler_desired: Gauge
    scaler_backlog: Gauge
    scaler_events: Counter
    scaler_errors: Counter
    scaler_seconds: Histogram

    def __init__(self, role: str) -> None:
        from prometheus_client import (
            CollectorRegistry,
            Counter,
            Gauge,
            Histogram,
            disable_created_metrics,
        )
        from prometheus_client.process_collector import ProcessCollector

        disable_created_metrics()  # type: ignore[no-untyped-call]  # *_created: noise
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        info = Gauge("jobfleet_build_info", "jobfleet version and process role",
                     ["version", "role"], registry=self.registry)  # fmt: skip
        info.labels(__version__, role).set(1)
        kinds: dict[str, Any] = {"counter": Counter, "gauge": Gauge, "histogram": Histogram}
        for attr, (kind, name, text, labels, only) in DEFINITIONS.items():
            extra = {"buckets": BUCKETS[attr]} if attr in BUCKETS else {}
            registry = self.registry if only in ("", role) else None
            metric = kinds[kind](f"jobfleet_{name}", text, list(labels), registry=registry, **extra)
            setattr(self, attr, metric)
        self.wait_probe_at = 0.0
        self.tasks: set[asyncio.Task[None]] = set()


_m: Metrics | None = None


def enable(role: str) -> Metrics:
    """Create this process' metrics (idempotent); hooks count from now on."""
    global _m  # noqa: PLW0603 - one registry per process, by design
    if _m is None:
        _m = Metrics(role)
    return _m


def current() -> Metrics | None:
    return _m


def serve(port: int, host: str = "0.0.0.0") -> None:  # scraped over the network
    """Expose the registry over HTTP on ``port`` (a daemon thread); 0 means do not."""
    if port and _m is not None:
        from prometheus_client import start_http_server

        start_http_server(port, host, registry=_m.registry)


def exposition() -> tuple[bytes, str]:
    """The registry in the text format, and its content type (for the master's route)."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    assert _m is not None, "metrics.enable() was not called"
    return generate_latest(_m.registry), CONTENT_TYPE_LATEST


# --- master hooks ----------------------------------------------------------------------------
def submitted(queue: str, count: int = 1) -> None:
    if _m is not None and count:
        _m.submitted.labels(queue).inc(count)


def submitted_batch(queues: Iterable[str]) -> None:
    if _m is not None:
        for queue, count in collections.Counter(queues).items():
            _m.submitted.labels(queue).inc(count)


def rejected(method: str, path: str, status: int) -> None:
    """A refused submission (4xx on a submit route)."""
    if _m is None or not 400 <= status < 500 or method != "POST":
        return
    if path.rstrip("/") in ("/jobs", "/jobs/batch"):
        _m.rejected.labels(str(status)).inc()


def queues(stats: Iterable[QueueStats], live_workers: int) -> None:
    """Set the queue gauges from :func:`cluster.queue.queue_stats` rows."""
    if _m is None:
        return
    for s in stats:
        _m.depth.labels(s.name).set(s.queued)
        _m.running.labels(s.name).set(s.running)
        _m.scheduled.labels(s.name).set(s.scheduled)
        _m.dead.labels(s.name).set(s.failed)
    _m.workers_live.set(live_workers)


# --- worker hooks ----------------------------------------------------------------------------
def claimed(queue: JobQueue, worker: str, jobs: Sequence[ClaimedJob]) -> None:
    """Jobs just claimed: count them, log them (DEBUG), sample their queue wait."""
    if log.isEnabledFor(logging.DEBUG):
        for job in jobs:
            log.debug("job started", extra=_job_fields(job, worker))
    if _m is None or not jobs:
        return
    for job in jobs:
        _m.started.labels(job.queue).inc()
    now = time.monotonic()
    if now - _m.wait_probe_at >= WAIT_SAMPLE_S:
        _m.wait_probe_at = now
        task = asyncio.get_running_loop().create_task(_probe_wait(queue, list(jobs)))
        _m.tasks.add(task)  # a strong reference until it is done
        task.add_done_callback(_m.tasks.discard)


async def _probe_wait(queue: JobQueue, jobs: list[ClaimedJob]) -> None:
    """Queue wait = started_at - run_at of the claimed attempt (both set inside Redis)."""
    assert _m is not None
    try:
        async with queue.redis.pipeline(transaction=False) as pipe:
            for job in jobs:
                pipe.hmget(queue.keys.job(job.id), "started_at", "run_at", "attempts")
            rows = await pipe.execute()
    except Exception:  # a metric sample is never worth an error
        return
    for job, (started, run_at, attempts) in zip(jobs, rows, strict=True):
        if started and run_at and attempts == str(job.attempt):
            _m.wait.labels(job.queue).observe(max(0, int(started) - int(run_at)) / 1000)


def finished(worker: str, outcomes: Sequence[Outcome], states: dict[str, str]) -> None:
    """Attempts recorded by ``finish``: count by resulting state, observe their duration."""
    debug = log.isEnabledFor(logging.DEBUG)
    if _m is None and not debug:
        return
    for o in outcomes:
        state = states.get(o.job.id, "")
        seconds = (o.finished_ms - o.started_ms) / 1000
        if debug:
            fields = _job_fields(o.job, worker)
            log.debug(
                "job finished",
                extra={**fields, "outcome": o.outcome, "state": state, "duration_s": seconds},
            )
        if _m is None:
            continue
        _m.duration.labels(o.job.queue, o.job.type, o.outcome).observe(seconds)
        name = OUTCOME_COUNTER.get(state)
        if name is not None:
            getattr(_m, name).labels(o.job.queue).inc()
        elif state == "stale":
            _m.stale.labels(o.job.queue).inc()


def maintained(queue: str, result: Maintenance) -> None:
    if _m is not None and (result.reclaimed or result.failed):
        _m.reclaimed.labels(queue).inc(result.reclaimed)
        _m.failed.labels(queue).inc(result.failed)


def renewed(count: int, lost: int) -> None:
    if _m is not None:
        _m.renewals.inc(count - lost)
        _m.leases_lost.inc(lost)


def track_worker(running: Callable[[], int], concurrency: int) -> None:
    """Report the worker's busy slots at scrape time, and its container's cgroup readings."""
    if _m is None:
        return
    _m.worker_running.set_function(running)
    _m.worker_slots.set(concurrency)
    _m.registry.register(_container_collector())


async def timed(op: str, call: Awaitable[T]) -> T:
    """``await timed("claim", queue.claim(...))``: the call, its round trip observed."""
    if _m is None:
        return await call
    started = time.perf_counter()
    try:
        return await call
    finally:
        _m.rtt.labels(op).observe(time.perf_counter() - started)


def _job_fields(job: ClaimedJob, worker: str) -> dict[str, object]:
    return {
        "job": job.id,
        "attempt": job.attempt,
        "worker": worker,
        "queue": job.queue,
        "type": job.type,
    }


def _container_collector() -> Collector:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
    from prometheus_client.registry import Collector

    from cluster.cgroup import read_usage

    class ContainerCollector(Collector):
        """CPU and memory of this container against its limits, read at each scrape."""

        def collect(self) -> Iterator[Metric]:
            usage = read_usage()
            readings = (
                ("memory_usage_bytes", "memory in use (cgroup)", usage.memory_bytes),
                ("memory_limit_bytes", "memory limit (absent: none)", usage.memory_limit_bytes),
                ("cpu_limit_cores", "CPU quota in cores (absent: none)", usage.cpu_limit_cores),
            )
            for name, text, value in readings:
                if value is not None:
                    yield GaugeMetricFamily(f"jobfleet_container_{name}", text, value=value)
            if usage.cpu_seconds is not None:
                yield CounterMetricFamily(
                    "jobfleet_container_cpu_usage_seconds",
                    "CPU time used (cgroup)",
                    value=usage.cpu_seconds,
                )

    return ContainerCollector()


def registry() -> CollectorRegistry | None:
    return _m.registry if _m is not None else None


# --- autoscaler hooks ------------------------------------------------------------------------
def scaler_state(serving: int, draining: int, desired: int, backlog: int) -> None:
    if _m is not None:
        _m.scaler_workers.set(serving)
        _m.scaler_draining.set(draining)
        _m.scaler_desired.set(desired)
        _m.scaler_backlog.set(backlog)


def scaled(direction: str, seconds: float) -> None:
    if _m is not None:
        _m.scaler_events.labels(direction).inc()
        _m.scaler_seconds.labels(direction).observe(seconds)


def count_scaler_error() -> None:
    if _m is not None:
        _m.scaler_errors.inc()
