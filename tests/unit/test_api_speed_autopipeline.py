"""The submit path's auto-pipelining Redis client (``cluster/master/autopipeline.py``): commands
issued together travel together, yet each caller gets exactly its own answer or error."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from redis.asyncio import ConnectionPool, Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError, ResponseError

from cluster.master.autopipeline import AutoPipeline
from tests.redis_server import free_port

NAME = "autopipeline-test"


def run(url: str, scenario: Callable[[AutoPipeline, Redis], Awaitable[None]]) -> None:
    async def main() -> None:
        pool = ConnectionPool.from_url(url, decode_responses=True, client_name=NAME)
        plain = Redis(connection_pool=pool)
        try:
            await scenario(AutoPipeline(pool), plain)
        finally:
            await plain.aclose()
            await pool.disconnect()

    asyncio.run(main())


def test_concurrent_commands_share_one_pipeline_and_keep_their_answers(
    redis_url: str, flush: None
) -> None:
    async def scenario(auto: AutoPipeline, plain: Redis) -> None:
        before = int((await plain.info("stats"))["total_commands_processed"])
        answers = await asyncio.gather(*(auto.incrby("n", step) for step in range(1, 51)))
        assert sorted(answers) == sorted({sum(range(1, k + 1)) for k in range(1, 51)})
        assert await plain.get("n") == str(sum(range(1, 51)))
        ours = [c for c in await plain.client_list() if c["name"] == NAME]
        assert len(ours) <= 2  # the plain client's and one pipeline's, not 50 connections
        await auto.hset("h", mapping={"a": "1", "b": "2"})
        both: list[object] = list(await asyncio.gather(auto.hgetall("h"), auto.get("missing")))
        assert both == [
            {"a": "1", "b": "2"},
            None,
        ]  # response callbacks still apply
        after = int((await plain.info("stats"))["total_commands_processed"])
        assert after - before == 1 + 50 + 1 + 1 + 1 + 2  # INFO .. GETs: nothing sent twice

    run(redis_url, scenario)


def test_an_error_reply_goes_to_its_caller_only(redis_url: str, flush: None) -> None:
    async def scenario(auto: AutoPipeline, plain: Redis) -> None:
        await plain.set("s", "text")
        results = await asyncio.gather(
            auto.set("a", "1"), auto.incr("s"), auto.get("a"), return_exceptions=True
        )
        assert results[0] is True and results[2] == "1"
        assert isinstance(results[1], ResponseError)
        with pytest.raises(ResponseError):
            await auto.incr("s")  # alone, through the ordinary path

    run(redis_url, scenario)


def test_scripts_reload_after_a_script_flush(redis_url: str, flush: None) -> None:
    """NOSCRIPT reaches the script object, which loads it and retries, for every caller."""

    async def scenario(auto: AutoPipeline, plain: Redis) -> None:
        script = auto.register_script("return tonumber(ARGV[1]) * 2")
        assert await script(args=[1]) == 2
        await plain.script_flush()
        assert await asyncio.gather(*(script(args=[n]) for n in range(20))) == [
            n * 2 for n in range(20)
        ]

    run(redis_url, scenario)


def test_out_of_memory_reaches_the_caller_as_such(redis_url: str, flush: None) -> None:
    async def scenario(auto: AutoPipeline, plain: Redis) -> None:
        await plain.config_set("maxmemory", "1")
        try:
            results = await asyncio.gather(
                auto.set("x", "1"), auto.get("x"), return_exceptions=True
            )
            assert isinstance(results[0], OutOfMemoryError) and results[1] is None
        finally:
            await plain.config_set("maxmemory", "0")

    run(redis_url, scenario)


def test_a_lost_connection_fails_every_waiting_caller() -> None:
    async def main() -> None:
        pool = ConnectionPool.from_url(f"redis://127.0.0.1:{free_port()}/0", retry=None)
        auto = AutoPipeline(pool)
        try:
            results = await asyncio.gather(
                *(auto.get(f"k{n}") for n in range(5)), return_exceptions=True
            )
            assert all(isinstance(r, RedisConnectionError) for r in results), results
            with pytest.raises(RedisConnectionError):
                await auto.get("alone")
        finally:
            await pool.disconnect()

    asyncio.run(main())
