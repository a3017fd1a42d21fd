"""Properties of the HTTP API under arbitrary input, and of the job-record encoding.

Each example builds the real app (``create_app``) on the session's Redis with a key prefix of
its own, runs its lifespan, and sends a sequence of requests through an in-process ASGI client:
arbitrary JSON (unicode, deep nesting, huge integers, NaN, nulls) and bytes as bodies, arbitrary
Idempotency-Key headers, query parameters and job ids. Every answer must be a 2xx, or a 4xx
whose body is JSON with a ``detail`` message; every job accepted must read back as given.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cluster.master.app import create_app
from cluster.master.state import MasterState
from cluster.models import JobRecord
from cluster.queue import Outcome
from cluster.settings import Settings
from tests.property.api_strategies import FIRST_JOBS, REQUESTS, Request
from tests.property.budget import suite_settings
from tests.property.codec import encoded_records

PREFIXES = itertools.count()
KEY_FORMAT = re.compile(r"[\x21-\x7e]{1,200}")
JOB_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(scope="module")
def api_settings(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        redis_url=redis_url,
        log_dir=tmp_path_factory.mktemp("api-logs"),
        queues=["default", "other"],
        max_payload_bytes=4096,
        max_body_bytes=65_536,
        submit_rate=0,  # admission control answers 429/503 by design; not what is tested here
        max_queue_depth=0,
        maintenance_s=3_600,  # no background promotion mid-example: each example is repeatable
    )


def same_json(a: Any, b: Any) -> bool:
    """Equal as JSON values: 1, 1.0 and true are three different things."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def number(value: Any) -> float | None:
    """A JSON number given for a numeric field (None for other types: lax parsing varies)."""
    return value if type(value) in (int, float) else None


