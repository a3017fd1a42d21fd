"""The operator's commands, added to ``jobfleet`` by :func:`register`:

- ``submit --file jobs.jsonl`` (``-`` for stdin): one job object per line, sent in batches with
  a progress bar on stderr; prints the new job ids on stdout, one per line.
- ``watch``: a live view of queues, workers and recent failures (``--once``,
  ``--iterations N``, ``--interval S``).
- ``logs ID --follow``: prints records as the attempts write them, until the job is done.
- ``retry ID``, ``cancel ID``: print the job afterwards.
- ``autoscaler``: run the autoscaler (:mod:`cluster.autoscaler`).

Errors (master unreachable, input refused, a bad line in the file) exit 2 with a message that
names the problem, like the other client commands.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from cluster.errors import ApiError

TERMINAL = ("succeeded", "failed", "cancelled")
Command = Callable[[argparse.Namespace], int]


def register(
    sub: Any, client_command: Callable[[str, Command, str], argparse.ArgumentParser]
) -> None:
    """Add the commands to the ``jobfleet`` parser (``sub``: its subparsers)."""
    submit = sub.choices["submit"]
    submit.add_argument("--file", "-f", help="JSON lines, one job object per line ('-': stdin)")
    submit.add_argument("--batch-size", type=int, default=500, help="jobs per request (--file)")
    submit.set_defaults(run=_submit)
    logs = sub.choices["logs"]
    logs.add_argument("--follow", "-f", action="store_true", help="until the job is done")
    logs.add_argument("--poll", type=float, default=0.5, help="seconds between reads")
    logs.set_defaults(run=_logs)
    client_command("retry", _retry, "re-queue a failed or cancelled job").add_argument("id")
    client_command("cancel", _cancel, "cancel a job that has not started").add_argument("id")
    watch = client_command("watch", _watch, "live view of queues and workers")
    watch.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes")
    watch.add_argument("--once", action="store_true", help="print one view and exit")
    watch.add_argument("--iterations", type=int, help="refresh N times, then exit")
    scaler = sub.add_parser("autoscaler", help="scale the worker service to the backlog")
    scaler.set_defaults(run=_autoscaler)


def _client(args: argparse.Namespace) -> Any:
    from cluster.client import Client

    return Client(args.url, token=getattr(args, "token", None))


def _print(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


# --- submit ----------------------------------------------------------------------------------
def _submit(args: argparse.Namespace) -> int:
    if args.file is None:
        if args.type is None:
            raise ApiError("submit needs a job TYPE, or --file with JSON lines")
        from cluster.cli import _submit as submit_one

        return submit_one(args)
    if args.type is not None:
        raise ApiError("give either a job TYPE or --file, not both")
    if args.batch_size < 1:
        raise ApiError("--batch-size must be at least 1")
    jobs = read_jobs(sys.stdin if args.file == "-" else _open(args.file))
    return _submit_many(args, jobs)


def _open(name: str) -> IO[str]:
    try:
        return Path(name).open(encoding="utf-8")
    except OSError as exc:
        raise ApiError(f"cannot read {name}: {exc.strerror}") from None


def read_jobs(stream: IO[str]) -> list[tuple[int, dict[str, Any]]]:
    """(line number, job object) per non-blank line; a bad line is an error naming it."""
    jobs = []
    with stream:
        for number, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                job = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise ApiError(f"line {number}: not valid JSON ({exc})") from None
            if not isinstance(job, dict) or not isinstance(job.get("type"), str):
                raise ApiError(f'line {number}: expected a job object like {{"type": "echo"}}')
            jobs.append((number, job))
    return jobs


def _submit_many(args: argparse.Namespace, jobs: list[tuple[int, dict[str, Any]]]) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    console = Console(stderr=True)
    started, done = time.monotonic(), 0
    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with _client(args) as client, Progress(*columns, console=console) as progress:
        bar = progress.add_task("submitting", total=len(jobs))
        for first in range(0, len(jobs), args.batch_size):
            chunk = jobs[first : first + args.batch_size]
            try:
                ids = client.submit_batch([job for _, job in chunk])
            except ApiError as exc:
                lines = f"lines {chunk[0][0]}-{chunk[-1][0]}"
                raise ApiError(f"{lines}: {exc} ({done} jobs before them were submitted)") from None
            sys.stdout.write("".join(f"{job_id}\n" for job_id in ids))
            done += len(ids)
            progress.update(bar, advance=len(ids))
    seconds = time.monotonic() - started
    console.print(f"submitted {done} jobs in {seconds:.1f} s ({done / max(seconds, 1e-9):.0f}/s)")
    return 0


# --- one job ---------------------------------------------------------------------------------
def _retry(args: argparse.Namespace) -> int:
    with _client(args) as client:
        _print(client.retry(args.id))
    return 0


def _cancel(args: argparse.Namespace) -> int:
    with _client(args) as client:
        _print(client.cancel(args.id))
    return 0


def _logs(args: argparse.Namespace) -> int:
    if not args.follow:
        from cluster.cli import _logs as logs_once

        return logs_once(args)
    try:
        with _client(args) as client:
            for line in follow_logs(client, args.id, args.poll):
                sys.stdout.write(line + "\n")
                sys.stdout.flush()
    except KeyboardInterrupt:
        return 130
    return 0


def follow_logs(client: Any, job_id: str, poll_s: float) -> Iterator[str]:
    """Yield log lines as they appear; ends once the job is terminal and fully read."""
    shown: dict[int, int] = {}  # attempt -> lines printed
    while True:
        status = client.job(job_id)["status"]  # before the logs: nothing is missed at the end
        for attempt in client.logs(job_id)["attempts"]:
            number, lines = attempt["attempt"], attempt["lines"]
            if number not in shown:
                shown[number] = 0
                yield f"--- attempt {number}"
            for record in lines[shown[number] :]:
                yield orjson.dumps(record).decode()
            shown[number] = len(lines)
        if status in TERMINAL:
            yield f"--- job {job_id} {status}"
            return
        time.sleep(poll_s)


# --- watch -----------------------------------------------------------------------------------
def _watch(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.live import Live

    from cluster.watchview import render

    count = 1 if args.once else args.iterations
    if count is not None and count < 1:
        raise ApiError("--iterations must be at least 1")
    console = Console()
    with _client(args) as client:
        views = (render(_summary(client)) for _ in _ticks(count, args.interval))
        try:
            if console.is_terminal and count != 1:
                with Live(console=console, auto_refresh=False) as live:
                    for view in views:
                        live.update(view, refresh=True)
            else:  # not a terminal (or one view): print each view in turn
                for view in views:
                    console.print(view)
        except KeyboardInterrupt:
            pass
    return 0


def _ticks(count: int | None, interval_s: float) -> Iterator[int]:
    shown = 0
    while count is None or shown < count:
        if shown:
            time.sleep(interval_s)
        yield shown
        shown += 1


def _summary(client: Any) -> dict[str, Any]:
    data: dict[str, Any] = client._call("GET", "/ui/summary")  # one round trip for the view
    return data


def _autoscaler(args: argparse.Namespace) -> int:
    from cluster.autoscaler import main as autoscaler_main
    from cluster.logs import bind, setup_logging
    from cluster.settings import get_settings

    setup_logging()
    bind(role="autoscaler")
    return autoscaler_main(get_settings())
