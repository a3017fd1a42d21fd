"""Admission in one round trip: the queue-depth ceiling and the rate limit share one script
(``scripts/ratelimit.lua``). A full queue is refused first and costs no tokens; the depth is
read live, per queue; either check can be off without touching Redis for it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from redis.asyncio import Redis

from cluster.keys import Keys
from cluster.ratelimit import Admission, Decision
from tests.unit.security_helpers import master_process

KEYS = Keys()


def run(redis_url: str, scenario: Callable[[Admission, Redis], Awaitable[None]]) -> None:
    async def main() -> None:
        client = Redis.from_url(redis_url, decode_responses=True)
        try:
            await scenario(Admission(client, KEYS), client)
        finally:
            await client.aclose()

    asyncio.run(main())


async def fill(client: Redis, queue: str, ready: int = 0, scheduled: int = 0) -> None:
    keys = KEYS.queue(queue)
    if ready:
        await client.zadd(keys.ready, {f"r{n}": n for n in range(ready)})
    if scheduled:
        await client.zadd(keys.scheduled, {f"s{n}": n for n in range(scheduled)})


def test_a_full_queue_is_refused_and_takes_no_tokens(redis_url: str, flush: None) -> None:
    async def scenario(admission: Admission, client: Redis) -> None:
        await fill(client, "default", ready=3, scheduled=2)
        full = await admission.check("c", 1, 1.0, 5, {"default": 1}, ceiling=5)
        assert (full.allowed, full.full, full.depth, full.wait_s) == (False, "default", 5, 0)
        assert not await client.exists(KEYS.rate_bucket("c"))  # nothing charged
        fits = await admission.check("c", 2, 1.0, 5, {"default": 2}, ceiling=7)
        assert (fits.allowed, fits.full, fits.left) == (True, None, 3)

    run(redis_url, scenario)


def test_the_first_full_queue_is_named(redis_url: str, flush: None) -> None:
    async def scenario(admission: Admission, client: Redis) -> None:
        await fill(client, "a", ready=1)
        await fill(client, "b", ready=4)
        await fill(client, "c", scheduled=4)
        wanted = {"c": 1, "b": 1, "a": 3}
        decision = await admission.check("x", 5, 0, 1, wanted, ceiling=4)
        assert (decision.allowed, decision.full, decision.depth) == (False, "b", 4)
        assert (await admission.check("x", 1, 0, 1, {"a": 3}, ceiling=4)).allowed

    run(redis_url, scenario)


def test_a_rate_limited_request_on_a_queue_with_room(redis_url: str, flush: None) -> None:
    async def scenario(admission: Admission, client: Redis) -> None:
        await fill(client, "default", ready=1)
        first = await admission.check("c", 3, 0.01, 3, {"default": 3}, ceiling=10)
        assert (first.allowed, first.left) == (True, 0)
        refused = await admission.check("c", 2, 0.01, 3, {"default": 2}, ceiling=10)
        assert (refused.allowed, refused.full, refused.left) == (False, None, 0)
        assert 100 < refused.wait_s <= 200  # 2 tokens at 0.01/s, minus what refilled meanwhile

    run(redis_url, scenario)


def test_either_check_can_be_off(redis_url: str, flush: None) -> None:
    async def scenario(admission: Admission, client: Redis) -> None:
        await fill(client, "default", ready=50)
        no_rate = await admission.check("c", 10, 0, 1, {"default": 10}, ceiling=100)
        assert no_rate == Decision(True, 0, 0)
        assert not await client.exists(KEYS.rate_bucket("c"))  # rate 0: no bucket at all
        no_ceiling = await admission.check("c", 1, 5.0, 2, {"default": 1}, ceiling=0)
        assert (no_ceiling.allowed, no_ceiling.full, no_ceiling.left) == (True, None, 1)

    run(redis_url, scenario)


def test_a_full_queue_answers_503_before_the_rate_limit_429(
    redis_url: str, log_dir: Path, tmp_path: Path, flush: None
) -> None:
    """Both limits on through the master: 503 for the full queue costs the client nothing."""
    settings = {"max_queue_depth": 2, "submit_rate": 0.01, "submit_burst": 3}
    with (
        master_process(tmp_path, redis_url, log_dir, **settings) as url,
        httpx.Client(base_url=url, timeout=15) as http,
    ):
        assert http.post("/jobs/batch", json={"jobs": [{"type": "echo"}] * 2}).status_code == 202
        for _ in range(3):
            full = http.post("/jobs", json={"type": "echo"})
            assert full.status_code == 503 and "queue 'default' is full" in full.json()["detail"]
        assert http.post("/jobs", json={"type": "echo", "queue": "other"}).status_code == 202
        limited = http.post("/jobs", json={"type": "echo", "queue": "other"})
        assert limited.status_code == 429, limited.text
        assert "too many submissions" in limited.json()["detail"]
