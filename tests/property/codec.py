"""Job records as the Lua scripts write them, for the encoding round-trip property.

``encoded_records()`` draws a valid record and returns (the ``jf:job:{id}`` hash exactly as the
scripts would leave it, the values ``JobRecord.from_hash(...).model_dump()`` must give back).
Attempt records come in the three shapes the scripts produce: claim.lua's concatenation,
finish.lua's outcome + ``Outcome.attempt_tail`` (the real Python encoder), and the ``cjson``
re-encoding of maintain.lua / release.lua (numbers printed with 14 significant digits).
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import strategies as st

from cluster.keys import STATUSES
from cluster.models import TYPE_PATTERN
from cluster.queue import ClaimedJob, Outcome
from cluster.settings import QUEUE_NAME_PATTERN

MS = st.integers(0, 4_102_444_800_000)  # epoch milliseconds up to the year 2100
TEXT = st.text(max_size=12)
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=12)  # lone surrogates too
JSON64 = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
FINISHED = ["succeeded", "failed", "timeout"]
STALE = [f"stale_{o}" for o in FINISHED]


def cjson(value: Any) -> str:
    """What Redis' cjson.encode writes: '/' escaped, numbers as %.14g."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{cjson(k)}:{cjson(v)}" for k, v in value.items()) + "}"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return f"{value:.14g}"
    return json.dumps(value, ensure_ascii=False).replace("/", "\\/")


@st.composite
def attempt_record(draw: st.DrawFn, number: int) -> tuple[str, dict[str, Any]]:
    worker, started = draw(TEXT), draw(MS)
    shape = draw(st.sampled_from(["claim", "finish", "cjson"]))
    expected: dict[str, Any] = {
        "attempt": number,
        "worker": worker,
        "started_at": started / 1000,
        "finished_at": None,
        "outcome": "running",
        "error": None,
        "duration_s": None,
    }
    if shape == "claim":
        raw = (
            f'{{"attempt":{number},"worker":{cjson(worker)},"started_at":{started},'
            '"outcome":"running"}'
        )
        return raw, expected
    finished = draw(st.integers(started, started + 10**9))
    expected["finished_at"] = finished / 1000
    if shape == "cjson":
        outcome = draw(st.sampled_from(["lease_expired", "released"]))
        record = {"attempt": number, "worker": worker, "started_at": started}
        record |= {"outcome": outcome, "finished_at": finished}
        return cjson(record), expected | {"outcome": outcome}
    outcome = draw(st.sampled_from(FINISHED + STALE))
    error = draw(ANY_TEXT)
    job = ClaimedJob("0" * 32, "default", number, "echo", "{}", 1.0)
    reported = Outcome(job, outcome.removeprefix("stale_"), error, started, finished)
    raw = f'{{"outcome":"{outcome}",' + reported.attempt_tail(worker)
    expected |= {"outcome": outcome, "duration_s": round((finished - started) / 1000, 3)}
    if reported.outcome != "succeeded":
        expected["error"] = reported.text[:2000]
    return raw, expected


def optional_ms(draw: st.DrawFn, fields: dict[str, str], name: str) -> float | None:
    value = draw(st.none() | MS)
    if value is None:
        return None
    fields[name] = str(value)
    return value / 1000


@st.composite
def encoded_records(draw: st.DrawFn) -> tuple[dict[str, str], dict[str, Any]]:
    attempts = draw(st.integers(0, 4))
    payload = draw(st.dictionaries(TEXT, JSON64, max_size=4))
    expected: dict[str, Any] = {
        "id": draw(st.text("0123456789abcdef", min_size=32, max_size=32)),
        "type": draw(st.from_regex(TYPE_PATTERN, fullmatch=True)),
        "queue": draw(st.from_regex(QUEUE_NAME_PATTERN, fullmatch=True)),
        "status": draw(st.sampled_from(STATUSES)),
        "payload": payload,
        "attempts": attempts,
        "max_attempts": draw(st.integers(1, 100)),
        "priority": draw(st.integers(-100, 100)),
    }
    timeout_ms, created = draw(st.integers(1, 86_400_000)), draw(MS)
    fields = {k: str(v) for k, v in expected.items() if k != "payload"}
    fields |= {"payload": orjson.dumps(payload).decode(), "timeout_ms": str(timeout_ms)}
    fields |= {"created_at": str(created), "base": "0", "seq": "1", "score": "1", "idem": "0"}
    expected |= {"timeout_s": timeout_ms / 1000, "created_at": created / 1000}
    for name in ("run_at", "started_at", "finished_at", "lease_expires_at"):
        expected[name] = optional_ms(draw, fields, name)
    result = draw(st.none() | st.tuples(JSON64))
    expected["result"] = result[0] if result else None
    if result:
        fields["result"] = orjson.dumps(result[0]).decode()
    for name in ("error", "worker"):
        value = draw(st.none() | TEXT)
        expected[name] = value
        if value is not None:
            fields[name] = value
    history = [draw(attempt_record(n)) for n in range(1, attempts + 1)]
    fields |= {f"att:{n}": raw for n, (raw, _) in enumerate(history, start=1)}
    expected["history"] = [e for _, e in history]
    return fields, expected
