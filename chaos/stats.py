"""Pure numeric helpers for the checker: percentiles, fault recovery, throughput windows."""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from chaos.history import LOST_OUTCOMES, STALE_OUTCOMES, Execution, Fault

IDENTITY_KEYS = ("name", "id", "short_id", "hostname", "worker_name")
# Outcomes of an attempt that its worker lost: reclaimed, handed back, or finished too late.
INTERRUPTED_OUTCOMES = LOST_OUTCOMES | STALE_OUTCOMES
MIN_IDENTITY_LEN = 4


def percentiles(values: Iterable[float], qs: Sequence[int] = (50, 90, 99)) -> dict[str, Any]:
    """Nearest-rank percentiles plus count/min/mean/max; ``None`` entries when empty."""
    data = sorted(v for v in values if not math.isnan(v))
    out: dict[str, Any] = {"count": len(data)}
    if not data:
        out.update({"min": None, "mean": None, "max": None})
        out.update({f"p{q}": None for q in qs})
        return out
    out.update({"min": data[0], "mean": sum(data) / len(data), "max": data[-1]})
    for q in qs:
        rank = max(1, math.ceil(q / 100 * len(data)))
        out[f"p{q}"] = data[rank - 1]
    return out


def _token_pattern(ident: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(ident)}(?![A-Za-z0-9])")


def worker_matches(worker: str | None, identities: Iterable[str]) -> bool:
    """Does a worker string from the API name one of a container's identities?

    Worker names are implementation-defined (container name, hostname = short container id,
    ``name:pid``...), so an identity matches when it appears in the worker string as a whole
    token: ``jobfleet-worker-1`` does not match ``jobfleet-worker-10``.
    """
    if not worker:
        return False
    return any(ident == worker or _token_pattern(ident).search(worker) for ident in identities)


def fault_identities(fault: Fault, runs_by_job: Mapping[str, Sequence[Execution]]) -> set[str]:
    """Every string that identifies the worker(s) a fault hit."""
    idents: set[str] = set()
    targets = fault.detail.get("targets")
    if isinstance(targets, list):
        for target in targets:
            if not isinstance(target, dict):
                continue
            for key in IDENTITY_KEYS:
                value = target.get(key)
                if isinstance(value, str) and len(value) >= MIN_IDENTITY_LEN:
                    idents.add(value)
    job_id = fault.detail.get("job_id")
    if isinstance(job_id, str) and fault.detail.get("role") == "worker":
        # e.g. the OOM fault: the victim is whichever worker ran the alloc job.
        for run in runs_by_job.get(job_id, ()):
            if run.worker and run.start is not None and run.start <= fault.t_end:
                idents.add(run.worker)
    return idents


def _affected_runs(
    fault: Fault, runs: Sequence[Execution], idents: set[str], slack: float
) -> Iterable[tuple[int, Execution]]:
    for index, run in enumerate(runs):
        if run.outcome not in INTERRUPTED_OUTCOMES or run.start is None:
            continue
        # A multi-target fault hits its targets one after another within [t_start, t_end].
        if run.start > fault.t_end + slack:
            continue
        if run.end is not None and run.end < fault.t_start - slack:
            continue
        if worker_matches(run.worker, idents):
            yield index, run


def fault_recovery(
    fault: Fault,
    runs_by_job: Mapping[str, Sequence[Execution]],
    slack: float = 0.5,
    ignore: Collection[str] = (),
) -> dict[str, Any]:
    """Recovery of the jobs a fault interrupted.

    An affected job had an attempt running on the faulted worker during the fault window that
    its worker lost: ``lease_expired``, ``released``, or ``stale_*`` (a frozen or cut-off
    worker that finished after its lease was reclaimed); it recovered when its next attempt
    started. The recovery time is that start minus the later of the fault's start and the
    lost attempt's. Jobs in *ignore* (the nemesis' own, e.g. the OOM allocator) are skipped.
    """
    idents = fault_identities(fault, runs_by_job)
    times: list[float] = []
    jobs: list[dict[str, Any]] = []
    unrecovered: list[str] = []
    elsewhere = 0
    for job_id, runs in runs_by_job.items():
        if job_id in ignore:
            continue
        for index, run in _affected_runs(fault, runs, idents, slack):
            nxt = next((r for r in runs[index + 1 :] if r.start is not None), None)
            if nxt is None or nxt.start is None:
                unrecovered.append(job_id)
                jobs.append({"job_id": job_id, "attempt": run.attempt, "outcome": run.outcome})
                continue
            delay = nxt.start - max(fault.t_start, run.start or fault.t_start)
            times.append(delay)
            moved = not worker_matches(nxt.worker, idents)
            elsewhere += int(moved)
            jobs.append(
                {
                    "job_id": job_id,
                    "attempt": run.attempt,
                    "outcome": run.outcome,
                    "recovery_s": delay,
                    "next_worker": nxt.worker,
                    "elsewhere": moved,
                }
            )
    return {
        "name": fault.name,
        "target": fault.target,
        "t_start": fault.t_start,
        "t_end": fault.t_end,
        "identities": sorted(idents),
        "affected": len(jobs),
        "recovered": len(times),
        "elsewhere": elsewhere,
        "unrecovered": sorted(unrecovered),
        "recovery_s": percentiles(times),
        "jobs": sorted(jobs, key=lambda j: (j["job_id"], j["attempt"]))[:100],
    }


def merge_intervals(intervals: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for lo, hi in sorted((min(a, b), max(a, b)) for a, b in intervals):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def _clip(
    intervals: Sequence[tuple[float, float]], lo: float, hi: float
) -> list[tuple[float, float]]:
    return [(max(a, lo), min(b, hi)) for a, b in intervals if min(b, hi) > max(a, lo)]


def _count_in(times: Sequence[float], intervals: Sequence[tuple[float, float]]) -> int:
    return sum(1 for t in times if any(a <= t <= b for a, b in intervals))


def _rate(count: int, span: float) -> float | None:
    return count / span if span > 0 else None


def throughput(
    completions: Iterable[float],
    faults: Sequence[Fault],
    start: float | None = None,
    end: float | None = None,
    after_s: float = 10.0,
) -> dict[str, Any]:
    """Completions per second overall, during faults, outside faults, and per fault."""
    times = sorted(completions)
    if not times:
        return {"completions": 0, "window_s": 0.0, "overall": None, "per_fault": []}
    lo = start if start is not None else times[0]
    hi = max(end if end is not None else times[-1], lo)
    span = hi - lo
    windows = _clip(merge_intervals((f.t_start, f.t_end) for f in faults), lo, hi)
    fault_span = sum(b - a for a, b in windows)
    during = _count_in(times, windows)
    last_end = max((f.t_end for f in faults), default=None)
    after_count = sum(1 for t in times if last_end is not None and t > last_end)
    per_fault = []
    for fault in faults:
        won = _count_in(times, [(fault.t_start, fault.t_end)])
        post = _count_in(times, [(fault.t_end, fault.t_end + after_s)])
        per_fault.append(
            {
                "name": fault.name,
                "t_start": fault.t_start,
                "during": _rate(won, fault.t_end - fault.t_start),
                "after": _rate(post, after_s),
            }
        )
    return {
        "completions": len(times),
        "window_s": span,
        "overall": _rate(len(times), span),
        "during_faults": _rate(during, fault_span),
        "outside_faults": _rate(len(times) - during, span - fault_span),
        "after_last_fault": _rate(after_count, hi - last_end) if last_end is not None else None,
        "per_fault": per_fault,
    }
