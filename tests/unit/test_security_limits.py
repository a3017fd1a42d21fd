"""Abuse and overload: the submission rate limit, the queue-depth ceiling, Redis out of memory.

Every case runs a real master against a real redis-server and tries to push past the limit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from redis.asyncio import BlockingConnectionPool
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import OutOfMemoryError

from cluster.keys import Keys
from cluster.master.guard import is_out_of_memory
from cluster.ratelimit import take_tokens
from tests.redis_server import redis_server
from tests.unit.security_helpers import Tokens, bearer, master_process

RATE, BURST = 5, 10


@pytest.fixture(scope="module")
def limited(
    redis_url: str, log_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A master allowing bursts of 10 jobs, refilled at 5 jobs/s, per client address."""
    out = tmp_path_factory.mktemp("limited")
    with master_process(out, redis_url, log_dir, submit_rate=RATE, submit_burst=BURST) as url:
        yield url


@pytest.fixture
def http(limited: str, flush: None) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=limited, timeout=15) as client:
        yield client


def job_count(http: httpx.Client) -> int:
    return len(http.get("/jobs", params={"limit": 1000}).json()["jobs"])


def assert_throttled(response: Any) -> int:
    assert response.status_code == 429, response.text
    wait = int(response.headers["retry-after"])
    assert 1 <= wait <= 3
    assert "too many submissions" in response.json()["detail"]
    return wait


def test_burst_over_the_rate_limit_is_429(http: httpx.Client) -> None:
    for _ in range(BURST):
        assert http.post("/jobs", json={"type": "echo"}).status_code == 202
    wait = assert_throttled(http.post("/jobs", json={"type": "echo"}))
    assert_throttled(http.post("/jobs/batch", json={"jobs": [{"type": "echo"}] * 3}))
    assert job_count(http) == BURST  # a refused request created nothing
    time.sleep(wait)
    assert http.post("/jobs", json={"type": "echo"}).status_code == 202
    assert http.get("/queues").status_code == 200  # reads are not rate limited


def test_a_batch_costs_one_token_per_job(http: httpx.Client) -> None:
    assert http.post("/jobs/batch", json={"jobs": [{"type": "echo"}] * 8}).status_code == 202
    assert_throttled(http.post("/jobs/batch", json={"jobs": [{"type": "echo"}] * 3}))
    assert http.post("/jobs/batch", json={"jobs": [{"type": "echo"}] * 2}).status_code == 202
    assert job_count(http) == 10


def test_a_batch_bigger_than_the_burst_passes_on_a_full_bucket(http: httpx.Client) -> None:
    """Charged as the whole burst: the limit never makes a legal batch impossible."""
    assert http.post("/jobs/batch", json={"jobs": [{"type": "echo"}] * 25}).status_code == 202
    assert_throttled(http.post("/jobs", json={"type": "echo"}))


def test_each_token_has_its_own_budget(
    redis_url: str, log_dir: Path, tmp_path: Path, flush: None
) -> None:
    tokens = Tokens.new()
    settings = {"api_tokens": tokens.entries, "submit_rate": RATE, "submit_burst": BURST}
    with master_process(tmp_path, redis_url, log_dir, **settings) as url:
        batch = {"jobs": [{"type": "echo"}] * BURST}
        first = httpx.post(f"{url}/jobs/batch", json=batch, headers=bearer(tokens.submit))
        assert first.status_code == 202
        again = httpx.post(f"{url}/jobs", json={"type": "echo"}, headers=bearer(tokens.submit))
        assert_throttled(again)
        other = httpx.post(f"{url}/jobs/batch", json=batch, headers=bearer(tokens.everything))
        assert other.status_code == 202, other.text


def test_the_bucket_is_atomic_under_concurrency(redis_url: str, flush: None) -> None:
    """200 concurrent takes from a bucket of 20 that barely refills: exactly 20 pass."""

    async def race() -> list[bool]:
        pool = BlockingConnectionPool.from_url(redis_url, max_connections=50)
        client = AsyncRedis(connection_pool=pool)
        try:
            decisions = await asyncio.gather(
                *(take_tokens(client, Keys(), "race", 1, 0.001, 20) for _ in range(200))
            )
        finally:
            await client.aclose()
            await pool.disconnect()
        return [d.allowed for d in decisions]

    assert sum(asyncio.run(race())) == 20


