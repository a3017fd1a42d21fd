"""This container's CPU and memory use against its limits, read from the cgroup files.

cgroup v2 (one unified hierarchy at ``/sys/fs/cgroup``): ``memory.current``, ``memory.max``,
``cpu.max`` (``"<quota> <period>"`` or ``"max <period>"``) and ``cpu.stat`` (``usage_usec``).
cgroup v1 (separate controllers, as on Docker 20.10 with cgroup v1):
``memory/memory.usage_in_bytes``, ``memory/memory.limit_in_bytes`` (a huge number when
unlimited), ``cpu/cpu.cfs_quota_us`` (-1 when unlimited) with ``cpu/cpu.cfs_period_us``, and
``cpuacct/cpuacct.usage`` (nanoseconds). Inside a container these paths are the container's
own cgroup. Anything missing or unreadable is reported as None, never an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
UNLIMITED_BYTES = 1 << 60  # v1 reports "no limit" as ~2^63 rounded to the page size


@dataclass(frozen=True)
class Usage:
    """One reading. Limits are None when there is none (or no cgroup to read)."""

    memory_bytes: int | None
    memory_limit_bytes: int | None
    cpu_seconds: float | None
    cpu_limit_cores: float | None


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _int(path: Path) -> int | None:
    text = _read(path)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def is_v2(root: Path = ROOT) -> bool:
    return (root / "cgroup.controllers").exists()


def read_usage(root: Path = ROOT) -> Usage:
    return _read_v2(root) if is_v2(root) else _read_v1(root)


def _read_v2(root: Path) -> Usage:
    limit_text = _read(root / "memory.max")
    limit = int(limit_text) if limit_text and limit_text.isdigit() else None
    cpu_seconds = None
    stat = _read(root / "cpu.stat") or ""
    for line in stat.splitlines():
        name, _, value = line.partition(" ")
        if name == "usage_usec" and value.strip().isdigit():
            cpu_seconds = int(value) / 1e6
    return Usage(_int(root / "memory.current"), limit, cpu_seconds, _cores_v2(root))


def _cores_v2(root: Path) -> float | None:
    quota, _, period = (_read(root / "cpu.max") or "max").partition(" ")
    if not quota.isdigit() or not period.strip().isdigit() or int(period) <= 0:
        return None
    return int(quota) / int(period)


def _read_v1(root: Path) -> Usage:
    limit = _int(root / "memory" / "memory.limit_in_bytes")
    if limit is not None and limit >= UNLIMITED_BYTES:
        limit = None
    usage_ns = _int(root / "cpuacct" / "cpuacct.usage")
    quota = _int(root / "cpu" / "cpu.cfs_quota_us")
    period = _int(root / "cpu" / "cpu.cfs_period_us")
    cores = quota / period if quota and quota > 0 and period and period > 0 else None
    return Usage(
        _int(root / "memory" / "memory.usage_in_bytes"),
        limit,
        usage_ns / 1e9 if usage_ns is not None else None,
        cores,
    )
