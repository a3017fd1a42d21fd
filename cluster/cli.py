"""The ``jobfleet`` command: run the master or a worker, and talk to a running master."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import orjson

from cluster import console, metrics
from cluster.errors import ApiError
from cluster.logs import bind, setup_logging
from cluster.settings import get_settings


def _run_master(args: argparse.Namespace) -> int:
    import uvicorn

    from cluster.master.app import create_app

    settings = get_settings()
    setup_logging()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    return 0


def _event_loop_runner() -> Callable[[Coroutine[Any, Any, int]], int]:
    """uvloop when installed (it comes with uvicorn[standard]): less overhead per job."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    runner: Callable[[Coroutine[Any, Any, int]], int] = uvloop.run
    return runner


def _run_worker(args: argparse.Namespace) -> int:
    from cluster.tasks import load_registry
    from cluster.worker.runtime import Worker

    settings = get_settings()
    setup_logging()
    registry = load_registry(settings.tasks_module)
    if settings.metrics_port:  # 0: no metrics, and prometheus_client is never imported
        metrics.enable("worker")
        metrics.serve(settings.metrics_port)

    async def run() -> int:
        worker = Worker(settings, registry)
        bind(worker=worker.id)  # every log event of this process names the worker
        return await worker.run()

    return _event_loop_runner()(run())


def _print(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


def _payload(text: str) -> dict[str, Any]:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ApiError(f"--payload is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ApiError("--payload must be a JSON object")
    return value


def _submit(args: argparse.Namespace) -> int:
    from cluster.client import Client

    options = {
        k: v
        for k, v in (
            ("queue", args.queue),
            ("delay_s", args.delay),
            ("max_attempts", args.max_attempts),
        )
        if v is not None
    }
    with Client(args.url, token=args.token) as client:
        _print(client.submit(args.type, _payload(args.payload), args.idempotency_key, **options))
    return 0


def _status(args: argparse.Namespace) -> int:
    from cluster.client import Client

    with Client(args.url, token=args.token) as client:
        _print(client.job(args.id))
    return 0


def _logs(args: argparse.Namespace) -> int:
    from cluster.client import Client

    with Client(args.url, token=args.token) as client:
        for attempt in client.logs(args.id)["attempts"]:
            state = "complete" if attempt["complete"] else "INCOMPLETE"
            sys.stdout.write(f"--- attempt {attempt['attempt']} ({state})\n")
            for line in attempt["lines"]:
                sys.stdout.write(orjson.dumps(line).decode() + "\n")
    return 0


def _token(args: argparse.Namespace) -> int:
    from cluster.auth import main as token_main

    return token_main(["--scopes", args.scopes])


def _chaos(args: argparse.Namespace) -> int:
    from chaos.cli import main as chaos_main

    code: int = chaos_main(args.rest)
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jobfleet", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("master", help="run the HTTP master").set_defaults(run=_run_master)
    sub.add_parser("worker", help="run a worker").set_defaults(run=_run_worker)

    def client_command(
        name: str, run: Callable[[argparse.Namespace], int], help_text: str
    ) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("--url", default="http://127.0.0.1:8000", help="the master's URL")
        cmd.add_argument(
            "--token", help="API token (default: $JOBFLEET_TOKEN; none for an open master)"
        )
        cmd.set_defaults(run=run)
        return cmd

    submit = client_command("submit", _submit, "submit one job")
    submit.add_argument("type", nargs="?", help="the job type (or --file)")
    submit.add_argument("--payload", default="{}", help="JSON object")
    submit.add_argument("--queue")
    submit.add_argument("--delay", type=float)
    submit.add_argument("--max-attempts", type=int)
    submit.add_argument("--idempotency-key")
    client_command("status", _status, "show a job").add_argument("id")
    client_command("logs", _logs, "show a job's logs").add_argument("id")
    token = sub.add_parser("token", help="generate an API token and its hashed entry")
    token.add_argument("--scopes", default="submit,read", help="some of submit, read, admin")
    token.set_defaults(run=_token)
    console.register(sub, client_command)  # submit --file, watch, logs -f, retry, cancel, ...
    chaos = sub.add_parser("chaos", help="the chaos validation suite", add_help=False)
    chaos.add_argument("rest", nargs=argparse.REMAINDER)
    chaos.set_defaults(run=_chaos)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except ApiError as exc:
        sys.stderr.write(f"jobfleet: {exc}\n")
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