def test_the_bucket_refills_at_the_rate_and_says_how_long_to_wait(
    redis_url: str, flush: None
) -> None:
    async def scenario() -> None:
        client = AsyncRedis.from_url(redis_url)
        try:
            keys = Keys()
            full = await take_tokens(client, keys, "c", 10, 10.0, 10)
            assert (full.allowed, full.left) == (True, 0)
            empty = await take_tokens(client, keys, "c", 5, 10.0, 10)
            assert not empty.allowed
            assert 0.3 <= empty.wait_s <= 0.5  # 5 tokens at 10/s, minus what refilled meanwhile
            await asyncio.sleep(empty.wait_s + 0.05)
            assert (await take_tokens(client, keys, "c", 5, 10.0, 10)).allowed
            ttl = await client.pttl(keys.rate_bucket("c"))
            assert 0 < ttl <= 2_000  # an idle bucket disappears once it would be full
        finally:
            await client.aclose()

    asyncio.run(scenario())


# --- backpressure ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shallow(
    redis_url: str, log_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    out = tmp_path_factory.mktemp("shallow")
    with master_process(out, redis_url, log_dir, max_queue_depth=5) as url:
        yield url


def assert_full(response: Any, queue: str = "default") -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "5"
    assert f"queue {queue!r} is full" in response.json()["detail"]


def test_a_full_queue_refuses_submissions_with_503(shallow: str, flush: None) -> None:
    with httpx.Client(base_url=shallow, timeout=15) as http:
        ids = [http.post("/jobs", json={"type": "echo"}).json()["id"] for _ in range(3)]
        delayed = http.post("/jobs", json={"type": "echo", "delay_s": 3600})
        assert delayed.status_code == 202  # scheduled jobs count too: 4 now
        assert_full(http.post("/jobs/batch", json={"jobs": [{"type": "echo"}] * 2}))
        assert http.post("/jobs", json={"type": "echo"}).status_code == 202  # the 5th
        assert_full(http.post("/jobs", json={"type": "echo"}))
        assert len(http.get("/jobs").json()["jobs"]) == 5  # nothing half-accepted
        other = http.post("/jobs", json={"type": "echo", "queue": "other"})
        assert other.status_code == 202  # the ceiling is per queue
        mixed = {"jobs": [{"type": "echo", "queue": "other"}, {"type": "echo"}]}
        assert_full(http.post("/jobs/batch", json=mixed))
        for job_id in ids[:2]:  # the queue drains (here by cancelling): accepted again
            assert http.delete(f"/jobs/{job_id}").status_code == 200
        assert http.post("/jobs/batch", json={"jobs": [{"type": "echo"}] * 2}).status_code == 202


# --- Redis out of memory -----------------------------------------------------------------------
def test_redis_out_of_memory_is_a_clean_503(log_dir: Path, tmp_path: Path) -> None:
    """A Redis with a tiny maxmemory (noeviction) fills up: the master answers 503 with
    Retry-After and says why; no batch is half-stored; reads still work; writes resume once
    memory is available again."""
    limits = ("--maxmemory", "3mb", "--maxmemory-policy", "noeviction")
    settings = {"submit_rate": 0, "max_queue_depth": 0}
    job = {"type": "echo", "payload": {"s": "x" * 3000}}
    with (
        redis_server(*limits) as url,
        master_process(tmp_path, url, log_dir, **settings) as master,
        httpx.Client(base_url=master, timeout=15) as http,
    ):
        accepted: list[str] = []
        response = None
        for _ in range(200):
            response = http.post("/jobs/batch", json={"jobs": [job] * 50})
            if response.status_code != 202:
                break
            accepted += response.json()["ids"]
        assert response is not None and response.status_code == 503, response
        assert response.headers["retry-after"] == "10"
        assert "job store is full" in response.json()["detail"]
        assert accepted, "Redis refused the very first batch"
        # single jobs squeeze into what the big request's buffer freed, then are refused too
        codes = [http.post("/jobs", json=job).status_code for _ in range(200)]
        assert set(codes) <= {202, 503} and codes[-1] == 503, codes
        assert http.get(f"/jobs/{accepted[-1]}").status_code == 200
        assert http.get("/readyz").status_code == 200
        with redis.Redis.from_url(url) as admin:
            stored = admin.zcard(Keys().index_all)
            assert stored == len(accepted) + codes.count(202)  # each batch all or nothing
            admin.config_set("maxmemory", "0")
        assert http.post("/jobs", json={"type": "echo"}).status_code == 202


def test_the_rate_limiter_reports_oom_too(redis_url: str, flush: None) -> None:
    async def scenario() -> None:
        client = AsyncRedis.from_url(redis_url)
        try:
            await client.config_set("maxmemory", "1")
            with pytest.raises(OutOfMemoryError) as caught:
                await take_tokens(client, Keys(), "oom", 1, 1.0, 1)
            assert is_out_of_memory(caught.value)
        finally:
            await client.config_set("maxmemory", "0")
            await client.aclose()

    asyncio.run(scenario())
