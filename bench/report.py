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
    parts = [
        f"{args.get('jobs', '?')} no-op jobs, {args.get('workers', 2)} worker processes per "
        f"system, medians of {args.get('rounds', '?')} rounds; latency at "
        f"{args.get('latency_rate', '?')} jobs/s for {args.get('latency_seconds', '?')} s "
        "(enqueue -> job start); RSS summed over each worker's process tree; recovery = SIGKILL "
        "of the worker running a job -> that job starting on the other worker.",
        machine(results),
    ]
    if baseline not in results.get("systems", {}):
        parts.append(f"No ratios: {baseline} was not measured in this run.")
    else:
        parts.append(f"(nx) = ratio to {baseline}.")
    return "\n".join(parts)


def _mib(value: float | None) -> str:
    return "-" if value is None else f"{value / MIB:,.1f}"


def compose_table(results: Row) -> str:
    """jobfleet's compose cluster: submission over HTTP, processing, latency, worker memory."""
    data: Row = results.get("compose") or {}
    if not data:
        return ""
    if "skipped" in data or "error" in data:
        return f"Compose cluster: not measured ({data.get('skipped') or data.get('error')})."
    cfg: Row = data.get("config", {})
    workers: Row = data.get("workers", {})
    mem: Row = data.get("memory", {})
    lat: Row = data.get("latency", {})
    limits = workers.get("memory_limit_bytes") or [mem.get("limit_bytes")]
    cpus = workers.get("cpus") or ["?"]
    lines = [
        "| jobfleet compose cluster | POST /jobs | POST /jobs/batch |",
        "|---|---|---|",
    ]

    def row(title: str, key: str, fmt: str) -> None:
        cells = []
        for kind in ("single", "batch"):
            part: Row = data.get(kind) or {}
            text = _fmt(part.get(key), fmt)
            if part and part.get("complete") is False:
                text += f" (incomplete: {part.get('succeeded')}/{part.get('jobs')})"
            busy = (part.get("client_cpu_s") or 0) / (part.get("submit_s") or 1)
            if key == "submission_rate" and busy > 0.8:
                text += f" (client-bound: {busy:.0%} of a CPU)"
            cells.append(text)
        lines.append(f"| {title} | " + " | ".join(cells) + " |")

    row("Submission (jobs/s)", "submission_rate", "{:,.0f}")
    wrks: list[Row] = [data.get("single_wrk") or {}, data.get("batch_wrk") or {}]
    if any(w.get("submission_rate") for w in wrks):
        cells = [
            f"{w['submission_rate']:,.0f} ({w.get('connections')} connections, "
            f"{w.get('seconds'):g} s)"
            if w.get("submission_rate")
            else "-"
            for w in wrks
        ]
        lines.append(f"| Submission, wrk (jobs/s) | {cells[0]} | {cells[1]} |")
    row("Processing (jobs/s)", "processing_rate", "{:,.0f}")
    limit = limits[0] if limits and limits[0] else None
    lines += [
        "",
        "| Latency p50 (ms) | Latency p99 (ms) | Peak worker memory (MiB) | OOM kills |",
        "|---|---|---|---|",
        f"| {_fmt(lat.get('p50_ms'), '{:,.1f}')} | {_fmt(lat.get('p99_ms'), '{:,.1f}')} "
        f"| {_mib(mem.get('peak_working_set_bytes'))} of {_mib(limit)} "
        f"(RSS {_mib(mem.get('peak_rss_bytes'))}) | {mem.get('oom_kills', '-')} |",
        "",
        f"{workers.get('count', cfg.get('workers', '?'))} worker containers at "
        f"{'/'.join(f'{c:g}' for c in cpus)} CPU / {_mib(limit)} MiB, JOBFLEET_CONCURRENCY="
        f"{workers.get('concurrency', '?')}, Redis appendfsync {cfg.get('fsync') or 'always'}; "
        f"{cfg.get('jobs')} `echo` jobs per API with the workers paused, then drained "
        f"(processing = first to last `started_at`); POST /jobs from "
        f"{cfg.get('connections')} connections (Python, httpx), batches of "
        f"{cfg.get('batch')} from "
        f"{cfg.get('batch_connections')}; submit rate limit "
        f"{'off' if not cfg.get('submit_rate') else cfg.get('submit_rate')}. Latency: one "
        f"POST /jobs every {1000 / float(cfg.get('latency_rate') or 1):g} ms for "
        f"{cfg.get('latency_seconds')} s, request sent -> `started_at`. Memory: "
        f"{mem.get('source', '?')} working set (usage - inactive file cache, as `docker stats`), "
        f"peak over workers and the whole run; the kernel's high-water mark with the job logs' "
        f"page cache was {_mib(mem.get('kernel_peak_bytes'))} MiB.",
    ]
    return "\n".join(lines)


def durability_table(results: Row) -> str:
    """jobfleet's throughput with Redis appendfsync everysec vs always."""
    data: Row = results.get("durability") or {}
    if not data:
        return ""
    if "skipped" in data:
        return f"Durability: not measured ({data['skipped']})."
    summary: Row = data.get("summary") or {}
    ev: Row = summary.get("everysec") or {}
    al: Row = summary.get("always") or {}
    ratio = summary.get("processing_rate_ratio")
    eratio = summary.get("enqueue_rate_ratio")
    return "\n".join(
        [
            "| jobfleet, Redis AOF | appendfsync everysec | appendfsync always | always / "
            "everysec |",
            "|---|---|---|---|",
            f"| Processing (jobs/s) | {_fmt(ev.get('processing_rate'), '{:,.0f}')} | "
            f"{_fmt(al.get('processing_rate'), '{:,.0f}')} | {_fmt(ratio, '{:.2f}x')} |",
            f"| Enqueue (jobs/s) | {_fmt(ev.get('enqueue_rate'), '{:,.0f}')} | "
            f"{_fmt(al.get('enqueue_rate'), '{:,.0f}')} | {_fmt(eratio, '{:.2f}x')} |",
            "",
            f"The throughput phase ({data.get('jobs')} no-op jobs, {data.get('workers')} worker "
            f"processes, host processes, loopback redis-server with `--appendonly yes`), medians "
            f"of {ev.get('runs', 0)} / {al.get('runs', 0)} runs.",
        ]
    )


def machine(results: Row) -> str:
    meta: Row = results.get("meta", {})
    host: Row = meta.get("host", {})
    mem = host.get("mem_total_bytes")
    ram = f", {mem / 2**30:.0f} GiB RAM" if mem else ""
    model = f" ({host['cpu_model']})" if host.get("cpu_model") else ""
    return (
        f"Measured {meta.get('date', '?')} on {host.get('cpus', '?')} CPUs{model}{ram}, "
        f"{host.get('platform', '?')}, Python {host.get('python', '?')}, "
        f"redis-server {host.get('redis_server', '?')}."
    )


def render(results: Row, baseline: str = "jobfleet", with_config: bool = True) -> str:
    out: list[str] = []
    if results.get("systems"):
        out += [table(results, baseline), "", notes(results, baseline)]
        if with_config:
            out += ["", config_table(results), "", recovery_notes(results)]
    for extra in (durability_table(results), compose_table(results)):
        if extra:
            out += ["", extra] if out else [extra]
    if not results.get("systems"):
        out += ["", machine(results)]
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
