"""Worker container memory read from its cgroup (v1 or v2) on the host, sampled on a thread:
working set, anonymous memory (RSS), the kernel's high-water mark, OOM kills."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench.compose_project import Json

CGROUP = Path("/sys/fs/cgroup")


# --- worker memory from the cgroups ---------------------------------------------------------
def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _int(path: Path) -> int | None:
    text = _read(path)
    try:
        return int(text.strip()) if text is not None else None
    except ValueError:
        return None


def _stat(path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in (_read(path) or "").splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            out[key] = int(value)
    return out


def cgroup_dir(container: Json) -> tuple[Path, int] | None:
    """The memory cgroup directory of a container on this host and its version (1 or 2)."""
    cid = container["Id"]
    parent = (container.get("HostConfig") or {}).get("CgroupParent") or ""
    if (CGROUP / "cgroup.controllers").exists():  # v2
        candidates = [
            CGROUP / "system.slice" / f"docker-{cid}.scope",
            CGROUP / (parent.strip("/") or "docker") / cid,
        ]
        version = 2
    else:
        memory = CGROUP / "memory"
        candidates = [
            memory / (parent.strip("/") or "docker") / cid,
            memory / "system.slice" / f"docker-{cid}.scope",
        ]
        version = 1
    for path in candidates:
        if path.is_dir():
            return path, version
    return None


@dataclass
class WorkerMemory:
    """Readings of one worker container."""

    name: str
    path: Path | None
    version: int
    limit_bytes: int | None = None
    samples: int = 0
    #: phase -> metric -> peak bytes
    peaks: dict[str, dict[str, int]] = field(default_factory=dict)

    def read(self) -> dict[str, int]:
        """working_set (usage - inactive_file, as ``docker stats``), rss (anon), usage."""
        if self.path is None:
            return {}
        if self.version == 1:
            usage = _int(self.path / "memory.usage_in_bytes") or 0
            stat = _stat(self.path / "memory.stat")
            inactive = stat.get("total_inactive_file", 0)
            rss = stat.get("total_rss", 0) + stat.get("total_rss_huge", 0)
        else:
            usage = _int(self.path / "memory.current") or 0
            stat = _stat(self.path / "memory.stat")
            inactive = stat.get("inactive_file", 0)
            rss = stat.get("anon", 0)
        return {"working_set": max(0, usage - inactive), "rss": rss, "usage": usage}

    def high_water(self) -> Json:
        """The kernel's own records: peak charge (with page cache), limit hits, OOM kills."""
        if self.path is None:
            return {}
        if self.version == 1:
            oom = _stat(self.path / "memory.oom_control").get("oom_kill")
            return {
                "kernel_peak_bytes": _int(self.path / "memory.max_usage_in_bytes"),
                "limit_hits": _int(self.path / "memory.failcnt"),
                "oom_kills": oom,
            }
        events = _stat(self.path / "memory.events")
        return {
            "kernel_peak_bytes": _int(self.path / "memory.peak"),
            "limit_hits": events.get("max"),
            "oom_kills": events.get("oom_kill"),
        }


class MemorySampler:
    """Samples every worker's cgroup on a thread; peaks are kept per phase (``phase`` attr)."""

    def __init__(self, workers: list[WorkerMemory], interval_s: float) -> None:
        self.workers = workers
        self.interval_s = interval_s
        self.phase = "idle"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cgroup-sampler", daemon=True)

    def sample(self) -> None:
        phase = self.phase
        for worker in self.workers:
            reading = worker.read()
            if not reading:
                continue
            worker.samples += 1
            peaks = worker.peaks.setdefault(phase, {})
            for key, value in reading.items():
                peaks[key] = max(peaks.get(key, 0), value)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval_s)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @contextlib.contextmanager
    def during(self, phase: str) -> Iterator[None]:
        previous, self.phase = self.phase, phase
        try:
            yield
        finally:
            self.sample()
            self.phase = previous

    def summary(self) -> Json:
        per_worker = []
        overall: dict[str, int] = {}
        phases: dict[str, dict[str, int]] = {}
        for worker in self.workers:
            entry: Json = {
                "name": worker.name,
                "cgroup": str(worker.path) if worker.path else None,
                "limit_bytes": worker.limit_bytes,
                "samples": worker.samples,
                "peaks": worker.peaks,
                **worker.high_water(),
            }
            per_worker.append(entry)
            for phase, peaks in worker.peaks.items():
                into = phases.setdefault(phase, {})
                for key, value in peaks.items():
                    into[key] = max(into.get(key, 0), value)
                    overall[key] = max(overall.get(key, 0), value)
        kernel = [w["kernel_peak_bytes"] for w in per_worker if w.get("kernel_peak_bytes")]
        limits = [w["limit_bytes"] for w in per_worker if w.get("limit_bytes")]
        return {
            "source": f"cgroup v{self.workers[0].version}" if self.workers else None,
            "interval_s": self.interval_s,
            "limit_bytes": min(limits) if limits else None,
            "peak_working_set_bytes": overall.get("working_set"),
            "peak_rss_bytes": overall.get("rss"),
            "peak_usage_bytes": overall.get("usage"),
            "kernel_peak_bytes": max(kernel) if kernel else None,
            "oom_kills": sum(w.get("oom_kills") or 0 for w in per_worker),
            "limit_hits": sum(w.get("limit_hits") or 0 for w in per_worker),
            "per_phase": phases,
            "workers": per_worker,
        }
