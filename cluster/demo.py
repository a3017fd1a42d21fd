"""The demo workload that ``make up`` runs: submit a mix of jobs, show progress and results."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from cluster.client import ApiError, Client

TERMINAL = {"succeeded", "failed", "cancelled"}


def demo_jobs(count: int) -> list[dict[str, object]]:
    """A mix of every built-in kind that ends well: echo, sleep, cpu and a retried failure."""
    kinds: list[dict[str, object]] = [
        {"type": "echo", "payload": {"hello": "jobfleet"}},
        {"type": "sleep", "payload": {"seconds": 0.2}},
        {"type": "cpu", "payload": {"ms": 50}},
        {"type": "fail", "payload": {"times": 1}},
    ]
    return [kinds[i % len(kinds)] for i in range(count)]


def run(url: str, count: int, deadline_s: float) -> int:
    console = Console()
    with Client(url) as client:
        ids = client.submit_batch(demo_jobs(count))
        console.print(f"submitted {len(ids)} jobs to {url}")
        states: dict[str, dict[str, object]] = {}
        with Progress(console=console) as progress:
            bar = progress.add_task("running", total=len(ids))
            end = time.monotonic() + deadline_s
            while time.monotonic() < end:
                for job_id in ids:
                    if states.get(job_id, {}).get("status") not in TERMINAL:
                        states[job_id] = client.job(job_id)
                done = sum(1 for s in states.values() if s["status"] in TERMINAL)
                progress.update(bar, completed=done)
                if done == len(ids):
                    break
                time.sleep(0.5)
    table = Table(title="demo results")
    for column in ("type", "status", "attempts", "worker"):
        table.add_column(column)
    for job_id in ids[:12]:
        s = states[job_id]
        table.add_row(str(s["type"]), str(s["status"]), str(s["attempts"]), str(s["worker"]))
    console.print(table)
    counts = Counter(str(s["status"]) for s in states.values())
    workers = Counter(str(s["worker"]) for s in states.values())
    console.print(f"statuses: {dict(counts)}; jobs per worker: {dict(workers)}")
    console.print(f"API: {url}/jobs   docs: {url}/docs   queues: {url}/queues")
    return 0 if counts.get("succeeded") == len(ids) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--deadline", type=float, default=120.0)
    args = parser.parse_args(argv)
    try:
        return run(args.url, args.jobs, args.deadline)
    except ApiError as exc:
        sys.stderr.write(f"demo: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
