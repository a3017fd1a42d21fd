"""Fault injection (the Jepsen "nemesis") on the cluster's own containers.

Every fault returns a :class:`chaos.history.Fault` record: name, target container name(s),
``t_start`` (the moment the fault hit), ``t_end`` (the moment it was fully undone) and a
``detail`` dict whose ``targets`` list holds the identities of the containers hit, so the
checker can match them with the ``worker`` of each attempt. A fault that cannot be injected
returns a record with ``error`` set instead of raising.

Restart policies are accounted for: after a kill the container may come back on its own;
either way every fault ends with its targets running again (``ensure_running``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from chaos.containers import Cluster, FaultError, State
from chaos.faultkit import (
    STOP_GRACE_S,
    FaultContext,
    Params,
    ensure_all,
    graceful_stop,
    job_status,
    num,
    pick_workers,
    record,
    restarted,
    sigkill,
    with_ready,
)
from chaos.history import Fault, now
from chaos.workload import JobSpec

__all__ = ["FAULTS", "SURVIVABLE", "FaultContext", "Params", "inject", "pick_workers"]

# The admin password, if given; otherwise redis-cli uses the container's own REDISCLI_AUTH.
# (Not JOBFLEET_REDIS_PASSWORD: that is the app user's, which may not run CONFIG & co.)
REDIS_PASSWORD_ENV = "JOBFLEET_REDIS_ADMIN_PASSWORD"


# --- worker faults ---------------------------------------------------------------------------
def kill_worker(ctx: FaultContext, params: Params) -> Fault:
    """SIGKILL one worker, hold it down ``hold_s``, make sure it runs again."""
    targets = pick_workers(ctx, params, int(num(params, "count", 1)))
    return record("kill", targets, lambda d: sigkill(ctx, targets, params, d), ctx)


def kill_all_workers(ctx: FaultContext, params: Params) -> Fault:
    """SIGKILL every worker at once, then bring them all back."""
    targets = ctx.cluster.workers(running=True)
    return record("kill_all", targets, lambda d: sigkill(ctx, targets, params, d), ctx)


def stop_worker(ctx: FaultContext, params: Params) -> Fault:
    """SIGTERM one worker (``docker stop`` with ``grace_s``): it should release its jobs."""
    targets = pick_workers(ctx, params)
    return record("stop", targets, lambda d: graceful_stop(ctx, targets, params, d), ctx)


def scale_down_up(ctx: FaultContext, params: Params) -> Fault:
    """Stop ``count`` workers (never the last one) for ``hold_s`` under load, then start them."""
    running = ctx.cluster.workers(running=True)
    count = min(int(num(params, "count", 2)), len(running) - 1)
    if count < 1:
        raise FaultError("scale down needs at least two running workers")
    targets = pick_workers(ctx, params, count)
    hold = {"hold_s": num(params, "hold_s", 10.0), "grace_s": num(params, "grace_s", STOP_GRACE_S)}
    return record("scale", targets, lambda d: graceful_stop(ctx, targets, hold, d), ctx)


def pause_worker(ctx: FaultContext, params: Params) -> Fault:
    """Freeze one worker (cgroup freezer) past its lease, then thaw it."""
    targets = pick_workers(ctx, params)
    duration = num(params, "duration_s", ctx.lease_s * 2 + 1)

    def act(detail: dict[str, Any]) -> None:
        container = targets[0]
        container.pause()
        try:
            ctx.sleep(duration)
        finally:
            container.unpause()
        detail["paused_s"] = duration
        ensure_all(ctx, targets, detail)

    return record("pause", targets, act, ctx)


def partition_worker(ctx: FaultContext, params: Params) -> Fault:
    """Disconnect one worker from its compose network(s) past its lease, then reconnect."""
    targets = pick_workers(ctx, params)
    duration = num(params, "duration_s", ctx.lease_s * 2 + 1)

    def act(detail: dict[str, Any]) -> None:
        container = targets[0]
        detail["networks"] = ctx.cluster.disconnect(container)
        try:
            ctx.sleep(duration)
        finally:
            detail["reconnected"] = ctx.cluster.reconnect(container)
        ensure_all(ctx, targets, detail)

    return record("partition", targets, act, ctx)


def oom_worker(ctx: FaultContext, params: Params) -> Fault:
    """Submit an ``alloc`` job bigger than a worker's memory limit; the kernel's OOM killer
    (or the worker itself) ends it. The victim is whichever worker took the job."""
    ctx.counter += 1
    spec = JobSpec(
        key=f"{ctx.run_id}-oom-{ctx.counter}",
        type="alloc",
        payload={"mb": int(num(params, "mb", 200)), "seconds": num(params, "seconds", 5)},
        max_attempts=int(num(params, "max_attempts", 1)),
    )
    workers = ctx.cluster.workers(running=False)
    before = {str(c.id): Cluster.state(c) for c in workers}

    def act(detail: dict[str, Any]) -> None:
        detail.update(role="worker", t_submit=now())
        sub = ctx.submit(spec)
        detail.update(job_id=sub.job_id, submit_outcome=sub.outcome)
        if sub.job_id is None:
            raise FaultError(f"alloc job not accepted: {sub.error}")
        victims = _await_victims(ctx, workers, before, sub.job_id, num(params, "timeout_s", 30))
        detail["targets"] = [Cluster.identity(c).as_dict() for c, _ in victims]
        detail["oom_killed"] = {str(c.name): st.oom_killed for c, st in victims}
        hits = [st.finished_at for _, st in victims if st.finished_at is not None]
        if hits:
            detail["t_hit"] = min(hits)
        detail["job_status"] = job_status(ctx, sub.job_id)
        ctx.sleep(1.0)  # let a restart policy act first
        ensure_all(ctx, workers, detail)

    return record("oom", [], act, ctx)


def _await_victims(
    ctx: FaultContext, workers: list[Any], before: dict[str, State], job_id: str, timeout: float
) -> list[tuple[Any, State]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not ctx.stop.is_set():
        victims = []
        for container in workers:
            st, old = Cluster.state(container), before[str(container.id)]
            went_down = old.status == "running" and st.status != "running"
            if went_down or restarted(old, st) or (st.oom_killed and not old.oom_killed):
                victims.append((container, st))
        if victims or job_status(ctx, job_id) in ("succeeded", "failed", "cancelled"):
            return victims
        ctx.sleep(0.5)
    return []


# --- redis and master ----------------------------------------------------------------------
def restart_redis(ctx: FaultContext, params: Params) -> Fault:
    """``docker restart`` Redis (SIGTERM, then start): persistence must survive it."""
    redis = ctx.cluster.service("redis")

    def act(detail: dict[str, Any]) -> None:
        redis.restart(timeout=int(num(params, "grace_s", 10)))
        ensure_all(ctx, [redis], detail)
        with_ready(ctx, detail)

    return record("redis_restart", [redis], act, ctx)


def kill_redis(ctx: FaultContext, params: Params) -> Fault:
    """SIGKILL Redis, hold it down ``hold_s``, start it again."""
    redis = ctx.cluster.service("redis")

    def act(detail: dict[str, Any]) -> None:
        sigkill(ctx, [redis], params, detail)
        with_ready(ctx, detail)

    return record("redis_kill", [redis], act, ctx)


def kill_master(ctx: FaultContext, params: Params) -> Fault:
    """SIGKILL the master while clients keep submitting, then start it again."""
    master = ctx.cluster.service("master")

    def act(detail: dict[str, Any]) -> None:
        sigkill(ctx, [master], params, detail)
        detail["healthy_after_s"] = ctx.wait_ready("/healthz")
        with_ready(ctx, detail)

    return record("master_kill", [master], act, ctx)


def redis_cli(container: Any, *args: str) -> tuple[int, str]:
    """Run ``redis-cli`` inside the Redis container as its admin (REDISCLI_AUTH, which the
    container has; JOBFLEET_REDIS_ADMIN_PASSWORD here overrides it)."""
    env = (
        {"REDISCLI_AUTH": os.environ[REDIS_PASSWORD_ENV]}
        if REDIS_PASSWORD_ENV in os.environ
        else None
    )
    result = container.exec_run(["redis-cli", *args], environment=env)
    output = result.output.decode(errors="replace") if isinstance(result.output, bytes) else ""
    return int(result.exit_code or 0), output.strip()


def redis_amnesia(ctx: FaultContext, params: Params) -> Fault:
    """NEGATIVE CONTROL: switch Redis persistence off, let jobs be acknowledged for
    ``window_s``, then SIGKILL + start Redis. Acknowledged jobs vanish; the checker must say
    INVALID. The restarted Redis reads its original configuration again."""
    redis = ctx.cluster.service("redis")

    def act(detail: dict[str, Any]) -> None:
        results = {
            "appendonly": redis_cli(redis, "CONFIG", "SET", "appendonly", "no"),
            "save": redis_cli(redis, "CONFIG", "SET", "save", ""),
        }
        detail["config_set"] = {k: {"exit": c, "output": o[:200]} for k, (c, o) in results.items()}
        detail["config_ok"] = all(
            c == 0 and o.upper().startswith("OK") for c, o in results.values()
        )
        ctx.sleep(num(params, "window_s", 8.0))
        detail["t_kill"] = now()
        sigkill(ctx, [redis], params, detail)
        with_ready(ctx, detail)

    return record("redis_amnesia", [redis], act, ctx)


FaultFn = Callable[[FaultContext, Params], Fault]

FAULTS: dict[str, FaultFn] = {
    "kill": kill_worker,
    "stop": stop_worker,
    "pause": pause_worker,
    "partition": partition_worker,
    "oom": oom_worker,
    "kill_all": kill_all_workers,
    "scale": scale_down_up,
    "redis_restart": restart_redis,
    "redis_kill": kill_redis,
    "master_kill": kill_master,
    "redis_amnesia": redis_amnesia,
}
# Faults a correct cluster must survive (everything except the negative control).
SURVIVABLE = tuple(name for name in FAULTS if name != "redis_amnesia")


def inject(name: str, ctx: FaultContext, params: Params) -> Fault:
    """Run fault *name*; errors (even in target selection) come back inside the record."""
    fn = FAULTS.get(name)
    if fn is None:
        return Fault(name, "", now(), now(), {}, f"unknown fault {name!r}")
    try:
        return fn(ctx, params)
    except Exception as exc:  # target selection failed before the fault could start
        t = now()
        return Fault(name, "", t, t, {"params": dict(params)}, f"{type(exc).__name__}: {exc}")
