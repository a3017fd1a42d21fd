"""Watching the cluster over HTTP: queue samples during a run, drain, and the read-back of
every job (API attempt history + log-volume completeness) after it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from chaos.history import Event, Execution, Final, Sample, now

QUEUE_FIELDS = ("queued", "running", "scheduled", "failed")
MAX_ERROR_CHARS = 500


def _f(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _i(value: object) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _s(value: object, limit: int = MAX_ERROR_CHARS) -> str | None:
    return None if value is None else str(value)[:limit]


def parse_queues(body: object) -> dict[str, int]:
    """Sum the counters of ``GET /queues`` over every queue."""
    queues = body.get("queues") if isinstance(body, dict) else body
    totals = dict.fromkeys(QUEUE_FIELDS, 0)
    for queue in queues if isinstance(queues, list) else []:
        if isinstance(queue, dict):
            for name in QUEUE_FIELDS:
                totals[name] += _i(queue.get(name)) or 0
    return totals


def _count_workers(body: object) -> int | None:
    items = body.get("workers") if isinstance(body, dict) else body
    return len(items) if isinstance(items, list | dict) else None


def sample_once(http: httpx.Client, *, with_workers: bool = True) -> Sample:
    t = now()
    try:
        resp = http.get("/queues", timeout=2.0)
        resp.raise_for_status()
        totals = parse_queues(resp.json())
    except (httpx.HTTPError, ValueError) as exc:
        return Sample(t=t, error=f"{type(exc).__name__}: {exc}"[:200])
    workers = None
    if with_workers:
        try:
            wresp = http.get("/workers", timeout=2.0)
            workers = _count_workers(wresp.json()) if wresp.is_success else None
        except (httpx.HTTPError, ValueError):
            workers = None
    return Sample(
        t=t,
        queued=totals["queued"],
        running=totals["running"],
        scheduled=totals["scheduled"],
        failed=totals["failed"],
        workers=workers,
    )


class Sampler:
    """Background thread recording a ``Sample`` every *interval_s*."""

    def __init__(
        self, http: httpx.Client, sink: Callable[[Sample], object], interval_s: float = 0.5
    ) -> None:
        self.http, self.sink, self.interval_s = http, sink, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="chaos-sampler", daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.sink(sample_once(self.http))
            self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def drain(
    http: httpx.Client, deadline: float, stop: threading.Event, quiet: int = 2
) -> tuple[bool, Sample | None]:
    """Wait until no job is queued, scheduled or running (*quiet* polls in a row) or until
    the epoch *deadline*. Returns (drained, last sample)."""
    calm, last = 0, None
    while now() < deadline and not stop.is_set():
        last = sample_once(http, with_workers=False)
        busy = sum((getattr(last, n) or 0) for n in ("queued", "running", "scheduled"))
        calm = calm + 1 if last.error is None and busy == 0 else 0
        if calm >= quiet:
            return True, last
        stop.wait(1.0)
    return False, last


class Reader:
    """Reads jobs back from the master after a run."""

    def __init__(self, http: httpx.Client, *, tries: int = 5, concurrency: int = 8) -> None:
        self.http, self.tries, self.concurrency = http, tries, concurrency

    def _get(self, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
        error: Exception | None = None
        for attempt in range(self.tries):
            try:
                resp = self.http.get(path, params=params, timeout=10.0)
                if resp.status_code < 500:
                    return resp
                error = httpx.HTTPStatusError(
                    f"http {resp.status_code}", request=resp.request, response=resp
                )
            except httpx.TransportError as exc:
                error = exc
            time.sleep(min(2.0, 0.25 * 2**attempt))
        assert error is not None
        raise error

    def list_since(
        self, since: float, *, limit: int = 500, max_jobs: int = 200_000
    ) -> tuple[list[str], dict[str, Any]]:
        """Ids of every job created at or after *since*, from ``GET /jobs`` pages (newest
        first, so paging stops at the first page that reaches older jobs)."""
        ids: list[str] = []
        info: dict[str, Any] = {"pages": 0, "scanned": 0, "error": None}
        cursor: object = None
        while info["scanned"] < max_jobs:
            params: dict[str, Any] = {"limit": limit}
            if cursor is not None:
                params["cursor"] = cursor
            try:
                resp = self._get("/jobs", params)
                resp.raise_for_status()
                body = resp.json()
            except (httpx.HTTPError, ValueError) as exc:
                info["error"] = f"{type(exc).__name__}: {exc}"[:300]
                break
            jobs = body.get("jobs") if isinstance(body, dict) else None
            page = [j for j in jobs if isinstance(j, dict)] if isinstance(jobs, list) else []
            info["pages"] += 1
            info["scanned"] += len(page)
            created = [(_f(j.get("created_at")), j.get("id")) for j in page]
            ids += [str(i) for c, i in created if c is not None and c >= since and i is not None]
            reached_older = any(c is not None and c < since for c, _ in created)
            cursor = body.get("next_cursor") if isinstance(body, dict) else None
            if cursor is None or not page or reached_older:
                break
        return ids, info

    def read_job(self, job_id: str) -> list[Event]:
        """The ``final`` event of one job followed by its ``execution`` events."""
        read_at = now()
        try:
            resp = self._get(f"/jobs/{job_id}")
        except httpx.HTTPError as exc:
            return [Final(job_id, None, None, read_at, error=f"read-back failed: {exc}"[:300])]
        if resp.status_code == 404:
            return [Final(job_id, False, None, read_at, http_status=404)]
        try:
            resp.raise_for_status()
            record = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            return [
                Final(job_id, None, None, read_at, http_status=resp.status_code, error=str(exc))
            ]
        if not isinstance(record, dict):
            return [Final(job_id, None, None, read_at, error="job record is not an object")]
        return [final_from_record(job_id, record, read_at), *self._executions(job_id, record)]

    def _executions(self, job_id: str, record: dict[str, Any]) -> list[Execution]:
        try:
            resp = self._get(f"/jobs/{job_id}/logs")
            logs = resp.json() if resp.is_success else None
        except (httpx.HTTPError, ValueError):
            logs = None
        return merge_executions(job_id, record.get("history"), logs)

    def read_all(self, ids: Iterable[str]) -> Iterator[list[Event]]:
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="chaos-read") as pool:
            yield from pool.map(self.read_job, ids)


def final_from_record(job_id: str, record: dict[str, Any], read_at: float) -> Final:
    return Final(
        job_id=job_id,
        found=True,
        status=_s(record.get("status")),
        read_at=read_at,
        type=_s(record.get("type")),
        queue=_s(record.get("queue")),
        attempts=_i(record.get("attempts")),
        max_attempts=_i(record.get("max_attempts")),
        created_at=_f(record.get("created_at")),
        started_at=_f(record.get("started_at")),
        finished_at=_f(record.get("finished_at")),
        worker=_s(record.get("worker")),
        error=_s(record.get("error")),
        payload=record.get("payload"),
        http_status=200,
    )


def _log_attempts(logs: object) -> dict[int, tuple[bool | None, str | None]]:
    """attempt -> (complete flag, outcome of the end record) from ``GET /jobs/{id}/logs``."""
    out: dict[int, tuple[bool | None, str | None]] = {}
    attempts = logs.get("attempts") if isinstance(logs, dict) else None
    for item in attempts if isinstance(attempts, list) else []:
        number = _i(item.get("attempt")) if isinstance(item, dict) else None
        if number is None:
            continue
        lines = item.get("lines")
        ends = [
            ln
            for ln in (lines if isinstance(lines, list) else [])
            if isinstance(ln, dict) and ln.get("event") == "end"
        ]
        complete = item.get("complete")
        out[number] = (
            complete if isinstance(complete, bool) else None,
            _s(ends[-1].get("outcome")) if ends else None,
        )
    return out


def merge_executions(job_id: str, history: object, logs: object) -> list[Execution]:
    """One execution per attempt: API history, completed with the log volume's evidence.
    Attempts only the log volume knows about are kept too (``source="log"``)."""
    by_log = _log_attempts(logs)
    runs: list[Execution] = []
    seen: set[int] = set()
    for item in history if isinstance(history, list) else []:
        if not isinstance(item, dict) or (number := _i(item.get("attempt"))) is None:
            continue
        seen.add(number)
        complete, log_outcome = by_log.get(number, (None, None))
        runs.append(
            Execution(
                job_id=job_id,
                attempt=number,
                worker=_s(item.get("worker")),
                start=_f(item.get("started_at")),
                end=_f(item.get("finished_at")),
                outcome=_s(item.get("outcome")),
                error=_s(item.get("error")),
                log_complete=complete,
                log_outcome=log_outcome,
                source="api+log" if number in by_log else "api",
            )
        )
    for number, (complete, log_outcome) in sorted(by_log.items()):
        if number not in seen:
            runs.append(
                Execution(
                    job_id, number, None, None, None, None, None, complete, log_outcome, "log"
                )
            )
    return runs
