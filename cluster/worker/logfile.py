"""Per-attempt job log files on the shared log volume, and reading them back.

Each attempt writes ``<log_dir>/<id[:2]>/<id>.<attempt>.log``: JSON lines, a ``start`` record,
whatever the task logs, and an ``end`` record with outcome and duration. A file without its
``end`` record is incomplete (its worker died mid-attempt); readers report it as such, so a
crash never leaves a file that looks complete. Attempts write distinct files, so a stale
worker can never overwrite the log of the attempt that replaced it.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import IO, Any

import orjson

from cluster.models import JOB_ID_PATTERN

_JOB_ID = re.compile(JOB_ID_PATTERN)


def attempt_path(log_dir: Path, job_id: str, attempt: int) -> Path:
    if not _JOB_ID.match(job_id):
        raise ValueError(f"invalid job id {job_id!r}")
    return log_dir / job_id[:2] / f"{job_id}.{attempt}.log"


class AttemptLog:
    """The log file of one attempt, open from start to end."""

    def __init__(self, log_dir: Path, job_id: str, attempt: int, worker: str) -> None:
        path = attempt_path(log_dir, job_id, attempt)
        try:
            self._file: IO[bytes] = open(path, "ab")  # noqa: SIM115 - closed by end()
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "ab")  # noqa: SIM115
        self._started = time.monotonic()
        self.write("start", job=job_id, attempt=attempt, worker=worker)
        self._file.flush()

    def write(self, event: str, **fields: Any) -> None:
        record = {"t": round(time.time(), 4), "event": event, **fields}
        self._file.write(orjson.dumps(record, default=str) + b"\n")

    def end(self, outcome: str, error: str | None = None) -> None:
        duration = round(time.monotonic() - self._started, 6)
        self.write("end", outcome=outcome, duration_s=duration, error=error)
        self._file.close()


def read_job_logs(log_dir: Path, job_id: str) -> list[dict[str, Any]]:
    """Every attempt's records, attempt by attempt, each with a ``complete`` flag."""
    folder = attempt_path(log_dir, job_id, 0).parent
    attempts: list[dict[str, Any]] = []
    for path in folder.glob(f"{job_id}.*.log"):
        number = path.name.split(".")[1]
        if not number.isdigit():
            continue
        lines = [_parse(line) for line in path.read_bytes().splitlines() if line.strip()]
        complete = bool(lines) and lines[-1].get("event") == "end"
        attempts.append({"attempt": int(number), "complete": complete, "lines": lines})
    return sorted(attempts, key=lambda a: int(a["attempt"]))


def _parse(line: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return {"event": "corrupt", "raw": line.decode("utf-8", "replace")}
    return value if isinstance(value, dict) else {"event": "corrupt", "raw": str(value)}
