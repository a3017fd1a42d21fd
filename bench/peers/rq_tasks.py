"""RQ job functions (RQ imports them by dotted path in the worker)."""

from __future__ import annotations

from bench.peers import jobs


def noop(sent: float) -> None:
    jobs.noop(sent)


def sleeper(token: str, seconds: float) -> None:
    jobs.sleeper(token, seconds)
