"""Small measuring helpers: rates, percentiles, medians and worker RSS sampling."""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections.abc import Callable, Iterable, Sequence

MIB = 1024 * 1024


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation between closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    frac = pos - low
    return ordered[low] + (ordered[high] - ordered[low]) * frac


def median(values: Iterable[float | None]) -> float | None:
    """Median of the values that are numbers (``None`` and NaN are skipped)."""
    clean = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(clean) if clean else None


def rate(count: int, seconds: float) -> float | None:
    return count / seconds if seconds > 0 else None


def span_rate(timestamps: Sequence[float]) -> float | None:
    """Completions per second between the first and the last timestamp."""
    if len(timestamps) < 2:
        return None
    return rate(len(timestamps) - 1, max(timestamps) - min(timestamps))


class RssSampler:
    """Samples a callable returning bytes on a background thread and keeps the peak."""

    def __init__(self, read: Callable[[], int], interval_s: float = 0.25) -> None:
        self._read = read
        self.interval_s = interval_s
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval_s)

    def sample(self) -> int:
        value = self._read()
        self.peak = max(self.peak, value)
        self.samples += 1
        return value

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def settle_rss(read: Callable[[], int], seconds: float = 1.0, samples: int = 5) -> int:
    """Median of a few readings over ``seconds`` (for idle RSS)."""
    values = []
    for _ in range(samples):
        values.append(read())
        time.sleep(seconds / samples)
    return int(statistics.median(values))


def mib(value: float | None) -> float | None:
    return None if value is None else value / MIB
