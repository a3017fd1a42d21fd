"""What durability costs jobfleet: the throughput phase against a Redis with the append-only
file on and ``appendfsync everysec`` vs ``always`` (the compose default).

Each run gets a fresh loopback ``redis-server`` from :class:`bench.redis_server.RedisServer`
with ``durable=True`` (``--appendonly yes --appendfsync everysec``, its data directory under
the system temp dir, on a real disk here); for ``always`` the policy is switched with
``CONFIG SET appendfsync always`` before anything is enqueued. Both policies are read back with
``CONFIG GET`` and recorded, so a run never reports the wrong one. The order of the two
alternates between rounds. The benchmark's own records of job starts go where
:mod:`bench.phases` puts them (a file by default), so they are not fsynced with the queue.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from bench.measure import median
from bench.peers import load
from bench.peers.base import OptionValue
from bench.phases import BenchConfig, throughput
from bench.redis_server import RedisServer

POLICIES = ("everysec", "always")
SYSTEM = "jobfleet"

Json = dict[str, Any]


def _config(server: RedisServer, name: str) -> str:
    client = server.client()
    try:
        value = cast(dict[str, str], client.config_get(name)).get(name)
        return value.decode() if isinstance(value, bytes) else str(value)
    finally:
        client.close()


def one_run(
    policy: str,
    port: int,
    workdir: Path,
    cfg: BenchConfig,
    options: dict[str, OptionValue],
) -> Json:
    load1 = os.getloadavg()[0]
    began = time.monotonic()
    with RedisServer(port, durable=True) as server:
        client = server.client()
        try:
            if policy != "everysec":
                client.config_set("appendfsync", policy)
            settings = {k: _config(server, k) for k in ("appendonly", "appendfsync", "dir")}
            if settings["appendonly"] != "yes" or settings["appendfsync"] != policy:
                raise RuntimeError(f"redis-server is not in the wanted mode: {settings}")
            peer = load(SYSTEM)(server.url, workdir, options)
            try:
                peer.open()
                data: Json = throughput(peer, client, cfg)
            finally:
                peer.stop_workers()
                peer.close()
            info: dict[str, Any] = client.info("persistence")
            data["aof"] = {
                "appendonly": settings["appendonly"],
                "appendfsync": settings["appendfsync"],
                "aof_current_size": info.get("aof_current_size"),
                "aof_delayed_fsync": info.get("aof_delayed_fsync"),
            }
        except Exception as exc:  # recorded; the other runs go on
            data = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
        finally:
            client.close()
    data["policy"] = policy
    data["loadavg1_before"] = load1
    data["wall_s"] = time.monotonic() - began
    return data


def summarize(runs: list[Json]) -> Json:
    """Medians per policy over complete runs, and always / everysec."""
    out: Json = {}
    for policy in POLICIES:
        ok = [r for r in runs if r.get("policy") == policy and r.get("complete")]
        out[policy] = {
            "runs": len(ok),
            "processing_rate": median(r.get("processing_rate") for r in ok),
            "enqueue_rate": median(r.get("enqueue_rate") for r in ok),
        }
    for key in ("processing_rate", "enqueue_rate"):
        slow, fast = out["always"][key], out["everysec"][key]
        out[f"{key}_ratio"] = slow / fast if slow and fast else None
    return out


def brief(data: Json) -> str:
    if "error" in data:
        return f"ERROR {data['error']}"
    return (
        f"appendfsync {data['policy']}: enqueue {data['enqueue_rate'] or 0:,.0f}/s, processing "
        f"{data['processing_rate'] or 0:,.0f}/s ({data['completed']}/{data['jobs']})"
    )


def run(
    rounds: int,
    port: int,
    workdir: Path,
    cfg: BenchConfig,
    options: dict[str, OptionValue],
    log: Callable[[str], None],
    save: Callable[[Json], None] = lambda _: None,
) -> Json:
    """``rounds`` x both policies; ``save`` gets the partial result after every run."""
    out: Json = {
        "system": SYSTEM,
        "jobs": cfg.jobs,
        "workers": cfg.workers,
        "options": options,
        "runs": [],
    }
    reason = load(SYSTEM).unavailable_reason()
    if reason is not None:
        out["skipped"] = reason
        return out
    for rnd in range(rounds):
        order = POLICIES if rnd % 2 == 0 else POLICIES[::-1]
        for policy in order:
            log(f"durability round {rnd + 1}/{rounds}: appendfsync {policy} ...")
            data = one_run(policy, port, workdir, cfg, options)
            data["round"] = rnd + 1
            out["runs"].append(data)
            log(f"  {brief(data)}")
            out["summary"] = summarize(out["runs"])
            save(out)
    return out
