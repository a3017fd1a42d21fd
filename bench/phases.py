"""The three measured phases. Each runs against a fresh Redis with a fresh :class:`Peer` and
returns a JSON-able dict of raw figures; the caller tears the workers down."""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from typing import cast

import redis

from bench.measure import RssSampler, percentile, rate, settle_rss, span_rate
from bench.peers.base import Peer
from bench.peers.jobs import SLEPT_KEY, STARTS_KEY, DoneLog

PHASES = ("throughput", "latency", "recovery")


@dataclass
class BenchConfig:
    jobs: int = 20_000
    workers: int = 2
    drain_timeout_s: float = 300.0
    ready_timeout_s: float = 60.0
    latency_rate: float = 200.0
    latency_seconds: float = 10.0
    latency_warmup_s: float = 1.0
    latency_drain_timeout_s: float = 60.0
    idle_settle_s: float = 2.0
    kills_per_round: int = 7
    recovery_cap_s: float = 60.0
    recovery_budget_s: float = 150.0
    sleeper_s: float = 2.0
    kill_after_s: float = 0.5


def _lrange(r: redis.Redis, key: str, start: int = 0, end: int = -1) -> list[bytes]:
    return cast(list[bytes], r.lrange(key, start, end))


def wait_for_count(r: redis.Redis, key: str, count: int, timeout_s: float) -> int:
    """Poll ``LLEN key`` until it reaches ``count`` or the timeout passes; return the length."""
    deadline = time.monotonic() + timeout_s
    while True:
        length = cast(int, r.llen(key))
        if length >= count or time.monotonic() > deadline:
            return length
        time.sleep(0.05)


def wait_for_done(done: DoneLog, count: int, timeout_s: float) -> int:
    """Poll the no-op jobs' records until there are ``count`` or the timeout passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        length = done.count()
        if length >= count or time.monotonic() > deadline:
            return length
        time.sleep(0.05)


def throughput(peer: Peer, r: redis.Redis, cfg: BenchConfig) -> dict[str, object]:
    """Enqueue N jobs with no worker running, then start the workers and let them drain."""
    t0 = time.perf_counter()
    peer.enqueue(cfg.jobs)
    enqueue_s = time.perf_counter() - t0

    workers_started = time.time()
    peer.start_workers(cfg.workers, wait_ready=False)
    with RssSampler(peer.rss_bytes) as sampler:
        done = wait_for_done(peer.done, cfg.jobs, cfg.drain_timeout_s)
    stamps = sorted(started for _, started in peer.done.pairs())
    # a system that records completions after the job ran (jobfleet: finish in batches) is
    # done at its last recorded completion, not at the last job start
    recorded = peer.last_recorded_completion(cfg.drain_timeout_s)
    processing = span_rate(stamps)
    if len(stamps) > 1 and recorded is not None:
        processing = rate(len(stamps) - 1, max(recorded, stamps[-1]) - stamps[0])
    result: dict[str, object] = {
        "jobs": cfg.jobs,
        "enqueue_s": enqueue_s,
        "enqueue_rate": rate(cfg.jobs, enqueue_s),
        "completed": done,
        "complete": done >= cfg.jobs,
        "recorded_in": "file" if peer.done.path else "redis",
        "processing_rate": processing,
        "start_rate": span_rate(stamps),
        "last_recorded_completion": recorded,
        "first_to_last_s": (stamps[-1] - stamps[0]) if len(stamps) > 1 else None,
        "workers_start_to_first_job_s": (stamps[0] - workers_started) if stamps else None,
        "rss_peak_bytes": sampler.peak,
        "rss_samples": sampler.samples,
    }
    return result


def _paced_send(peer: Peer, rate_per_s: float, seconds: float) -> tuple[float, float, float]:
    """Enqueue one job every ``1/rate`` s for ``seconds``; return (wall start, elapsed, max lag)."""
    total = round(rate_per_s * seconds)
    wall0 = time.time()
    mono0 = time.perf_counter()
    max_lag = 0.0
    for i in range(total):
        due = mono0 + i / rate_per_s
        now = time.perf_counter()
        if due > now:
            time.sleep(due - now)
        else:
            max_lag = max(max_lag, now - due)
        peer.enqueue_one(time.time())
    return wall0, time.perf_counter() - mono0, max_lag


def latency(peer: Peer, r: redis.Redis, cfg: BenchConfig) -> dict[str, object]:
    """Idle RSS, then enqueue->start latency at a fixed arrival rate (after a warm-up)."""
    peer.start_workers(cfg.workers, wait_ready=True, timeout_s=cfg.ready_timeout_s)
    idle = settle_rss(peer.rss_bytes, cfg.idle_settle_s)
    seconds = cfg.latency_warmup_s + cfg.latency_seconds
    total = round(cfg.latency_rate * seconds)
    with RssSampler(peer.rss_bytes) as sampler:
        wall0, elapsed, max_lag = _paced_send(peer, cfg.latency_rate, seconds)
        done = wait_for_done(peer.done, total, cfg.latency_drain_timeout_s)
    cutoff = wall0 + cfg.latency_warmup_s
    lat_ms = [(started - sent) * 1000 for sent, started in peer.done.pairs() if sent >= cutoff]
    return {
        "rate": cfg.latency_rate,
        "seconds": cfg.latency_seconds,
        "warmup_s": cfg.latency_warmup_s,
        "sent": total,
        "completed": done,
        "complete": done >= total,
        "achieved_send_rate": rate(total, elapsed),
        "max_send_lag_s": max_lag,
        "measured": len(lat_ms),
        "p50_ms": percentile(lat_ms, 50),
        "p90_ms": percentile(lat_ms, 90),
        "p99_ms": percentile(lat_ms, 99),
        "max_ms": max(lat_ms) if lat_ms else None,
        "rss_idle_bytes": idle,
        "rss_peak_bytes": sampler.peak,
    }


def wait_start(r: redis.Redis, token: str, timeout_s: float) -> tuple[int, float] | None:
    """Block until a sleeper ``token`` reports a start; return ``(pid, wall time)``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        item = cast(tuple[bytes, bytes] | None, r.blpop([STARTS_KEY], timeout=1))
        if item is None:
            continue
        got, pid, started = item[1].split()
        if got.decode() == token:
            return int(pid), float(started)
    return None


