"""What ``jobfleet watch`` draws: queues, workers and recent failures from ``/ui/summary``."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

SPARK = " ▁▂▃▄▅▆▇█"


def sparkline(values: list[float], width: int = 40) -> str:
    values = values[-width:]
    if not values:
        return ""
    top = max(values) or 1.0
    return "".join(SPARK[round(v / top * (len(SPARK) - 1))] for v in values)


def render(data: dict[str, Any]) -> Group:
    queues, workers = data["queues"], data["workers"]
    rates = [point[1] for point in data.get("throughput", [])]
    totals = {k: sum(q[k] for q in queues) for k in ("queued", "running", "scheduled", "failed")}
    head = Text.assemble(
        ("jobfleet ", "bold"),
        f"{totals['queued']} queued · {totals['running']} running · "
        f"{totals['scheduled']} scheduled · {totals['failed']} dead · {len(workers)} workers · ",
        (f"{rates[-1]:.1f} jobs/s " if rates else "- jobs/s ", "cyan"),
        (sparkline(rates), "cyan"),
        (f"  {time.strftime('%H:%M:%S', time.localtime(data.get('now', time.time())))}", "dim"),
    )
    return Group(head, _queues(queues), _workers(workers), _failures(data.get("failures", [])))


def _queues(queues: list[dict[str, Any]]) -> Table:
    table = Table(title="queues", title_justify="left", expand=True)
    table.add_column("queue")
    for name in ("queued", "running", "scheduled", "failed"):
        table.add_column(name, justify="right")
    for q in queues:
        failed = Text(str(q["failed"]), style="red" if q["failed"] else "")
        table.add_row(q["name"], str(q["queued"]), str(q["running"]), str(q["scheduled"]), failed)
    return table


def _workers(workers: list[dict[str, Any]]) -> Table:
    table = Table(title="workers", title_justify="left", expand=True)
    table.add_column("worker")
    table.add_column("heartbeat", justify="right")
    table.add_column("current job")
    table.add_column("done", justify="right")
    for w in workers:
        age = w["heartbeat_age_s"]
        style = "green" if age <= 2 else "yellow" if age <= 5 else "red"
        jobs = ", ".join(f"{j['type']} {j['id'][:8]} #{j['attempt']}" for j in w["jobs"]) or "idle"
        name = w["id"] + (" (draining)" if w.get("draining") else "")
        table.add_row(name, Text(f"{age:.1f}s", style=style), jobs, str(w.get("completed", "")))
    if not workers:
        table.add_row(Text("no live workers", style="red"), "", "", "")
    return table


def _failures(failures: list[dict[str, Any]]) -> Table:
    table = Table(title="recent failures", title_justify="left", expand=True)
    for name in ("job", "type", "attempts", "error"):
        table.add_column(name, overflow="ellipsis", no_wrap=True)
    for f in failures:
        table.add_row(
            f["id"][:12], f["type"], str(f["attempts"]), Text(f["error"] or "", style="red")
        )
    if not failures:
        table.add_row(Text("none", style="dim"), "", "", "")
    return table