class Session:
    """One client's conversation with the API, and what it must be able to read back."""

    def __init__(self, client: httpx.AsyncClient, state: MasterState) -> None:
        self.client = client
        self.state = state
        self.expected: dict[str, dict[str, Any]] = {}  # job id -> the accepted spec
        self.ids: list[str] = []
        self.keys: dict[str, str] = {}  # Idempotency-Key -> job id

    async def send(self, req: Request) -> None:
        if req.kind == "work":
            await self.work(req.target)
            return
        response = await getattr(self, req.kind)(req)
        answer_is_clean(response)

    # --- requests --------------------------------------------------------------------------
    async def submit(self, req: Request) -> httpx.Response:
        assert req.body is not None
        headers = {b"Idempotency-Key": req.key} if req.key is not None else {}
        r = await self.client.post("/jobs", content=req.body.raw, headers=headers)
        key = req.key.decode("latin-1") if req.key is not None else None
        if key is not None and not KEY_FORMAT.fullmatch(key):
            assert r.status_code == 400, f"bad Idempotency-Key {key!r} answered {r.status_code}"
        if r.status_code == 202:
            job_id = r.json()["id"]
            assert r.headers["location"] == f"/jobs/{job_id}"
            if key is not None and key in self.keys:
                assert job_id == self.keys[key] and r.headers["idempotent-replay"] == "true"
            else:
                self.accept(job_id, req.body.value)
                if key is not None:
                    self.keys[key] = job_id
            await self.read_back(job_id)
        return r

    async def batch(self, req: Request) -> httpx.Response:
        assert req.body is not None
        r = await self.client.post("/jobs/batch", content=req.body.raw)
        if r.status_code == 202:
            ids = r.json()["ids"]
            assert len(ids) == len(req.body.value["jobs"])
            for job_id, spec in zip(ids, req.body.value["jobs"], strict=True):
                self.accept(job_id, spec)
                await self.read_back(job_id)
        return r

    async def list(self, req: Request) -> httpx.Response:
        r = await self.client.get("/jobs", params=list(req.params))
        if r.status_code == 200:
            page = r.json()
            assert page["next_cursor"] is None or isinstance(page["next_cursor"], int)
            for record in page["jobs"]:
                self.compare(record)
            given = dict(req.params)
            if len(given) == len(req.params) and "status" in given:
                assert all(j["status"] == given["status"] for j in page["jobs"])
        return r

    async def get(self, req: Request) -> httpx.Response:
        r = await self.client.get(self.path(req.target))
        if r.status_code == 200:
            self.compare(r.json())
        return r

    async def cancel(self, req: Request) -> httpx.Response:
        r = await self.client.delete(self.path(req.target))
        if r.status_code == 200:
            assert self.compare(r.json())["status"] == "cancelled"
        return r

    async def retry(self, req: Request) -> httpx.Response:
        r = await self.client.post(self.path(req.target, "/retry"))
        if r.status_code == 202:
            assert self.compare(r.json())["status"] == "queued"
        return r

    async def work(self, how: int | str) -> None:
        """A worker takes the ready jobs and ends them (failed for ``how`` 0)."""
        queue = self.state.queue
        jobs = await queue.claim("prop-worker", ["default", "other"], 5, 60_000)
        outcome = "failed" if how == 0 else "succeeded"
        value = "boom" if outcome == "failed" else "null"
        now = queue.clock()
        await queue.finish("prop-worker", [Outcome(j, outcome, value, now, now) for j in jobs])

    # --- what must hold --------------------------------------------------------------------
    def path(self, target: int | str, tail: str = "") -> str:
        if isinstance(target, int):
            job_id = self.ids[target % len(self.ids)] if self.ids else "0" * 32
            return f"/jobs/{job_id}{tail}"
        return f"/jobs/{quote(target, safe='')}{tail}"

    def accept(self, job_id: str, spec: dict[str, Any]) -> None:
        assert JOB_ID.fullmatch(job_id), job_id
        assert job_id not in self.expected, f"job id {job_id} handed out twice"
        self.expected[job_id] = spec
        self.ids.append(job_id)

    async def read_back(self, job_id: str) -> None:
        r = await self.client.get(f"/jobs/{job_id}")
        assert r.status_code == 200, r.text
        self.compare(r.json())

    def compare(self, record: dict[str, Any]) -> dict[str, Any]:
        """The record holds what was accepted: payload, type, queue and the numbers."""
        spec = self.expected.get(record["id"])
        assert spec is not None, f"a job nobody submitted: {record['id']}"
        payload = spec.get("payload", {})
        assert same_json(record["payload"], payload), (record["payload"], payload)
        assert record["type"] == spec["type"]
        assert record["queue"] == spec.get("queue", "default")
        for name, default in (("priority", 0), ("max_attempts", 3)):
            given = number(spec.get(name, default))
            assert given is None or record[name] == given, (name, record[name], given)
        timeout = number(spec.get("timeout_s", 300.0))
        if timeout is not None:
            assert abs(record["timeout_s"] - timeout) <= 0.0005 + 1e-9, (record, timeout)
        return record

    async def nothing_lost(self) -> None:
        r = await self.client.get("/jobs", params={"limit": 1000})
        listed = [record["id"] for record in r.json()["jobs"]]
        assert sorted(listed) == sorted(self.expected), "GET /jobs lost or invented jobs"


def answer_is_clean(r: httpx.Response) -> None:
    """2xx, or 4xx with a JSON ``detail`` message; never 5xx, never a redirect."""
    assert r.status_code < 500, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    assert 200 <= r.status_code < 300 or 400 <= r.status_code < 500, r.status_code
    if r.status_code >= 400:
        assert r.headers["content-type"].startswith("application/json"), r.headers
        detail = r.json()["detail"]
        assert isinstance(detail, str) and detail, r.text


async def converse(settings: Settings, requests: list[Request]) -> None:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://jobfleet") as client:
            session = Session(client, app.state.master)
            for req in requests:
                await session.send(req)
            await session.nothing_lost()


@suite_settings()
@given(
    first=st.lists(FIRST_JOBS, min_size=1, max_size=3),
    requests=st.lists(REQUESTS, min_size=1, max_size=10),
)
def test_api_answers_cleanly_and_keeps_what_it_accepts(
    api_settings: Settings, first: list[Request], requests: list[Request]
) -> None:
    settings = api_settings.model_copy(update={"key_prefix": f"api{next(PREFIXES)}"})
    asyncio.run(converse(settings, first + requests))


@suite_settings()
@given(record=encoded_records())
def test_job_record_encoding_round_trips(record: tuple[dict[str, str], dict[str, Any]]) -> None:
    fields, expected = record
    decoded = JobRecord.from_hash(fields).model_dump()
    assert decoded == expected
