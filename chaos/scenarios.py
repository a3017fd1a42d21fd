"""Named scenarios: a fault schedule + a workload + a drain deadline, all from a seed.

``build(name, seed)`` is a pure function: the same name, seed, job count and lease always
give the same :class:`Scenario` (print it with ``python -m chaos plan``). Fault targets are
drawn as indices into the sorted list of running workers, resolved at run time.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from chaos.faults import SURVIVABLE
from chaos.workload import DEFAULT_MIX

Params = dict[str, float | int | str]

# Rough wall time of each fault (lease 5 s), used to space a schedule so faults don't queue.
EST_DURATION_S: dict[str, float] = {
    "kill": 3.0,
    "stop": 5.0,
    "pause": 12.0,
    "partition": 12.0,
    "oom": 12.0,
    "kill_all": 5.0,
    "scale": 14.0,
    "redis_restart": 6.0,
    "redis_kill": 6.0,
    "master_kill": 8.0,
    "redis_amnesia": 14.0,
}


class ScenarioError(KeyError):
    """Unknown scenario name."""


@dataclass(frozen=True)
class FaultStep:
    at_s: float
    kind: str
    params: Params = field(default_factory=dict)

    def describe(self) -> str:
        args = " ".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"t+{self.at_s:6.1f}s  {self.kind:<13} {args}".rstrip()


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    seed: int
    jobs: int
    workload_s: float
    drain_s: float
    faults: tuple[FaultStep, ...]
    mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    max_attempts: int = 5
    concurrency: int = 16
    lease_s: float = 5.0
    expect_valid: bool = True

    @property
    def rate(self) -> float:
        """Submissions per second needed to spread ``jobs`` over ``workload_s``."""
        return max(self.jobs / self.workload_s, 0.1)

    @property
    def fault_kinds(self) -> set[str]:
        return {step.kind for step in self.faults}

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["faults"] = [asdict(step) for step in self.faults]
        return data

    def plan(self) -> str:
        head = (
            f"scenario {self.name} seed={self.seed} jobs={self.jobs} rate={self.rate:.1f}/s "
            f"workload={self.workload_s:.0f}s drain<={self.drain_s:.0f}s lease={self.lease_s}s "
            f"expect={'valid' if self.expect_valid else 'INVALID'}"
        )
        return "\n".join([head, *("  " + step.describe() for step in self.faults)])


@dataclass(frozen=True)
class _Shape:
    description: str
    jobs: int
    drain_s: float
    steps: Callable[[random.Random, float], list[tuple[str, Params]]]
    gap_s: float = 5.0
    expect_valid: bool = True


def _target(rng: random.Random) -> int:
    return rng.randrange(1_000_000)


def _hold(rng: random.Random) -> float:
    return round(rng.uniform(0.5, 3.0), 2)


def _outage(rng: random.Random, lease: float) -> float:
    return round(rng.uniform(lease + 2.0, 2 * lease + 2.0), 2)


def _params(kind: str, rng: random.Random, lease: float) -> Params:
    """Seeded parameters for one fault of *kind*."""
    target = _target(rng)
    if kind == "kill":
        return {"target": target, "hold_s": _hold(rng)}
    if kind in ("kill_all", "redis_kill", "master_kill"):
        return {"hold_s": _hold(rng)}
    if kind == "stop":
        return {"target": target, "grace_s": 30, "hold_s": _hold(rng)}
    if kind in ("pause", "partition"):
        return {"target": target, "duration_s": _outage(rng, lease)}
    if kind == "scale":
        return {"target": target, "count": 2, "hold_s": round(rng.uniform(6.0, 12.0), 2)}
    if kind == "oom":
        return {"mb": rng.choice((200, 256)), "seconds": 5, "timeout_s": 30}
    if kind == "redis_amnesia":
        return {"window_s": 8.0, "hold_s": 1.0}
    if kind == "redis_restart":
        return {"grace_s": 10}
    raise ValueError(f"no parameters known for fault {kind!r}")


def _repeat(kind: str, times: int) -> Callable[[random.Random, float], list[tuple[str, Params]]]:
    def steps(rng: random.Random, lease: float) -> list[tuple[str, Params]]:
        return [(kind, _params(kind, rng, lease)) for _ in range(times)]

    return steps


def _sequence(*kinds: str) -> Callable[[random.Random, float], list[tuple[str, Params]]]:
    def steps(rng: random.Random, lease: float) -> list[tuple[str, Params]]:
        return [(kind, _params(kind, rng, lease)) for kind in kinds]

    return steps


def _random_steps(rng: random.Random, lease: float) -> list[tuple[str, Params]]:
    return [
        (kind, _params(kind, rng, lease))
        for kind in (rng.choice(SURVIVABLE) for _ in range(rng.randint(4, 8)))
    ]


SHAPES: dict[str, _Shape] = {
    "baseline": _Shape("no faults: the workload alone must complete", 200, 60.0, _sequence()),
    "kill": _Shape("SIGKILL a random worker, 4 times", 300, 60.0, _repeat("kill", 4)),
    "stop": _Shape("SIGTERM (graceful stop) a worker, 3 times", 300, 90.0, _repeat("stop", 3)),
    "pause": _Shape("freeze a worker past its lease, twice", 300, 60.0, _repeat("pause", 2)),
    "partition": _Shape(
        "disconnect a worker from the network past its lease, twice",
        300,
        60.0,
        _repeat("partition", 2),
    ),
    "oom": _Shape("alloc job over a worker's memory limit, twice", 300, 60.0, _repeat("oom", 2)),
    "kill-all": _Shape("SIGKILL every worker at once, twice", 300, 60.0, _repeat("kill_all", 2)),
    "scale": _Shape("stop 2 workers under load, then start them", 300, 60.0, _repeat("scale", 2)),
    "redis": _Shape(
        "restart Redis, then SIGKILL Redis",
        300,
        90.0,
        _sequence("redis_restart", "redis_kill"),
    ),
    "master": _Shape(
        "SIGKILL the master while clients submit, 3 times", 300, 60.0, _repeat("master_kill", 3)
    ),
    "smoke": _Shape(
        "every survivable fault once, a few hundred jobs, a few minutes",
        600,
        90.0,
        _sequence(*SURVIVABLE),
    ),
    "random": _Shape("4-8 faults drawn from the seed", 400, 90.0, _random_steps),
    "negative-control": _Shape(
        "NEGATIVE CONTROL: Redis persistence off, then SIGKILL Redis: must be INVALID",
        300,
        60.0,
        _sequence("redis_amnesia"),
        expect_valid=False,
    ),
}


def names() -> list[str]:
    return list(SHAPES)


def build(name: str, seed: int = 0, *, jobs: int | None = None, lease_s: float = 5.0) -> Scenario:
    """The scenario *name* for *seed*; *jobs* overrides its default job count."""
    shape = SHAPES.get(name)
    if shape is None:
        raise ScenarioError(f"unknown scenario {name!r}; known: {', '.join(SHAPES)}")
    rng = random.Random(f"{name}:{seed}")
    scale = lease_s / 5.0
    at, faults = shape.gap_s, []
    for kind, params in shape.steps(rng, lease_s):
        faults.append(FaultStep(round(at, 2), kind, params))
        at += EST_DURATION_S[kind] * max(scale, 1.0) + rng.uniform(shape.gap_s / 2, shape.gap_s)
    return Scenario(
        name=name,
        description=shape.description,
        seed=seed,
        jobs=shape.jobs if jobs is None else jobs,
        workload_s=round(max(at + shape.gap_s, 20.0), 2),
        drain_s=shape.drain_s,
        faults=tuple(faults),
        lease_s=lease_s,
        expect_valid=shape.expect_valid,
    )
