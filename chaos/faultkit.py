"""Building blocks of the faults: the context a fault runs in, target choice, the record.

Every fault is written as an *action* on a ``detail`` dict, wrapped by :func:`record`, which
stamps ``t_start`` / ``t_end``, stores the targets' identities and turns any exception into
the record's ``error``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from chaos.containers import Cluster, FaultError, Identity, State
from chaos.history import Fault, Submit, now
from chaos.workload import JobSpec

Params = Mapping[str, float | int | str]
Action = Callable[[dict[str, Any]], None]
# Matches the worker's stop_grace_period in compose (> its 20 s drain): SIGTERM, then SIGKILL.
STOP_GRACE_S = 30


@dataclass
class FaultContext:
    """What a fault may use: docker, the master's HTTP API, and the run's clock."""

    cluster: Cluster
    http: httpx.Client
    submit: Callable[[JobSpec], Submit]
    run_id: str
    lease_s: float = 5.0
    stop: threading.Event = field(default_factory=threading.Event)
    counter: int = 0
    # submits a job that counts like the workload's (lost / stuck / recovery): the bait
    bait: Callable[[JobSpec], Submit] | None = None

    def sleep(self, seconds: float) -> None:
        """Interruptible sleep: returns early when the run is being stopped."""
        self.stop.wait(max(0.0, seconds))

    def wait_ready(self, path: str = "/readyz", timeout: float = 60.0) -> float | None:
        """Seconds until the master answers 2xx on *path*, or None on timeout."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout and not self.stop.is_set():
            try:
                if self.http.get(path, timeout=2.0).is_success:
                    return time.monotonic() - t0
            except httpx.HTTPError:
                pass
            self.stop.wait(0.25)
        return None


def num(params: Params, key: str, default: float) -> float:
    value = params.get(key, default)
    return float(value) if isinstance(value, int | float) else default


BUSY_WAIT_S = 3.0


def pick_workers(ctx: FaultContext, params: Params, count: int = 1) -> list[Any]:
    """*count* running workers chosen by the step's seeded ``target`` index, workers that are
    running a job first (waiting up to ``BUSY_WAIT_S`` for one): a fault should catch work
    in flight, or it proves little."""
    workers = ctx.cluster.workers(running=True)
    if not workers:
        raise FaultError("no running worker container")
    busy = _baited_hostname(ctx) or _busy_hostnames(ctx)
    start = int(num(params, "target", 0))
    ranked = _rotate([w for w in workers if _hostname(w) in busy], start)
    ranked += _rotate([w for w in workers if _hostname(w) not in busy], start)
    return ranked[:count]


def _rotate(items: list[Any], start: int) -> list[Any]:
    if not items:
        return []
    k = start % len(items)
    return items[k:] + items[:k]


def _hostname(container: Any) -> str:
    return str(container.attrs.get("Config", {}).get("Hostname", ""))


BAIT_WAIT_S = 10.0


def _baited_hostname(ctx: FaultContext) -> set[str]:
    """Submit a high-priority ``sleep`` job that counts like the workload's, wait until a
    worker runs it, and name that worker's host: hitting it interrupts a job for certain, and
    the job's next attempt elsewhere measures the recovery time."""
    if ctx.bait is None:
        return set()
    ctx.counter += 1
    seconds = max(2.0, ctx.lease_s)
    spec = JobSpec(f"{ctx.run_id}-bait-{ctx.counter}", "sleep", {"seconds": seconds}, 5, 100)
    sub = ctx.bait(spec)
    deadline = time.monotonic() + BAIT_WAIT_S
    while sub.job_id is not None and time.monotonic() < deadline and not ctx.stop.is_set():
        try:
            body = ctx.http.get(f"/jobs/{sub.job_id}", timeout=2.0).json()
        except (httpx.HTTPError, ValueError):
            body = {}
        if isinstance(body, dict) and body.get("status") == "running" and body.get("worker"):
            return {str(body["worker"]).rsplit("-", 2)[0]}
        ctx.stop.wait(0.05)
    return set()


