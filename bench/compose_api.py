"""The master's HTTP API as the compose phase drives it: one pool of keep-alive connections,
concurrent single and batch submission, waiting for the backlog to drain."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from bench.compose_project import Json


class Api:
    """The master's API over one pool of keep-alive connections."""

    def __init__(self, url: str, token: str, connections: int) -> None:
        self.http = httpx.AsyncClient(
            base_url=url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(60.0),
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        )
        self.throttled = 0  # 429/503 answers waited out

    async def close(self) -> None:
        await self.http.aclose()

    async def call(self, method: str, path: str, body: Json | None = None) -> Any:
        for _ in range(100):
            response = await self.http.request(method, path, json=body)
            if response.status_code in (429, 503):
                self.throttled += 1
                await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            if response.status_code >= 400:
                raise RuntimeError(f"{method} {path} -> {response.status_code}: {response.text}")
            return response.json()
        raise RuntimeError(f"{method} {path}: still refused after 100 retries")

    async def submit_one(self, payload: Json) -> str:
        data = await self.call("POST", "/jobs", {"type": "echo", "payload": payload})
        return str(data["id"])

    async def submit_batch(self, payloads: list[Json]) -> list[str]:
        jobs = [{"type": "echo", "payload": p} for p in payloads]
        data = await self.call("POST", "/jobs/batch", {"jobs": jobs})
        return [str(i) for i in data["ids"]]

    async def backlog(self) -> int:
        data = await self.call("GET", "/queues")
        return sum(q["queued"] + q["running"] + q["scheduled"] for q in data["queues"])

    async def records(self, ids: list[str], connections: int) -> list[Json]:
        out: list[Json] = []
        it = iter(ids)

        async def reader() -> None:
            for job_id in it:
                out.append(await self.call("GET", f"/jobs/{job_id}"))

        await asyncio.gather(*(reader() for _ in range(connections)))
        return out

    async def wait_workers(self, count: int, timeout_s: float) -> int:
        deadline = time.monotonic() + timeout_s
        while True:
            live = len((await self.call("GET", "/workers"))["workers"])
            if live >= count or time.monotonic() > deadline:
                return live
            await asyncio.sleep(0.5)


async def submit_singles(api: Api, n: int, connections: int) -> list[str]:
    ids: list[str] = []
    counter = iter(range(n))

    async def client() -> None:
        for i in counter:
            ids.append(await api.submit_one({"i": i}))

    await asyncio.gather(*(client() for _ in range(connections)))
    return ids


async def submit_batches(api: Api, n: int, batch: int, connections: int) -> list[str]:
    chunks = iter(range(0, n, batch))
    ids: list[str] = []

    async def client() -> None:
        for start in chunks:
            count = min(batch, n - start)
            ids.extend(await api.submit_batch([{"i": start + k} for k in range(count)]))

    await asyncio.gather(*(client() for _ in range(connections)))
    return ids


async def wait_drained(api: Api, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await api.backlog() == 0:
            return True
        await asyncio.sleep(0.25)
    return False
