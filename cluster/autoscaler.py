"""The autoscaler: sizes the ``worker`` service to the backlog, between a minimum and a maximum.

Every ``interval_s`` it reads the backlog from Redis (``queued + running`` over every queue,
via :func:`cluster.queue.queue_stats`) and wants ``ceil(backlog / target_jobs_per_worker)``
workers, clamped to ``[min_workers, max_workers]``. Any scale action starts a cooldown
(``cooldown_s``) during which it only holds, except that it always restores ``min_workers``.

- Up: clone a running worker container (:mod:`cluster.dockerfleet`): same config and compose
  labels, so ``docker compose ps`` shows it.
- Down: pick idle workers first (from their heartbeats), then the newest; stop each with
  SIGTERM and ``stop_timeout_s`` to drain (a worker finishes its jobs or hands them back, so
  nothing is lost), then remove it. Draining runs in the background: the loop keeps deciding,
  and containers being drained count neither as serving nor as candidates.

Every decision that changes something is logged as one JSON event and exported as metrics
(``jobfleet_autoscaler_*``). Rules come from ``JOBFLEET_AUTOSCALE_*`` variables.
Run it with ``jobfleet autoscaler`` (compose profile ``autoscale``); it is the one service
besides the chaos tooling that talks to the Docker socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import signal
import time
from dataclasses import dataclass
from typing import Any

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cluster import metrics
from cluster.connection import connect
from cluster.dockerfleet import DockerFleet, Member, own_project
from cluster.presence import live_workers
from cluster.queue import JobQueue, queue_stats
from cluster.settings import Settings

log = logging.getLogger("jobfleet.autoscaler")


class Rules(BaseSettings):
    """``JOBFLEET_AUTOSCALE_MIN_WORKERS`` and so on."""

    model_config = SettingsConfigDict(env_prefix="JOBFLEET_AUTOSCALE_", extra="ignore")

    min_workers: int = Field(default=1, ge=1)  # one stays: new workers are its clones
    max_workers: int = Field(default=8, ge=1)
    target_jobs_per_worker: float = Field(default=4.0, gt=0)
    cooldown_s: float = Field(default=30.0, ge=0)
    interval_s: float = Field(default=2.0, gt=0)
    stop_timeout_s: int = Field(default=30, ge=0)  # SIGTERM grace: > the workers' drain_s
    project: str | None = None  # compose project; default: this container's own
    service: str = "worker"

    @model_validator(mode="after")
    def _ordered(self) -> Rules:
        if self.max_workers < self.min_workers:
            raise ValueError("max_workers must be at least min_workers")
        return self


@dataclass(frozen=True)
class Decision:
    action: str  # up | down | hold
    current: int
    desired: int
    backlog: int
    reason: str

    @property
    def change(self) -> int:
        return abs(self.desired - self.current) if self.action != "hold" else 0


def desired_workers(backlog: int, rules: Rules) -> int:
    want = math.ceil(backlog / rules.target_jobs_per_worker)
    return max(rules.min_workers, min(rules.max_workers, want))


def decide(current: int, backlog: int, rules: Rules, since_last_action_s: float) -> Decision:
    """What to do now (pure: the loop and the tests call it alike)."""
    desired = desired_workers(backlog, rules)
    if desired == current:
        return Decision("hold", current, desired, backlog, "at target")
    if current < rules.min_workers:
        return Decision("up", current, desired, backlog, "below the minimum")
    if since_last_action_s < rules.cooldown_s:
        wait = rules.cooldown_s - since_last_action_s
        return Decision("hold", current, desired, backlog, f"cooldown, {wait:.0f} s left")
    action = "up" if desired > current else "down"
    return Decision(action, current, desired, backlog, f"backlog {backlog} for {current}")


def pick_victims(members: list[Member], busy_hosts: set[str], count: int) -> list[Member]:
    """Idle workers first, then the highest container numbers (the newest)."""
    ranked = sorted(members, key=lambda m: (m.hostname in busy_hosts, -m.number))
    return ranked[:count]


class Autoscaler:
    def __init__(self, settings: Settings, rules: Rules, fleet: DockerFleet) -> None:
        self.settings = settings
        self.rules = rules
        self.fleet = fleet
        self.redis = connect(settings)
        self.queue = JobQueue(self.redis, prefix=settings.key_prefix)
        self.draining: dict[str, asyncio.Task[None]] = {}  # container id -> its drain
        self.last_action = -math.inf
        self.stopping = asyncio.Event()
        self._last_logged: tuple[str, int, int] | None = None

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        log.info("autoscaler started", extra={"rules": self.rules.model_dump()})
        while not self.stopping.is_set():
            try:
                await self.step()
            except Exception as exc:  # Redis, Docker (its SDK has its own types): next round
                metrics.count_scaler_error()
                log.warning(
                    "autoscaler round failed", extra={"error": f"{type(exc).__name__}: {exc}"}
                )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.rules.interval_s):
                    await self.stopping.wait()
        if self.draining:  # let drains in progress finish: a half-stopped worker is no good
            await asyncio.wait(self.draining.values())
        await self.redis.aclose()
        log.info("autoscaler stopped")
        return 0

    async def step(self) -> Decision:
        """One round: observe, decide, act (scale-down drains continue in the background)."""
        stats = await queue_stats(self.queue, self.settings.queues)
        backlog = sum(s.queued + s.running for s in stats)
        members = [
            m for m in await asyncio.to_thread(self.fleet.members) if m.id not in self.draining
        ]
        since = time.monotonic() - self.last_action
        decision = decide(len(members), backlog, self.rules, since)
        metrics.scaler_state(len(members), len(self.draining), decision.desired, backlog)
        self._log(decision)
        if decision.action == "up":
            self.last_action = time.monotonic()
            await self._grow(decision.change)
        elif decision.action == "down":
            self.last_action = time.monotonic()
            await self._shrink(members, decision.change)
        return decision

    def _log(self, decision: Decision) -> None:
        key = (decision.action, decision.current, decision.desired)
        if decision.action != "hold" or key != self._last_logged:
            log.info(f"scale {decision.action}", extra=vars(decision))
        self._last_logged = key

    async def _grow(self, count: int) -> None:
        for _ in range(count):
            started = time.monotonic()
            name = await asyncio.to_thread(self.fleet.add)
            metrics.scaled("up", time.monotonic() - started)
            log.info("worker added", extra={"container": name})

    async def _shrink(self, members: list[Member], count: int) -> None:
        max_age = max(self.settings.heartbeat_s * 5, 5.0)
        workers = await live_workers(self.redis, self.queue.keys, self.queue.clock(), max_age)
        busy = {w.id.rsplit("-", 2)[0] for w in workers if w.info.get("jobs")}
        for member in pick_victims(members, busy, count):
            log.info(
                "draining worker", extra={"container": member.name, "busy": member.hostname in busy}
            )
            self.draining[member.id] = asyncio.create_task(self._drain(member))

    async def _drain(self, member: Member) -> None:
        started = time.monotonic()
        try:
            await asyncio.to_thread(self.fleet.drain, member, self.rules.stop_timeout_s)
            seconds = time.monotonic() - started
            metrics.scaled("down", seconds)
            log.info(
                "worker removed", extra={"container": member.name, "drain_s": round(seconds, 2)}
            )
        except Exception as exc:  # the docker SDK raises its own types
            metrics.count_scaler_error()
            log.warning("drain failed", extra={"container": member.name, "error": str(exc)})
        finally:
            self.draining.pop(member.id, None)


def main(settings: Settings) -> int:
    """``jobfleet autoscaler``: connect to Docker, find the project, scale until SIGTERM."""
    import docker

    rules = Rules()
    client: Any = docker.from_env()
    project = rules.project or own_project(client)
    if not project:
        raise SystemExit("jobfleet autoscaler: set JOBFLEET_AUTOSCALE_PROJECT (not in compose)")
    metrics.enable("autoscaler")
    metrics.serve(settings.metrics_port)
    fleet = DockerFleet(client, project, rules.service)
    log.info("scaling", extra={"project": project, "service": rules.service})
    return asyncio.run(Autoscaler(settings, rules, fleet).run())
