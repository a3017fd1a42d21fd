"""Per-attempt job log files on the shared log volume, and reading them back.

Each attempt writes ``<log_dir>/<id[:2]>/<id>.<attempt>.log``: JSON lines, a ``start`` record,
whatever the task logs, and an ``end`` record with outcome and duration. A file without its
``end`` record is incomplete (its worker died mid-attempt); readers report it as such, so a
crash never leaves a file that looks complete. Writes use O_APPEND on one descriptor, so
records never interleave. Attempts write distinct files, so a stale
worker can never overwrite the log of the attempt that replaced it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import stat
import time
from pathlib import Path
from typing import Any

import orjson

from cluster.models import JOB_ID_PATTERN

_JOB_ID = re.compile(JOB_ID_PATTERN)
log = logging.getLogger("jobfleet.worker")


def attempt_path(log_dir: Path | str, job_id: str, attempt: int) -> str:
    if not _JOB_ID.fullmatch(job_id):  # fullmatch: `$` alone would let a trailing newline in
        raise ValueError(f"invalid job id {job_id!r}")
    return f"{log_dir}/{job_id[:2]}/{job_id}.{attempt}.log"


class AttemptLog:
    """The log file of one attempt.

    Records are buffered until the task logs something or the attempt ends, then written
    through: a job that logs nothing costs one open, one write and one close. An attempt whose
    worker dies before either leaves no file or a file without its ``end`` record.
    """

    __slots__ = ("_broken", "_buffer", "_fd", "_path", "_started")

    def __init__(self, log_dir: Path | str, job_id: str, attempt: int, worker: str) -> None:
        self._path = attempt_path(log_dir, job_id, attempt)
        self._fd: int | None = None
        self._broken = False
        self._started = time.monotonic()
        self._buffer = [_record("start", {"job": job_id, "attempt": attempt, "worker": worker})]

    def write(self, event: str, **fields: Any) -> None:
        """Append a record and write it through (task logs are visible while the job runs)."""
        self._buffer.append(_record(event, fields))
        self._flush()

    def end(self, outcome: str, error: str | None = None) -> None:
        """Add the end record and write everything now (see :meth:`seal` to defer the write)."""
        self.seal(outcome, error)
        self.commit()

    def seal(self, outcome: str, error: str | None = None) -> None:
        """Add the end record without writing it yet: the worker writes the logs of a whole
        batch of attempts at once, before it records their outcomes."""
        duration = time.monotonic() - self._started
        self._buffer.append(
            _record("end", {"outcome": outcome, "duration_s": duration, "error": error})
        )

    def commit(self) -> None:
        """Write what is buffered and close the file."""
        self._flush()
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def _flush(self) -> None:
        """Best effort: a full or broken log volume costs the log, never the attempt (which
        would otherwise lose its outcome, or fail a task for logging). The file, if any, then
        reads as incomplete."""
        records, self._buffer = b"".join(self._buffer), []
        if self._broken:
            return
        try:
            if self._fd is None:
                self._fd = _open_append(self._path)
            os.write(self._fd, records)
        except OSError as exc:
            self._broken = True
            log.warning("attempt log not written", extra={"path": self._path, "error": str(exc)})


def _record(event: str, fields: dict[str, Any]) -> bytes:
    record = {"t": time.time(), "event": event, **fields}
    try:
        return orjson.dumps(record, default=str, option=orjson.OPT_APPEND_NEWLINE)
    except TypeError:  # lone surrogates (undecodable file names...): orjson refuses them,
        # the json module escapes them as \udcff, so the text stays visible
        return json.dumps(record, default=str).encode() + b"\n"


def _open_append(path: str) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
    try:
        return os.open(path, flags, 0o644)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return os.open(path, flags, 0o644)


def read_job_logs(log_dir: Path, job_id: str) -> list[dict[str, Any]]:
    """Every attempt's records, attempt by attempt, each with a ``complete`` flag."""
    folder = Path(attempt_path(log_dir, job_id, 0)).parent
    attempts: list[dict[str, Any]] = []
    if folder.is_symlink():  # see _read_own_file
        return attempts
    for path in folder.glob(f"{job_id}.*.log"):
        number = path.name.split(".")[1]
        data = _read_own_file(path) if number.isdigit() else None
        if data is None:
            continue
        lines = [_parse(line) for line in data.splitlines() if line.strip()]
        complete = bool(lines) and lines[-1].get("event") == "end"
        attempts.append({"attempt": int(number), "complete": complete, "lines": lines})
    return sorted(attempts, key=lambda a: int(a["attempt"]))


def _read_own_file(path: Path) -> bytes | None:
    """The bytes of a regular file, None for anything else: a symlink (or FIFO, device) that
    someone planted in the shared volume must not make the master read outside it, or hang."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return file.read()


def _parse(line: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        try:  # escaped lone surrogates (see _record): keep them as visible escape text
            value = orjson.loads(re.sub(rb"\\u(d[89a-f][0-9a-f]{2})", rb"\\\\u\1", line))
        except ValueError:
            return {"event": "corrupt", "raw": line.decode("utf-8", "replace")}
    return value if isinstance(value, dict) else {"event": "corrupt", "raw": str(value)}
