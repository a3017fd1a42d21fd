"""Summaries and tables from a results JSON.

``python -m bench.report bench/results/<date>.json [--baseline jobfleet]`` prints a short
Markdown table (for the README) with each system's medians and, when the baseline system was
measured, each figure's ratio to it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from bench.measure import MIB, median

Row = dict[str, Any]

#: (summary key, column title, number format)
COLUMNS: list[tuple[str, str, str]] = [
    ("enqueue_rate", "Enqueue (jobs/s)", "{:,.0f}"),
    ("processing_rate", "Processing (jobs/s)", "{:,.0f}"),
    ("latency_p50_ms", "Latency p50 (ms)", "{:,.1f}"),
    ("latency_p99_ms", "Latency p99 (ms)", "{:,.1f}"),
    ("rss_idle_mib", "RSS idle (MiB)", "{:,.0f}"),
    ("rss_peak_mib", "RSS peak (MiB)", "{:,.0f}"),
    ("recovery_s", "Recovery (s)", "{:,.1f}"),
]


def _phase_values(rounds: Iterable[Row], phase: str, key: str) -> list[float | None]:
    values: list[float | None] = []
    for rnd in rounds:
        data = rnd.get(phase) or {}
        if "error" in data or data.get("skipped"):
            continue
        if data.get("complete") is False:
            continue  # an incomplete run's rates and percentiles are not comparable
        values.append(data.get(key))
    return values


def _peak_rss(rnd: Row) -> float | None:
    peaks = [(rnd.get(phase) or {}).get("rss_peak_bytes") for phase in ("throughput", "latency")]
    clean = [p for p in peaks if p]
    return max(clean) if clean else None


def _scaled(value: float | None, factor: float) -> float | None:
    return None if value is None else value / factor


def recovery_summary(rounds: Iterable[Row]) -> Row:
    kills = [
        kill
        for rnd in rounds
        for kill in (rnd.get("recovery") or {}).get("kills", [])
        if "error" not in kill
    ]
    recovered = [k["recovery_s"] for k in kills if k.get("recovered")]
    missed = [k for k in kills if not k.get("recovered")]
    cap = max((k.get("cap_s", 0) for k in missed), default=None)
    return {
        "recovery_s": median(recovered),
        "recovery_max_s": max(recovered) if recovered else None,
        "kills": len(kills),
        "recovered": len(recovered),
        "not_recovered": len(missed),
        "recovery_cap_s": cap,
    }


def summarize(system: Row) -> Row:
    """Medians over the rounds (recovery: median over every kill)."""
    rounds: list[Row] = system.get("rounds", [])
    summary: Row = {
        "rounds": len(rounds),
        "enqueue_rate": median(_phase_values(rounds, "throughput", "enqueue_rate")),
        "processing_rate": median(_phase_values(rounds, "throughput", "processing_rate")),
        "latency_p50_ms": median(_phase_values(rounds, "latency", "p50_ms")),
        "latency_p99_ms": median(_phase_values(rounds, "latency", "p99_ms")),
        "rss_idle_mib": _scaled(median(_phase_values(rounds, "latency", "rss_idle_bytes")), MIB),
        "rss_peak_mib": _scaled(median(_peak_rss(r) for r in rounds), MIB),
    }
    summary.update(recovery_summary(rounds))
    return summary


def _fmt(value: float | None, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def _recovery_cell(summary: Row) -> str:
    kills = summary.get("kills", 0)
    if not kills:
        return "-"
    text = _fmt(summary.get("recovery_s"), "{:,.1f}")
    if summary.get("not_recovered"):
        cap = summary.get("recovery_cap_s") or 0
        missed = f"not within {cap:.0f} s ({summary['not_recovered']}/{kills} kills)"
        text = missed if not summary.get("recovered") else f"{text}; {missed}"
    else:
        text += f" ({kills} kills)"
    return text


def _cell(summary: Row, base: Row | None, key: str, fmt: str) -> str:
    """The median, then ``(nx)``: its ratio to the baseline's median (>1 = bigger)."""
    text = _recovery_cell(summary) if key == "recovery_s" else _fmt(summary.get(key), fmt)
    value = summary.get(key)
    ref = base.get(key) if base else None
    if value is not None and ref and base is not summary:
        text += f" ({value / ref:.2f}x)"
    return text


def table(results: Row, baseline: str = "jobfleet") -> str:
    """The Markdown table of medians (ratios to ``baseline`` when it was measured)."""
    systems: Row = results.get("systems", {})
    summaries = {name: data.get("summary") or summarize(data) for name, data in systems.items()}
    base = summaries.get(baseline)
    head = ["System", *(title for _, title, _ in COLUMNS)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, summary in summaries.items():
        cells = [_cell(summary, base, key, fmt) for key, _, fmt in COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def config_table(results: Row) -> str:
    lines = ["| System | Version | Workers | Enqueue API |", "|---|---|---|---|"]
    for name, data in results.get("systems", {}).items():
        cfg = data.get("config", {})
        lines.append(
            f"| {name} | {cfg.get('version', '?')} | {cfg.get('worker', '')} | "
            f"{cfg.get('enqueue', '')} |"
        )
    return "\n".join(lines)


def recovery_notes(results: Row) -> str:
    lines = ["What each system does, by default, when a worker dies holding a job:"]
    for name, data in results.get("systems", {}).items():
        mechanism = data.get("config", {}).get("recovery_mechanism")
        if mechanism:
            lines.append(f"- **{name}**: {mechanism}")
    return "\n".join(lines)


def notes(results: Row, baseline: str) -> str:
    meta: Row = results.get("meta", {})
    args: Row = meta.get("args", {})
    host: Row = meta.get("host", {})
    parts = [
        f"{args.get('jobs', '?')} no-op jobs, {args.get('workers', 2)} worker processes per "
        f"system, medians of {args.get('rounds', '?')} rounds; latency at "
        f"{args.get('latency_rate', '?')} jobs/s for {args.get('latency_seconds', '?')} s "
        "(enqueue -> job start); RSS summed over each worker's process tree; recovery = SIGKILL "
        "of the worker running a job -> that job starting on the other worker.",
        f"Host: {host.get('cpus', '?')} CPUs, Python {host.get('python', '?')}, "
        f"redis-server {host.get('redis_server', '?')}; date {meta.get('date', '?')}.",
    ]
    if baseline not in results.get("systems", {}):
        parts.append(f"No ratios: {baseline} was not measured in this run.")
    else:
        parts.append(f"(nx) = ratio to {baseline}.")
    return "\n".join(parts)


def render(results: Row, baseline: str = "jobfleet", with_config: bool = True) -> str:
    out = [table(results, baseline), "", notes(results, baseline)]
    if with_config:
        out += ["", config_table(results), "", recovery_notes(results)]
    return "\n".join(out)


def load(path: Path) -> Row:
    data: Row = json.loads(path.read_text())
    return data


def main(argv: list[str] | None = None, write: Callable[[str], object] = sys.stdout.write) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__)
    parser.add_argument("results", type=Path, help="a bench/results/<date>.json file")
    parser.add_argument("--baseline", default="jobfleet")
    parser.add_argument("--no-config", action="store_true", help="omit the configuration table")
    args = parser.parse_args(argv)
    write(render(load(args.results), args.baseline, not args.no_config) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