def _one_kill(peer: Peer, r: redis.Redis, cfg: BenchConfig, token: str) -> dict[str, object]:
    peer.enqueue_sleeper(token, cfg.sleeper_s)
    first = wait_start(r, token, 30.0)
    if first is None:
        return {"token": token, "error": "sleeper did not start within 30 s"}
    victim = peer.worker_owning(first[0])
    if victim is None:
        return {"token": token, "error": f"no worker owns pid {first[0]}"}
    time.sleep(cfg.kill_after_s)
    killed_at = time.time()
    peer.kill_worker(victim)
    second = wait_start(r, token, cfg.recovery_cap_s)
    if second is None:
        return {"token": token, "recovered": False, "cap_s": cfg.recovery_cap_s}
    runner = peer.worker_owning(second[0])
    out: dict[str, object] = {
        "token": token,
        "recovered": True,
        "recovery_s": second[1] - killed_at,
        "rerun_by": runner.label if runner else None,
    }
    # Bring the pool back to full strength while the re-run sleeps, then let it finish.
    peer.start_workers(1, wait_ready=True, timeout_s=cfg.ready_timeout_s)
    out["rerun_finished"] = wait_for_token(r, SLEPT_KEY, token, cfg.sleeper_s + 30)
    return out


def wait_for_token(r: redis.Redis, key: str, token: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if token.encode() in _lrange(r, key):
            return True
        time.sleep(0.05)
    return False


def recovery(peer: Peer, r: redis.Redis, cfg: BenchConfig) -> dict[str, object]:
    """SIGKILL the worker (whole process tree) running a sleeper job; time until it restarts
    elsewhere. Stops at the first job that does not come back within the cap."""
    peer.start_workers(cfg.workers, wait_ready=True, timeout_s=cfg.ready_timeout_s)
    begun = time.monotonic()
    kills: list[dict[str, object]] = []
    stopped = "kills done"
    for k in range(cfg.kills_per_round):
        if time.monotonic() - begun > cfg.recovery_budget_s:
            stopped = f"time budget ({cfg.recovery_budget_s:.0f} s) spent"
            break
        outcome = _one_kill(peer, r, cfg, f"k{k}-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        kills.append(outcome)
        if outcome.get("error"):
            stopped = "error"
            break
        if not outcome.get("recovered"):
            stopped = f"job did not restart within {cfg.recovery_cap_s:.0f} s"
            break
    return {
        "kills": kills,
        "stopped": stopped,
        "seconds": time.monotonic() - begun,
        "cap_s": cfg.recovery_cap_s,
        "sleeper_s": cfg.sleeper_s,
    }
