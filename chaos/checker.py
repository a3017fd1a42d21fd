"""The verdict on a chaos run: a pure function of its history.

In the spirit of Jepsen's total-queue checker, with the history standing in for the queue:

* **lost** - acknowledged (or indeterminate-but-present) jobs that never completed: no final
  record, 404 on read-back, unreadable, or a terminal status without any attempt that ran to
  an end (``succeeded`` status is itself accepted as proof of a finished run).
* **unexpected** - jobs that ran but match no submission (or match a definite rejection).
* **duplicated** - jobs whose body ran to an end more than once, stale (fenced-off) runs
  included, *not* counting the designed retries after a ``failed``/``timeout`` attempt.
* **recovered** - indeterminate (``info``) submissions whose job exists and completed.
* **stuck** - jobs still queued / scheduled / running when read back after the drain deadline.

A run is valid iff lost = unexpected = stuck = 0. Duplicates are allowed (at-least-once).
Also reported, never affecting validity: recovery time per fault (:mod:`chaos.stats`),
throughput during / outside / after faults, latency from submit ack to ``finished_at``, jobs
that ended ``failed``, and notes (faults that errored, SIGTERMs that needed a SIGKILL...).
Jobs the nemesis itself submitted (``origin != "workload"``, e.g. the OOM allocator) are
poison by design and exempt from lost / stuck.

Indeterminate submissions carry no job id; they are matched to otherwise-unclaimed jobs by
``type`` + identical ``payload`` + ``created_at`` within the submission's [t0, t1] window
(payloads are unique per submission by construction of the workload).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from chaos.history import (
    ACTIVE_STATUSES,
    ENDED_OUTCOMES,
    STALE_OUTCOMES,
    Execution,
    Final,
    History,
    Submit,
)
from chaos.stats import fault_recovery, percentiles, throughput

RETRY_OUTCOMES = frozenset({"failed", "timeout"})
MAX_LISTED = 200


@dataclass
class CheckResult:
    """Everything the checker concluded; ``to_dict`` is JSON-ready."""

    valid: bool
    counts: dict[str, int]
    lost: list[dict[str, Any]] = field(default_factory=list)
    unexpected: list[dict[str, Any]] = field(default_factory=list)
    duplicated: list[dict[str, Any]] = field(default_factory=list)
    recovered: list[dict[str, Any]] = field(default_factory=list)
    stuck: list[dict[str, Any]] = field(default_factory=list)
    indeterminate_absent: list[str] = field(default_factory=list)
    failed_jobs: list[dict[str, Any]] = field(default_factory=list)
    recovery: list[dict[str, Any]] = field(default_factory=list)
    throughput: dict[str, Any] = field(default_factory=dict)
    latency: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Claims:
    by_job: dict[str, Submit] = field(default_factory=dict)
    shared: list[Submit] = field(default_factory=list)
    via_info: set[str] = field(default_factory=set)
    absent_info: list[Submit] = field(default_factory=list)


def _payload_key(kind: str | None, payload: Any) -> tuple[str, bytes]:
    return (kind or "", orjson.dumps(payload, option=orjson.OPT_SORT_KEYS))


def _index_finals(finals: Iterable[Final]) -> dict[str, Final]:
    out: dict[str, Final] = {}
    for final in finals:
        out[final.job_id] = final  # the last read-back wins
    return out


def _index_runs(executions: Iterable[Execution]) -> dict[str, list[Execution]]:
    out: dict[str, list[Execution]] = defaultdict(list)
    for run in executions:
        out[run.job_id].append(run)
    for runs in out.values():
        runs.sort(key=lambda r: (r.attempt, r.start if r.start is not None else 0.0))
    return dict(out)


def _claim_acknowledged(submits: Sequence[Submit], claims: _Claims) -> None:
    for sub in submits:
        if sub.job_id is None or sub.outcome == "fail":
            continue
        if sub.job_id in claims.by_job and claims.by_job[sub.job_id].key != sub.key:
            claims.shared.append(sub)  # two keys, one job: the second submission vanished
            continue
        claims.by_job[sub.job_id] = sub
        if sub.outcome == "info":
            claims.via_info.add(sub.job_id)


def _claim_indeterminate(
    submits: Sequence[Submit], finals: Mapping[str, Final], claims: _Claims, skew: float
) -> None:
    pool: dict[tuple[str, bytes], list[Final]] = defaultdict(list)
    for final in finals.values():
        if final.found and final.job_id not in claims.by_job:
            pool[_payload_key(final.type, final.payload)].append(final)
    for bucket in pool.values():
        bucket.sort(key=lambda f: f.created_at if f.created_at is not None else 0.0)
    for sub in sorted(submits, key=lambda s: s.t0):
        if sub.outcome != "info" or sub.job_id is not None:
            continue
        bucket = pool.get(_payload_key(sub.type, sub.payload), [])
        match = next(
            (
                f
                for f in bucket
                if f.created_at is None or sub.t0 - skew <= f.created_at <= sub.t1 + skew
            ),
            None,
        )
        if match is None:
            claims.absent_info.append(sub)
            continue
        bucket.remove(match)
        claims.by_job[match.job_id] = sub
        claims.via_info.add(match.job_id)


def job_verdict(final: Final | None, runs: Sequence[Execution]) -> tuple[str, str]:
    """(``completed`` | ``lost`` | ``stuck``, reason) for one job that must run."""
    if final is None:
        return "lost", "no_final_record"
    if final.found is False:
        return "lost", "missing"
    if final.found is None:
        return "lost", "unreadable"
    if final.status in ACTIVE_STATUSES:
        return "stuck", final.status or ""
    if final.status == "succeeded":
        return "completed", "succeeded"
    if final.status in ("failed", "cancelled"):
        if any(run.ended for run in runs):
            return "completed", final.status
        return "lost", f"{final.status}_without_finished_execution"
    return "lost", f"unknown_status:{final.status}"


def _body_runs(runs: Sequence[Execution]) -> list[Execution]:
    """Runs that reached an end and were not a designed retry after a failure."""
    return [run for run in runs if run.ended and run.outcome not in RETRY_OUTCOMES]


def _job_entry(
    job_id: str, sub: Submit | None, final: Final | None, **extra: Any
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "job_id": job_id,
        "key": sub.key if sub else None,
        "type": (sub.type if sub else None) or (final.type if final else None),
        "status": final.status if final else None,
        "attempts": final.attempts if final else None,
    }
    entry.update(extra)
    return entry


def _latency(
    claims: _Claims, finals: Mapping[str, Final], completed: Iterable[str]
) -> dict[str, Any]:
    values: list[float] = []
    for job_id in completed:
        sub, final = claims.by_job[job_id], finals.get(job_id)
        if sub.outcome == "ok" and final is not None and final.finished_at is not None:
            values.append(final.finished_at - sub.t1)
    return percentiles(values)


def _classify_claimed(
    claims: _Claims,
    finals: Mapping[str, Final],
    runs_by_job: Mapping[str, Sequence[Execution]],
    result: CheckResult,
) -> list[str]:
    completed: list[str] = []
    for job_id, sub in sorted(claims.by_job.items(), key=lambda kv: kv[1].t0):
        if sub.origin != "workload":
            continue  # fault-injection jobs (e.g. the OOM allocator) are poison by design
        final, runs = finals.get(job_id), runs_by_job.get(job_id, [])
        verdict, reason = job_verdict(final, runs)
        via = "info" if job_id in claims.via_info else "ok"
        if verdict == "lost":
            result.lost.append(_job_entry(job_id, sub, final, reason=reason, via=via))
        elif verdict == "stuck":
            result.stuck.append(_job_entry(job_id, sub, final, reason=reason, via=via))
        else:
            completed.append(job_id)
            if via == "info":
                result.recovered.append(_job_entry(job_id, sub, final))
            if final is not None and final.status == "failed":
                result.failed_jobs.append(_job_entry(job_id, sub, final, error=final.error))
    for sub in claims.shared:
        result.lost.append(_job_entry(sub.job_id or "", sub, None, reason="id_shared", via="ok"))
    return completed


def _find_unexpected(
    claims: _Claims,
    finals: Mapping[str, Final],
    runs_by_job: Mapping[str, Sequence[Execution]],
    result: CheckResult,
) -> int:
    unclaimed_idle = 0
    for job_id in sorted(set(finals) | set(runs_by_job)):
        if job_id in claims.by_job:
            continue
        final, runs = finals.get(job_id), runs_by_job.get(job_id, [])
        ran = any(run.ended for run in runs) or (final is not None and final.status == "succeeded")
        if ran:
            result.unexpected.append(_job_entry(job_id, None, final))
        elif final is None or final.found:
            unclaimed_idle += 1
    return unclaimed_idle


def _find_duplicates(runs_by_job: Mapping[str, Sequence[Execution]], result: CheckResult) -> int:
    retried = 0
    for job_id, runs in sorted(runs_by_job.items()):
        ended = [run for run in runs if run.ended]
        retried += int(len(ended) > 1)
        body = _body_runs(runs)
        if len(body) > 1:
            result.duplicated.append(
                {
                    "job_id": job_id,
                    "runs": len(body),
                    "outcomes": [run.outcome for run in body],
                    "workers": [run.worker for run in body],
                    "stale": sum(1 for run in body if run.outcome in STALE_OUTCOMES),
                }
            )
    return retried


def check(history: History, *, match_skew_s: float = 2.0) -> CheckResult:
    """Check a history; see the module docstring for the definitions."""
    finals = _index_finals(history.finals)
    runs_by_job = _index_runs(history.executions)
    submits = history.submits
    claims = _Claims()
    _claim_acknowledged(submits, claims)
    _claim_indeterminate(submits, finals, claims, match_skew_s)

    result = CheckResult(valid=False, counts={})
    completed = _classify_claimed(claims, finals, runs_by_job, result)
    unclaimed_idle = _find_unexpected(claims, finals, runs_by_job, result)
    retried = _find_duplicates(runs_by_job, result)
    result.indeterminate_absent = [sub.key for sub in claims.absent_info]

    meta = history.meta
    faults = history.faults
    own = {s.job_id for s in submits if s.origin != "workload" and s.job_id}
    result.recovery = [fault_recovery(fault, runs_by_job, ignore=own) for fault in faults]
    completions = [
        f.finished_at for j in completed if (f := finals.get(j)) and f.finished_at is not None
    ]
    result.throughput = throughput(completions, faults, start=meta.start if meta else None)
    result.latency = _latency(claims, finals, completed)

    workload = [s for s in submits if s.origin == "workload"]
    result.counts = {
        "submitted": len(workload),
        "ok": sum(1 for s in workload if s.outcome == "ok"),
        "fail": sum(1 for s in workload if s.outcome == "fail"),
        "info": sum(1 for s in workload if s.outcome == "info"),
        "completed": len(completed),
        "lost": len(result.lost),
        "unexpected": len(result.unexpected),
        "duplicated": len(result.duplicated),
        "recovered": len(result.recovered),
        "stuck": len(result.stuck),
        "indeterminate_absent": len(result.indeterminate_absent),
        "failed_jobs": len(result.failed_jobs),
        "retried": retried,
        "unclaimed_not_run": unclaimed_idle,
        "executions": len(history.executions),
        "stale_runs": sum(1 for r in history.executions if r.outcome in STALE_OUTCOMES),
        "faults": len(faults),
        "fault_errors": sum(1 for f in faults if f.error),
        "nemesis_jobs": sum(1 for s in submits if s.origin != "workload"),
    }
    result.valid = not (result.lost or result.unexpected or result.stuck)
    result.notes = _notes(history, result)
    return result


KNOWN_OUTCOMES = ENDED_OUTCOMES | {"running", "lease_expired", "released"}


def _fault_notes(history: History, result: CheckResult) -> list[str]:
    notes: list[str] = []
    if result.counts["fault_errors"]:
        notes.append(f"{result.counts['fault_errors']} fault(s) reported an injection error")
    for fault in history.faults:
        codes = fault.detail.get("exit_codes")
        killed = sorted(n for n, c in codes.items() if c == 137) if isinstance(codes, dict) else []
        if killed:
            notes.append(
                f"{fault.name}: SIGTERM did not stop {', '.join(killed)} within the grace "
                "period (SIGKILLed, exit 137)"
            )
    worker_faults = [
        rec
        for fault, rec in zip(history.faults, result.recovery, strict=True)
        if fault.detail.get("role") == "worker"
        or any(t.get("service") == "worker" for t in fault.detail.get("targets") or [])
    ]
    if worker_faults and not any(rec["affected"] for rec in worker_faults):
        notes.append("no worker fault interrupted a running job: the run proves little")
    return notes


def _notes(history: History, result: CheckResult) -> list[str]:
    notes: list[str] = []
    if history.meta is None:
        notes.append("history has no meta event")
    if result.counts["ok"] and not history.finals:
        notes.append("history has no read-back (final) events: the run was cut short?")
    if history.skipped_lines:
        notes.append(f"{history.skipped_lines} unreadable line(s) skipped while loading")
    unknown = sorted({r.outcome for r in history.executions if r.outcome} - KNOWN_OUTCOMES)
    if unknown:
        notes.append(f"unknown attempt outcomes: {unknown}")
    log_only = sum(1 for r in history.executions if r.source == "log")
    if log_only:
        notes.append(f"{log_only} attempt(s) found only on the log volume, not in the API")
    notes += _fault_notes(history, result)
    for name in ("lost", "unexpected", "duplicated", "recovered", "stuck"):
        items: list[dict[str, Any]] = getattr(result, name)
        if len(items) > MAX_LISTED:
            notes.append(f"{name}: {len(items)} entries, listing truncated in reports")
    return notes
