"""The benchmarked systems. Each module ``bench.peers.<name>`` holds one :class:`Peer` subclass;
their task and worker-launcher modules sit beside them (``<name>_tasks``, ``<name>_worker``)."""

from __future__ import annotations

import importlib
import importlib.util

from bench.peers.base import Peer

#: name -> ("module:Class", module the system needs); the order is a round's default order
SYSTEMS: dict[str, tuple[str, str]] = {
    "jobfleet": ("bench.peers.jobfleet:JobfleetPeer", "cluster"),
    "rq": ("bench.peers.rq:RqPeer", "rq"),
    "celery": ("bench.peers.celery:CeleryPeer", "celery"),
    "dramatiq": ("bench.peers.dramatiq:DramatiqPeer", "dramatiq"),
    "arq": ("bench.peers.arq:ArqPeer", "arq"),
}


def _lookup(name: str) -> tuple[str, str]:
    try:
        return SYSTEMS[name]
    except KeyError:
        raise KeyError(f"unknown system {name!r} (known: {', '.join(SYSTEMS)})") from None


def unavailable_reason(name: str) -> str | None:
    """Why ``name`` cannot run here, or ``None``."""
    _, needed = _lookup(name)
    if importlib.util.find_spec(needed) is None:
        return f"{needed} is not importable (pip install -r bench/requirements.txt)"
    return load(name).unavailable_reason()


def load(name: str) -> type[Peer]:
    target, _ = _lookup(name)
    module, _, cls = target.partition(":")
    peer_cls: type[Peer] = getattr(importlib.import_module(module), cls)
    return peer_cls
