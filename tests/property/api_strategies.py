"""Hypothesis strategies for the API properties: arbitrary JSON, job-like bodies, requests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

# text as clients send it, plus now and then a lone surrogate (which no JSON may carry)
TEXT = st.text(max_size=10) | st.text(st.characters(exclude_categories=()), max_size=4)
JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()  # unbounded: also beyond 64 bits
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()  # NaN and infinities too (json.dumps writes them; they are not JSON)
    | TEXT
)
JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)


def nested(depth: int, kind: str) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value] if kind == "list" else {"k": value}
    return value


DEEP = st.builds(nested, st.integers(1, 600), st.sampled_from(["list", "dict"]))
PAYLOADS = st.dictionaries(TEXT, JSON | DEEP, max_size=5) | JSON
JOB_FIELDS = {
    "payload": PAYLOADS,
    "max_attempts": st.integers(-2, 102) | JSON,
    "timeout_s": st.floats(-1, 90_000) | st.integers(-1, 90_000) | JSON,
    "delay_s": st.floats(-1, 100) | JSON,
    "queue": st.sampled_from(["default", "other", "elsewhere", "a b", ""]) | TEXT,
    "priority": st.integers(-120, 120) | JSON,
    "colour": JSON,  # a field JobSpec does not know
}
CLEAN_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(-1e300, 1e300)
    | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
VALID_FIELDS = {  # what JobSpec accepts, so that many examples get as far as Redis
    "payload": st.dictionaries(st.text(max_size=8), CLEAN_JSON | JSON | DEEP, max_size=5),
    "max_attempts": st.integers(1, 3) | st.integers(1, 100),
    "timeout_s": st.floats(0.001, 86_400) | st.integers(1, 86_400),
    "delay_s": st.just(0) | st.floats(0, 3_600) | st.integers(0, 3_600),
    "queue": st.sampled_from(["default", "other"]),
    "priority": st.integers(-100, 100),
}
VALID_JOBS = st.fixed_dictionaries(
    {"type": st.sampled_from(["echo", "sleep", "fail"])}, optional=VALID_FIELDS
)
JOB_BODIES = (
    VALID_JOBS
    | st.fixed_dictionaries(
        {"type": st.sampled_from(["echo", "sleep", "fail", "nope"]) | TEXT | JSON},
        optional=JOB_FIELDS,
    )
    | st.fixed_dictionaries({}, optional=JOB_FIELDS)
)


BATCH_BODIES = (
    st.fixed_dictionaries({"jobs": st.lists(VALID_JOBS, max_size=4)})
    | st.fixed_dictionaries({"jobs": st.lists(JOB_BODIES, max_size=4)})
    | JSON
)


@dataclass(frozen=True)
class Body:
    """A request body: the value the client meant (if any) and the bytes it sent."""

    value: Any
    raw: bytes


@st.composite
def bodies(draw: st.DrawFn, values: st.SearchStrategy[Any]) -> Body:
    """Mostly JSON text of ``values`` (ASCII-escaped or UTF-8), sometimes arbitrary bytes."""
    if draw(st.integers(0, 9)) == 0:
        return Body(None, draw(st.binary(max_size=40)))
    value = draw(values)
    text = json.dumps(value, ensure_ascii=draw(st.booleans()))
    return Body(value, text.encode("utf-8", "surrogatepass"))


@dataclass(frozen=True)
class Request:
    kind: str  # submit | batch | list | get | cancel | retry | work
    body: Body | None = None
    key: bytes | None = None  # the Idempotency-Key header, as sent
    target: int | str = 0  # a job: the n-th job accepted so far, or arbitrary text
    params: tuple[tuple[str, str], ...] = ()


KEYS = (
    st.sampled_from([b"k-1", b"k-2", b"retry-me"])
    | st.binary(max_size=8)
    | st.text(max_size=12).map(lambda s: s.encode("utf-8"))
    | st.text(
        st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=195, max_size=205
    ).map(str.encode)
)
TARGETS = (
    st.integers(0, 20)  # the n-th job accepted so far
    | st.integers(0, 20)
    | st.text(max_size=40).filter(lambda s: s not in ("", "."))  # "/jobs/" would redirect
    | st.text("0123456789abcdef", min_size=32, max_size=32)
)
PARAM_VALUES = (
    st.sampled_from(["queued", "running", "failed", "0", "1", "-1", "1000", "1001", ""])
    | st.integers().map(str)
    | st.text(max_size=70)
)
PARAMS = st.lists(
    st.tuples(st.sampled_from(["status", "queue", "limit", "cursor", "other"]), PARAM_VALUES),
    max_size=4,
).map(tuple)

FIRST_JOBS = st.builds(  # every example starts with a few jobs the other requests can aim at
    Request, st.just("submit"), bodies(VALID_JOBS), st.none() | st.sampled_from([b"k-1", b"k-2"])
)
SUBMITS = st.builds(Request, st.just("submit"), bodies(JOB_BODIES), st.none() | st.none() | KEYS)
ON_A_JOB = st.builds(Request, st.sampled_from(["get", "cancel", "retry"]), target=TARGETS)
REQUESTS = st.one_of(  # repeated branches weigh more
    SUBMITS,
    SUBMITS,
    st.builds(Request, st.just("batch"), bodies(BATCH_BODIES)),
    st.builds(Request, st.just("list"), params=PARAMS),
    ON_A_JOB,
    ON_A_JOB,
    st.builds(Request, st.just("work"), target=st.integers(0, 1)),
)