def _busy_hostnames(ctx: FaultContext) -> set[str]:
    """Hostnames of the workers that report a job in hand (worker ids are host-pid-rand)."""
    deadline = time.monotonic() + BUSY_WAIT_S
    while not ctx.stop.is_set():
        try:
            listed = ctx.http.get("/workers", timeout=2.0).json().get("workers", [])
        except (httpx.HTTPError, ValueError, AttributeError):
            listed = []
        busy = {str(w["id"]).rsplit("-", 2)[0] for w in listed if w.get("info", {}).get("jobs")}
        if busy or time.monotonic() > deadline:
            return busy
        ctx.stop.wait(0.1)
    return set()


def record(name: str, targets: list[Any], action: Action, ctx: FaultContext) -> Fault:
    idents = [Cluster.identity(c) for c in targets]
    detail: dict[str, Any] = {"targets": [i.as_dict() for i in idents]}
    t_start, error = now(), None
    try:
        action(detail)
    except Exception as exc:  # a failed injection is data, not a crash of the run
        error = f"{type(exc).__name__}: {exc}"
    if isinstance(detail.get("t_hit"), float):
        t_start = detail["t_hit"]
    target = ",".join(i.name for i in _targets_of(detail, idents))
    return Fault(name, target, t_start, now(), detail, error)


def _targets_of(detail: dict[str, Any], default: list[Identity]) -> list[Identity]:
    raw = detail.get("targets")
    if isinstance(raw, list) and raw and all(isinstance(t, dict) for t in raw):
        return [Identity(**t) for t in raw]
    return default


def ensure_all(ctx: FaultContext, containers: list[Any], detail: dict[str, Any]) -> None:
    detail["recovery_actions"] = {str(c.name): ctx.cluster.ensure_running(c) for c in containers}


def sigkill(
    ctx: FaultContext, containers: list[Any], params: Params, detail: dict[str, Any]
) -> None:
    before = {str(c.id): Cluster.state(c) for c in containers}
    detail["restart_policy"] = {str(c.name): Cluster.restart_policy(c) for c in containers}
    hit_at: dict[str, float] = {}
    for container in containers:
        container.kill(signal="SIGKILL")
        hit_at[str(container.name)] = now()
    detail["hit_at"] = hit_at
    ctx.sleep(num(params, "hold_s", 1.0))
    detail["restarted_by_policy"] = [
        str(c.name) for c in containers if restarted(before[str(c.id)], Cluster.state(c))
    ]
    ensure_all(ctx, containers, detail)


def restarted(before: State, after: State) -> bool:
    return after.restart_count > before.restart_count or (
        after.status == "running" and after.started_at != before.started_at
    )


def graceful_stop(
    ctx: FaultContext, containers: list[Any], params: Params, d: dict[str, Any]
) -> None:
    grace = int(num(params, "grace_s", STOP_GRACE_S))
    t0 = time.monotonic()
    errors: list[str] = []

    def stop_one(container: Any) -> None:
        try:
            container.stop(timeout=grace)
        except Exception as exc:  # reported below, after every stop was tried
            errors.append(f"{container.name}: {exc}")

    threads = [threading.Thread(target=stop_one, args=(c,)) for c in containers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    d["stop_s"] = time.monotonic() - t0
    if errors:
        ensure_all(ctx, containers, d)
        raise FaultError("; ".join(errors))
    d["exit_codes"] = {str(c.name): Cluster.state(c).exit_code for c in containers}
    ctx.sleep(num(params, "hold_s", 1.0))
    ensure_all(ctx, containers, d)


def job_status(ctx: FaultContext, job_id: str) -> str | None:
    try:
        resp = ctx.http.get(f"/jobs/{job_id}", timeout=2.0)
        body = resp.json() if resp.is_success else None
    except (httpx.HTTPError, ValueError):
        return None
    status = body.get("status") if isinstance(body, dict) else None
    return str(status) if status is not None else None


def with_ready(ctx: FaultContext, detail: dict[str, Any]) -> None:
    detail["ready_after_s"] = ctx.wait_ready()
