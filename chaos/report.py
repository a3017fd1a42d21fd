"""Reports of a checked run: ``summary.json``, ``report.md`` and ``timeline.png``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import orjson
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from chaos.checker import MAX_LISTED, CheckResult
from chaos.history import TERMINAL_STATUSES, History

LISTED_IN_MARKDOWN = 20
FAULT_COLOURS = ("tab:red", "tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:olive")


def _origin(history: History) -> float:
    meta = history.meta
    if meta is not None:
        return meta.start
    times = [s.t0 for s in history.submits] + [f.t_start for f in history.faults]
    return min(times, default=0.0)


def summary(history: History, result: CheckResult) -> dict[str, Any]:
    """The JSON summary: verdict, counts, stats, and (truncated) job lists."""
    meta = history.meta
    expect = meta.expect_valid if meta else True
    data = result.to_dict()
    for name in ("lost", "unexpected", "duplicated", "recovered", "stuck", "failed_jobs"):
        data[name] = data[name][:MAX_LISTED]
    data["indeterminate_absent"] = data["indeterminate_absent"][:MAX_LISTED]
    data["recovery"] = [{k: v for k, v in r.items() if k != "jobs"} for r in result.recovery]
    data.update(
        scenario=meta.scenario if meta else None,
        seed=meta.seed if meta else None,
        run_id=meta.run_id if meta else None,
        started=meta.start if meta else None,
        params=meta.params if meta else {},
        expect_valid=expect,
        as_expected=result.valid == expect,
        faults=[
            {
                "name": f.name,
                "target": f.target,
                "t_start": f.t_start,
                "t_end": f.t_end,
                "error": f.error,
            }
            for f in history.faults
        ],
    )
    return data


def _fmt(value: object, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _job_lines(title: str, items: Sequence[dict[str, Any]]) -> list[str]:
    if not items:
        return []
    lines = [f"### {title} ({len(items)})", ""]
    for item in items[:LISTED_IN_MARKDOWN]:
        fields = ", ".join(f"{k}={_fmt(v)}" for k, v in item.items() if v is not None)
        lines.append(f"- {fields}")
    if len(items) > LISTED_IN_MARKDOWN:
        lines.append(f"- ... {len(items) - LISTED_IN_MARKDOWN} more in summary.json")
    return [*lines, ""]


def _fault_table(history: History, result: CheckResult) -> list[str]:
    if not history.faults:
        return ["No faults were injected.", ""]
    t0 = _origin(history)
    lines = [
        "| # | fault | target | start | duration s | affected | recovered | "
        "recovery p50 / max s | error |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for n, (fault, rec) in enumerate(zip(history.faults, result.recovery, strict=False), 1):
        rs = rec.get("recovery_s", {})
        lines.append(
            f"| {n} | {fault.name} | {fault.target or '-'} | t+{fault.t_start - t0:.1f}s "
            f"| {fault.t_end - fault.t_start:.1f} | {rec.get('affected', 0)} "
            f"| {rec.get('recovered', 0)} | {_fmt(rs.get('p50'))} / {_fmt(rs.get('max'))} "
            f"| {fault.error or ''} |"
        )
    return [*lines, ""]


def markdown(history: History, result: CheckResult) -> str:
    meta = history.meta
    verdict = "VALID" if result.valid else "INVALID"
    expect = meta.expect_valid if meta else True
    title = f"{meta.scenario} (seed {meta.seed})" if meta else "(no meta)"
    lines = [f"# Chaos run {title}: {verdict}", ""]
    lines.append(
        f"Expected {'valid' if expect else 'INVALID'}: "
        f"{'as expected' if result.valid == expect else '**NOT as expected**'}."
    )
    lines += ["", "| count | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in result.counts.items()]
    lines += ["", "## Faults", "", *_fault_table(history, result)]
    tp, lat = result.throughput, result.latency
    lines += [
        "## Throughput (completions / s)",
        "",
        f"overall {_fmt(tp.get('overall'))}, during faults {_fmt(tp.get('during_faults'))}, "
        f"outside faults {_fmt(tp.get('outside_faults'))}, "
        f"after the last fault {_fmt(tp.get('after_last_fault'))}",
        "",
        "## Latency, submit ack to finished (s)",
        "",
        " ".join(f"{k}={_fmt(lat.get(k), 3)}" for k in ("count", "p50", "p90", "p99", "max")),
        "",
        "## Jobs",
        "",
    ]
    for name in ("lost", "stuck", "unexpected", "duplicated", "recovered", "failed_jobs"):
        lines += _job_lines(name, getattr(result, name))
    if result.notes:
        lines += ["## Notes", "", *(f"- {n}" for n in result.notes), ""]
    lines += ["## Timeline", "", "![timeline](timeline.png)", ""]
    if meta is not None:
        lines += [
            "## Reproduce",
            "",
            f"    python -m chaos run --scenario {meta.scenario} --seed {meta.seed} "
            f"--jobs {meta.params.get('jobs', '')} --url {meta.url} --project {meta.project}",
            "    python -m chaos check history.jsonl",
            "",
        ]
    return "\n".join(lines)


def _cumulative(ax: Axes, times: Iterable[float], t0: float, label: str, colour: str) -> None:
    xs = sorted(t - t0 for t in times)
    if xs:
        ax.step(xs, range(1, len(xs) + 1), where="post", label=label, color=colour)


def _legend(ax: Axes, loc: Literal["upper right", "lower right"]) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc=loc, fontsize=7)


def _mark_faults(axes: Sequence[Axes], history: History, t0: float) -> None:
    for n, fault in enumerate(history.faults):
        colour = FAULT_COLOURS[n % len(FAULT_COLOURS)]
        lo, hi = fault.t_start - t0, fault.t_end - t0
        for ax in axes:
            if hi - lo > 0.05:
                ax.axvspan(lo, hi, color=colour, alpha=0.15, linewidth=0)
            else:
                ax.axvline(lo, color=colour, alpha=0.6, linewidth=1)
        axes[0].annotate(
            fault.name + (" (error)" if fault.error else ""),
            xy=(lo, 0.98),
            xycoords=("data", "axes fraction"),
            rotation=90,
            fontsize=7,
            va="top",
            ha="left",
            color=colour,
        )


def _plot_queues(ax: Axes, history: History, t0: float) -> None:
    good = [s for s in history.samples if s.error is None]
    xs = [s.t - t0 for s in good]
    for name, colour in (
        ("queued", "tab:blue"),
        ("running", "tab:green"),
        ("scheduled", "tab:gray"),
    ):
        ax.plot(xs, [getattr(s, name) or 0 for s in good], label=name, color=colour, lw=1)
    if any(s.workers is not None for s in good):
        ax.plot(xs, [s.workers or 0 for s in good], label="workers", color="black", lw=1, ls="--")
    bad = [s.t - t0 for s in history.samples if s.error is not None]
    if bad:
        ax.plot(bad, [0] * len(bad), "x", color="red", label="/queues unanswered")
    ax.set_ylabel("jobs")
    ax.set_xlabel("seconds since start")
    _legend(ax, "upper right")


def timeline_png(history: History, result: CheckResult, path: str | Path) -> Path:
    """Completions over time, queue depth, and the faults as shaded spans."""
    t0 = _origin(history)
    fig = Figure(figsize=(11, 6.5), dpi=100)
    top, bottom = fig.subplots(2, 1, sharex=True)
    _cumulative(
        top, (s.t1 for s in history.submits if s.outcome == "ok"), t0, "acknowledged", "tab:blue"
    )
    done = (
        f.finished_at
        for f in history.finals
        if f.status in TERMINAL_STATUSES and f.finished_at is not None
    )
    _cumulative(top, done, t0, "completed", "tab:green")
    top.set_ylabel("jobs (cumulative)")
    _legend(top, "lower right")
    _plot_queues(bottom, history, t0)
    _mark_faults([top, bottom], history, t0)
    meta = history.meta
    name = f"{meta.scenario} seed={meta.seed}" if meta else "chaos run"
    counts = result.counts
    fig.suptitle(
        f"{name}: {'VALID' if result.valid else 'INVALID'}  lost={counts.get('lost', 0)} "
        f"stuck={counts.get('stuck', 0)} unexpected={counts.get('unexpected', 0)} "
        f"duplicated={counts.get('duplicated', 0)}"
    )
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, format="png")
    return target


def write_all(history: History, result: CheckResult, out_dir: str | Path) -> dict[str, Path]:
    """Write summary.json, report.md and timeline.png into *out_dir*."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "summary": out / "summary.json",
        "report": out / "report.md",
        "timeline": out / "timeline.png",
    }
    paths["summary"].write_bytes(
        orjson.dumps(summary(history, result), option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
    )
    paths["report"].write_text(markdown(history, result), encoding="utf-8")
    timeline_png(history, result, paths["timeline"])
    return paths
