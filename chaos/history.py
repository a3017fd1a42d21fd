"""The history of a chaos run: typed events, stored one JSON object per line.

Every line has an ``"event"`` tag naming its type:

``meta``       scenario, seed, params, start, run_id, url, project, expect_valid, schema
``submit``     key, job_id|null, outcome ok|fail|info, t0, t1, type, error, status_code,
               tries, origin (workload|nemesis), payload, max_attempts
``fault``      name, target, t_start, t_end, detail{targets:[{name,id,short_id,hostname,...}]},
               error
``sample``     t, queued, running, scheduled, failed (sums over queues of ``GET /queues``),
               workers (``GET /workers``), succeeded (null: completions come from ``final``),
               error (the poll failed: master or Redis down)
``phase``      name, t, detail (workload_start/_end, faults_end, heal, drain_start/_end, readback)
``execution``  job_id, attempt, worker, start, end, outcome, error, log_complete, log_outcome,
               source (api|log|api+log)
``final``      job_id, found (true|false=404|null=unreadable), status, read_at, type, queue,
               attempts, max_attempts, created_at, started_at, finished_at, worker, error,
               payload, http_status

All times are epoch seconds (floats), as in the master's API. The checker needs nothing but
these events, so a saved run can be re-checked at any later time.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, ClassVar, TypeVar

import orjson

SCHEMA_VERSION = 1

SUBMIT_OUTCOMES = frozenset({"ok", "fail", "info"})
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
ACTIVE_STATUSES = frozenset({"queued", "scheduled", "running"})
# Attempt outcomes meaning the job body ran to an end (fenced or not).
ENDED_OUTCOMES = frozenset(
    {"succeeded", "failed", "timeout", "stale_succeeded", "stale_failed", "stale_timeout"}
)
# Attempt outcomes meaning the worker lost / handed back the job before it ended.
LOST_OUTCOMES = frozenset({"lease_expired", "released"})
STALE_OUTCOMES = frozenset({"stale_succeeded", "stale_failed", "stale_timeout"})


class HistoryError(ValueError):
    """A history file that cannot be parsed."""


def now() -> float:
    """Wall-clock epoch seconds: the clock the master stamps its records with."""
    return time.time()


@dataclass(frozen=True)
class Event:
    """Base of every history event; ``EVENT`` is the JSON tag."""

    EVENT: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"event": self.EVENT}
        data.update(dataclasses.asdict(self))
        return data


@dataclass(frozen=True)
class Meta(Event):
    EVENT: ClassVar[str] = "meta"
    scenario: str
    seed: int
    start: float
    params: dict[str, Any] = field(default_factory=dict)
    run_id: str = ""
    url: str = ""
    project: str = ""
    expect_valid: bool = True
    schema: int = SCHEMA_VERSION


@dataclass(frozen=True)
class Submit(Event):
    EVENT: ClassVar[str] = "submit"
    key: str
    job_id: str | None
    outcome: str
    t0: float
    t1: float
    type: str
    error: str | None = None
    status_code: int | None = None
    tries: int = 1
    origin: str = "workload"
    payload: Any = None
    max_attempts: int | None = None


@dataclass(frozen=True)
class Fault(Event):
    EVENT: ClassVar[str] = "fault"
    name: str
    target: str
    t_start: float
    t_end: float
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class Sample(Event):
    EVENT: ClassVar[str] = "sample"
    t: float
    queued: int | None = None
    running: int | None = None
    scheduled: int | None = None
    failed: int | None = None
    succeeded: int | None = None
    workers: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class Phase(Event):
    EVENT: ClassVar[str] = "phase"
    name: str
    t: float
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Execution(Event):
    EVENT: ClassVar[str] = "execution"
    job_id: str
    attempt: int
    worker: str | None
    start: float | None
    end: float | None
    outcome: str | None
    error: str | None = None
    log_complete: bool | None = None
    log_outcome: str | None = None
    source: str = "api"

    @property
    def ended(self) -> bool:
        """True when this attempt's body demonstrably ran to an end: by the API's outcome, or
        by a complete log file whose end record says so (a ``released`` end does not)."""
        if self.outcome in ENDED_OUTCOMES:
            return True
        return self.log_complete is True and self.log_outcome in ENDED_OUTCOMES


@dataclass(frozen=True)
class Final(Event):
    EVENT: ClassVar[str] = "final"
    job_id: str
    found: bool | None
    status: str | None
    read_at: float
    type: str | None = None
    queue: str | None = None
    attempts: int | None = None
    max_attempts: int | None = None
    created_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    worker: str | None = None
    error: str | None = None
    payload: Any = None
    http_status: int | None = None


EVENT_TYPES: dict[str, type[Event]] = {
    cls.EVENT: cls for cls in (Meta, Submit, Fault, Sample, Phase, Execution, Final)
}

E = TypeVar("E", bound=Event)


def event_from_dict(raw: dict[str, Any]) -> Event:
    """Build the typed event for one decoded JSON line (unknown keys are ignored)."""
    tag = raw.get("event")
    cls = EVENT_TYPES.get(tag) if isinstance(tag, str) else None
    if cls is None:
        raise HistoryError(f"unknown event type {tag!r}")
    names = {f.name for f in dataclasses.fields(cls)}
    try:
        return cls(**{k: v for k, v in raw.items() if k in names})
    except TypeError as exc:
        raise HistoryError(f"malformed {tag} event: {exc}") from exc


def encode(event: Event) -> bytes:
    """One JSON line (with trailing newline) for *event*."""
    return orjson.dumps(event.to_dict(), option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS)


@dataclass
class History:
    """All events of a run, in the order they were recorded."""

    events: list[Event] = field(default_factory=list)
    skipped_lines: int = 0

    def add(self, event: Event) -> None:
        self.events.append(event)

    def extend(self, events: Iterable[Event]) -> None:
        self.events.extend(events)

    def of_type(self, cls: type[E]) -> list[E]:
        return [ev for ev in self.events if isinstance(ev, cls)]

    @property
    def meta(self) -> Meta | None:
        metas = self.of_type(Meta)
        return metas[0] if metas else None

    @property
    def submits(self) -> list[Submit]:
        return self.of_type(Submit)

    @property
    def faults(self) -> list[Fault]:
        return self.of_type(Fault)

    @property
    def samples(self) -> list[Sample]:
        return self.of_type(Sample)

    @property
    def phases(self) -> list[Phase]:
        return self.of_type(Phase)

    @property
    def executions(self) -> list[Execution]:
        return self.of_type(Execution)

    @property
    def finals(self) -> list[Final]:
        return self.of_type(Final)

    def phase_time(self, name: str) -> float | None:
        for ph in self.phases:
            if ph.name == name:
                return ph.t
        return None


def iter_lines(lines: Iterable[bytes]) -> Iterator[Event | None]:
    """Decode lines; yields ``None`` for a line that is blank, truncated or unknown."""
    for line in lines:
        if not line.strip():
            continue
        try:
            raw = orjson.loads(line)
        except orjson.JSONDecodeError:
            yield None
            continue
        if not isinstance(raw, dict):
            yield None
            continue
        try:
            yield event_from_dict(raw)
        except HistoryError:
            yield None


def load(path: str | Path, *, strict: bool = False) -> History:
    """Read a history file. A torn last line (crash mid-write) is skipped unless *strict*."""
    history = History()
    with open(path, "rb") as fh:
        for number, event in enumerate(iter_lines(fh), start=1):
            if event is None:
                if strict:
                    raise HistoryError(f"{path}: unreadable event near line {number}")
                history.skipped_lines += 1
                continue
            history.add(event)
    return history


def save(history: History, path: str | Path) -> Path:
    """Write *history* atomically (temp file + rename) and return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        for event in history.events:
            fh.write(encode(event))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)
    return target


class Recorder:
    """Thread-safe sink: keeps the events in memory and appends each one to a file at once,
    so a run that crashes still leaves a checkable (if partial) history behind."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.history = History()
        self.path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self._fh: IO[bytes] | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "wb")  # noqa: SIM115 - closed in close()

    def record(self, event: Event) -> Event:
        line = encode(event)
        with self._lock:
            self.history.add(event)
            if self._fh is not None:
                self._fh.write(line)
                self._fh.flush()
        return event

    def record_all(self, events: Iterable[Event]) -> None:
        for event in events:
            self.record(event)

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None

    def __enter__(self) -> Recorder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
