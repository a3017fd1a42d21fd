"""The submit hot path: the 202 of ``POST /jobs`` is built from the spec and the submit script's
answer instead of being read back, and both submit routes skip FastAPI's machinery
(``cluster/master/fastpath.py``). What a client sees must not change: the answer is exactly the
stored record, errors keep their status, body and headers, and the OpenAPI document is as before.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest

from cluster.master.body import _too_deep, json_depth
from tests.unit.helpers import Api

SPECS: list[dict[str, Any]] = [
    {"type": "echo"},
    {"type": "echo", "payload": {"n": 1, "nested": {"list": [1, 2.5, "x", None, True]}}},
    {"type": "echo", "queue": "other", "priority": -7, "max_attempts": 9},
    {"type": "sleep", "payload": {"seconds": 1}, "timeout_s": 0.0015},  # rounds to 2 ms
    {"type": "echo", "delay_s": 3600.0004, "priority": 100},  # scheduled; run_at rounded
    {"type": "echo", "timeout_s": 86_400, "delay_s": 0.25},
]


@pytest.mark.parametrize("spec", SPECS)
def test_the_202_is_exactly_the_stored_record(api: Api, spec: dict[str, Any]) -> None:
    response = api.http.post("/jobs", json=spec)
    assert response.status_code == 202, response.text
    body = response.json()
    assert response.headers["location"] == f"/jobs/{body['id']}"
    assert "idempotent-replay" not in response.headers
    assert body == api.job(body["id"])  # every field, times to the millisecond
    assert list(body) == list(api.job(body["id"]))  # in the same order


def test_concurrent_submissions_each_answer_their_own_record(api: Api) -> None:
    """The submission time is pinned per request: interleaved requests never mix them up."""

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=api.url, timeout=15) as client:
            return await asyncio.gather(
                *(
                    client.post("/jobs", json={"type": "echo", "payload": {"n": n}, "delay_s": n})
                    for n in range(60)
                )
            )

    responses = asyncio.run(burst())
    assert {r.status_code for r in responses} == {202}
    for n, response in enumerate(responses):
        body = response.json()
        assert body["payload"] == {"n": n}
        assert body == api.job(body["id"])
        assert round(body["run_at"] - body["created_at"], 3) == n


def test_an_idempotent_replay_answers_the_first_job_as_stored(api: Api) -> None:
    headers = {"Idempotency-Key": "speed-1"}
    first = api.http.post("/jobs", json={"type": "echo", "payload": {"a": 1}}, headers=headers)
    assert first.status_code == 202, first.text
    job_id = first.json()["id"]
    api.http.delete(f"/jobs/{job_id}")  # the replay must show the job as it is now
    again = api.http.post("/jobs", json={"type": "echo", "payload": {"b": 2}}, headers=headers)
    assert again.status_code == 202, again.text
    assert again.headers["idempotent-replay"] == "true"
    assert again.headers["location"] == f"/jobs/{job_id}"
    assert again.json() == api.job(job_id)
    assert again.json()["status"] == "cancelled" and again.json()["payload"] == {"a": 1}


@pytest.mark.parametrize(
    ("path", "body", "status", "says"),
    [
        ("/jobs", b"{", 400, "malformed JSON"),
        ("/jobs", b"", 400, "request body is empty"),
        ("/jobs", b'{"type": "nope"}', 422, "unknown job type"),
        ("/jobs", b'{"type": "echo", "queue": "elsewhere"}', 422, "unknown queue"),
        ("/jobs", b'{"type": "echo", "extra": 1}', 422, "extra"),
        ("/jobs/batch", b'{"jobs": []}', 422, "jobs"),
        ("/jobs/batch", b'{"jobs": [{"type": "echo"}, {"type": "nope"}]}', 422, "job 1: "),
    ],
)
def test_the_fast_path_refuses_bad_input_as_before(
    api: Api, path: str, body: bytes, status: int, says: str
) -> None:
    response = api.http.post(path, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert says in response.json()["detail"]


def test_other_methods_and_paths_still_go_through_the_router(api: Api) -> None:
    assert api.http.get("/jobs").status_code == 200
    assert api.http.put("/jobs", json={"type": "echo"}).status_code == 405
    slash = api.http.post("/jobs/", json={"type": "echo"}, follow_redirects=False)
    assert slash.status_code == 307 and slash.headers["location"].endswith("/jobs")
    batch = api.http.post("/jobs/batch", json={"jobs": [{"type": "echo"}] * 3})
    assert batch.status_code == 202, batch.text
    assert [api.job(job_id)["status"] for job_id in batch.json()["ids"]] == ["queued"] * 3


def test_the_openapi_document_still_declares_the_idempotency_key(api: Api) -> None:
    doc = api.http.get("/openapi.json").json()
    submit = doc["paths"]["/jobs"]["post"]
    (header,) = submit["parameters"]
    assert (header["name"], header["in"], header["required"]) == (
        "Idempotency-Key",
        "header",
        False,
    )
    assert header["schema"]["type"] == "string" and "pattern" in header["schema"]
    assert "parameters" not in doc["paths"]["/jobs/batch"]["post"]
    assert submit["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/JobSpec"
    }


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"s": "{[" * 40},  # brackets inside strings: the cheap bound fails, the walk decides
        {"a": [[{"b": [1, 2]}]], "s": "[" * 40},
        {"a": {"b": {"c": {"d": {}}}}},
        {"a": [[[[[[1]]]]]]},
    ],
)
@pytest.mark.parametrize("limit", [1, 3, 5, 6, 7, 32])
def test_the_cheap_depth_bound_agrees_with_the_walk(payload: dict[str, Any], limit: int) -> None:
    stored = orjson.dumps(payload)
    assert _too_deep(payload, stored, limit) == (json_depth(payload) > limit)
