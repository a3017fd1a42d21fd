"""Every bad request gets its 4xx and a message naming the problem; good ones still work after.

The session master runs with max_payload_bytes=4096, max_body_bytes=262144, max_batch=2000 and
the queues ``default`` and ``other`` (see ``conftest.MASTER_SETTINGS``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.unit.conftest import MASTER_SETTINGS, Fleet
from tests.unit.helpers import Api

BUILTINS = "alloc, cpu, echo, fail, sleep"
BIG = "x" * (MASTER_SETTINGS["max_payload_bytes"] + 1)


def _detail(response: Any) -> str:
    detail: str = response.json()["detail"]
    return detail


# (name, body, expected status, fragments the message must contain)
BAD_BODIES: list[tuple[str, Any, int, list[str]]] = [
    ("type not a string", {"type": 5}, 422, ["type:", "string"]),
    ("payload not an object", {"type": "echo", "payload": [1, 2]}, 422, ["payload:", "object"]),
    ("body not an object", [1, 2], 422, ["body:", "object"]),
    ("body is a string", "echo", 422, ["body:", "object"]),
    ("missing type", {"payload": {}}, 422, ["type:", "required"]),
    ("unexpected field", {"type": "echo", "colour": "red"}, 422, ["colour:", "not permitted"]),
    ("bad type name", {"type": "no spaces"}, 422, ["type:", "pattern"]),
    ("unknown type", {"type": "nope"}, 422, ["unknown job type 'nope'", BUILTINS]),
    ("unknown queue", {"type": "echo", "queue": "elsewhere"}, 422,
     ["unknown queue 'elsewhere'", "default, other"]),
    ("bad queue name", {"type": "echo", "queue": "a b"}, 422, ["queue:", "pattern"]),
    ("max_attempts 0", {"type": "echo", "max_attempts": 0}, 422,
     ["max_attempts:", "greater than or equal to 1"]),
    ("max_attempts 1000", {"type": "echo", "max_attempts": 1000}, 422,
     ["max_attempts:", "less than or equal to 100"]),
    ("max_attempts float", {"type": "echo", "max_attempts": 1.5}, 422, ["max_attempts:"]),
    ("negative delay", {"type": "echo", "delay_s": -1}, 422,
     ["delay_s:", "greater than or equal to 0"]),
    ("timeout 0", {"type": "echo", "timeout_s": 0}, 422, ["timeout_s:", "greater than 0"]),
    ("timeout under 1 ms", {"type": "echo", "timeout_s": 0.0001}, 422,
     ["timeout_s:", "at least 0.001"]),
    ("timeout over a day", {"type": "echo", "timeout_s": 86_401}, 422, ["timeout_s:"]),
    ("priority 101", {"type": "echo", "priority": 101}, 422, ["priority:"]),
    ("payload too big", {"type": "echo", "payload": {"s": BIG}}, 413,
     ["payload of", "over the 4096-byte limit"]),
    ("integer beyond 64 bits", {"type": "echo", "payload": {"n": 2**70}}, 422,
     ["payload:", "64-bit"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "status", "fragments"),
    [pytest.param(b, s, f, id=name) for name, b, s, f in BAD_BODIES],
)
def test_bad_job_spec_is_refused(api: Api, body: Any, status: int, fragments: list[str]) -> None:
    response = api.http.post("/jobs", json=body)
    assert response.status_code == status, response.text
    for fragment in fragments:
        assert fragment in _detail(response), (fragment, response.text)
    assert api.http.get("/jobs").json()["jobs"] == []


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b'{"type": "echo",', "malformed JSON"),
        (b"{'type': 'echo'}", "malformed JSON"),
        (b"\xff\xfe{}", "malformed JSON"),
        (b"", "body is empty"),
        (b"null", "body: Input should be an object"),
        (b"   \n", "body is empty"),
    ],
    ids=["truncated", "single quotes", "not utf-8", "empty", "null", "blank"],
)
def test_unparseable_body_is_refused(api: Api, raw: bytes, fragment: str) -> None:
    """Bytes that are not JSON are a 400; JSON that is not an object is a 422."""
    response = api.http.post("/jobs", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == (422 if raw == b"null" else 400), response.text
    assert fragment in _detail(response)


def test_body_over_limit_is_413(api: Api) -> None:
    limit = MASTER_SETTINGS["max_body_bytes"]
    body = b'{"type": "echo", "payload": {"s": "' + b"x" * limit + b'"}}'
    response = api.http.post("/jobs", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413, response.text
    assert f"over the {limit}-byte limit" in _detail(response)


def test_streamed_body_over_limit_is_413(api: Api) -> None:
    """Without a Content-Length the master counts as it reads, and stops at the limit."""

    def chunks() -> Iterator[bytes]:
        yield b'{"type": "echo", "payload": {"s": "'
        for _ in range(100):
            yield b"x" * 10_000
        yield b'"}}'

    response = api.http.post("/jobs", content=chunks())
    assert response.status_code == 413, response.text
    assert "request body is over the" in _detail(response)


@pytest.mark.parametrize(
    "key", ["a" * 201, "has space", "tab\there", "naïve"], ids=["long", "space", "tab", "utf8"]
)
def test_invalid_idempotency_key_is_400(api: Api, key: str) -> None:
    response = api.http.post(
        "/jobs", json={"type": "echo"}, headers={b"Idempotency-Key": key.encode()}
    )
    assert response.status_code == 400, response.text
    assert "Idempotency-Key" in _detail(response)


@pytest.mark.parametrize("method", ["GET", "DELETE"])
@pytest.mark.parametrize(
    ("suffix", "fragment"),
    [("not-an-id", "32 lowercase hex"), ("A" * 32, "32 lowercase hex"), ("0" * 32, "no such job")],
    ids=["malformed", "uppercase", "unknown"],
)
def test_bad_job_id_is_404(api: Api, method: str, suffix: str, fragment: str) -> None:
    response = api.http.request(method, f"/jobs/{suffix}")
    assert response.status_code == 404, response.text
    assert fragment in _detail(response)


@pytest.mark.parametrize("path", ["/jobs/{}/retry", "/jobs/{}/logs"])
def test_bad_job_id_on_subresources_is_404(api: Api, path: str) -> None:
    method = "POST" if path.endswith("retry") else "GET"
    for job_id in ("zz", "0" * 32):
        response = api.http.request(method, path.format(job_id))
        assert response.status_code == 404, (job_id, response.text)
        assert "job" in _detail(response)


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("limit=0", "limit:"),
        ("limit=1001", "limit:"),
        ("limit=ten", "limit:"),
        ("cursor=-1", "cursor:"),
        ("cursor=abc", "cursor:"),
        ("status=sleeping", "unknown status 'sleeping'"),
        ("queue=" + "q" * 65, "queue:"),
    ],
)
def test_bad_listing_params_are_422(api: Api, query: str, fragment: str) -> None:
    response = api.http.get(f"/jobs?{query}")
    assert response.status_code == 422, response.text
    assert fragment in _detail(response)


def test_batch_over_max_batch_is_413(api: Api) -> None:
    limit = MASTER_SETTINGS["max_batch"]
    response = api.http.post("/jobs/batch", json={"jobs": [{"type": "echo"}] * (limit + 1)})
    assert response.status_code == 413, response.text
    assert f"batch of {limit + 1} jobs is over the {limit}-job limit" in _detail(response)
    assert api.queue_counts()["queued"] == 0


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"jobs": []}, 422, "jobs:"),
        ({"jobs": {"type": "echo"}}, 422, "jobs:"),
        ({"jobs": [{"type": "echo"}, {"type": "nope"}]}, 422, "job 1: unknown job type 'nope'"),
        ({"jobs": [{"type": "echo"}, {"type": "echo", "max_attempts": 0}]}, 422, "jobs.1."),
    ],
    ids=["empty", "not a list", "one unknown type", "one out of range"],
)
def test_bad_batch_is_refused_whole(api: Api, body: Any, status: int, fragment: str) -> None:
    response = api.http.post("/jobs/batch", json=body)
    assert response.status_code == status, response.text
    assert fragment in _detail(response)
    assert api.queue_counts()["queued"] == 0


def test_good_job_after_bad_ones_completes(api: Api, fleet: Fleet) -> None:
    fleet.worker()
    for _, body, status, _ in BAD_BODIES:
        assert api.http.post("/jobs", json=body).status_code == status
    assert api.http.post("/jobs", content=b"{").status_code == 400
    assert api.http.post("/jobs", content=b"x" * 300_000).status_code == 413
    job_id = api.submit("echo", {"after": "bad"})
    done = api.wait_status(job_id, "succeeded", "failed")
    assert done["status"] == "succeeded"
    assert done["result"] == {"after": "bad"}
    assert [j["id"] for j in api.http.get("/jobs").json()["jobs"]] == [job_id]
