"""Structured JSON logs to stdout, one event per line, for every jobfleet process."""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

import orjson

# color_message: uvicorn passes an ANSI-coloured copy of its message as an extra field
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "color_message",
}
_BOUND: dict[str, Any] = {}  # fields every event of this process carries (see bind)


def bind(**fields: Any) -> None:
    """Add ``fields`` (e.g. ``worker=<id>``) to every later event of this process."""
    _BOUND.update(fields)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, Any] = {
            "t": round(record.created, 4),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        event.update(_BOUND)
        event.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            event["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(event, default=str).decode()


def setup_logging(level: str | None = None) -> None:
    """JSON lines on stdout at ``level`` (default ``JOBFLEET_LOG_LEVEL``, else INFO)."""
    level = (level or os.environ.get("JOBFLEET_LOG_LEVEL") or "INFO").upper()
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # the level applies to jobfleet's loggers; libraries (asyncio, redis, uvicorn) stay at INFO
    # or above, so that DEBUG shows jobfleet's per-job events, not every connection's chatter
    number = logging.getLevelName(level)
    number = number if isinstance(number, int) else logging.INFO  # unknown name: INFO
    root.setLevel(max(logging.INFO, number))
    logging.getLogger("jobfleet").setLevel(number)
    logging.Formatter.converter = time.gmtime
