"""The command line of ``python -m bench``: its arguments and ``--set SYSTEM.KEY=VALUE``."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.peers import SYSTEMS, load
from bench.peers.base import OptionValue, parse_option
from bench.phases import PHASES

EXTRA_PHASES = ("durability", "compose")  # jobfleet only, after the peer rounds
ALL_PHASES = (*PHASES, *EXTRA_PHASES)


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def parse_args(argv: list[str] | None, description: str = "") -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--jobs", type=int, default=20_000, help="no-op jobs per throughput run")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument(
        "--systems",
        type=_csv,
        default=None,
        help=f"comma list from {','.join(SYSTEMS)} (default: all that can run)",
    )
    p.add_argument(
        "--phases",
        type=_csv,
        default=list(PHASES),
        help=f"comma list from {','.join(ALL_PHASES)}, or all (default: {','.join(PHASES)})",
    )
    p.add_argument(
        "--out", type=Path, default=None, help="results JSON (default bench/results/<date>.json)"
    )
    p.add_argument("--workers", type=int, default=2, help="worker processes per system")
    p.add_argument("--port", type=int, default=6390, help="first loopback port to try for Redis")
    p.add_argument("--latency-rate", type=float, default=200.0, help="jobs/s")
    p.add_argument("--latency-seconds", type=float, default=10.0)
    p.add_argument(
        "--drain-timeout",
        type=float,
        default=300.0,
        help="max seconds for the workers to drain the throughput queue",
    )
    p.add_argument("--kills", type=int, default=21, help="SIGKILLs per system over all rounds")
    p.add_argument(
        "--recovery-cap",
        type=float,
        default=60.0,
        help="max seconds to wait for a killed job to restart",
    )
    p.add_argument(
        "--recovery-budget",
        type=float,
        default=150.0,
        help="seconds per system and round after which no new kill starts",
    )
    p.add_argument(
        "--recovery-max-misses",
        type=int,
        default=2,
        help="skip recovery for a system after this many rounds with a miss",
    )
    p.add_argument(
        "--set",
        dest="options",
        action="append",
        default=[],
        metavar="SYSTEM.KEY=VALUE",
        help="override a system option (repeatable)",
    )
    p.add_argument("--baseline", default="jobfleet", help="system the ratios are relative to")
    p.add_argument("--keep-logs", action="store_true", help="keep worker logs")
    c = p.add_argument_group("compose phase (jobfleet's compose cluster, jobs over HTTP)")
    c.add_argument("--compose-jobs", type=int, default=None, help="default: --jobs")
    c.add_argument("--compose-connections", type=int, default=32, help="POST /jobs clients")
    c.add_argument("--compose-batch", type=int, default=1000, help="jobs per POST /jobs/batch")
    c.add_argument("--compose-batch-connections", type=int, default=1)
    c.add_argument("--compose-latency-rate", type=float, default=50.0, help="jobs/s")
    c.add_argument("--compose-latency-seconds", type=float, default=10.0)
    c.add_argument(
        "--compose-concurrency",
        type=int,
        default=None,
        help="JOBFLEET_CONCURRENCY per worker (default: the compose default, 1)",
    )
    c.add_argument(
        "--compose-submit-rate",
        type=float,
        default=0.0,
        help="JOBFLEET_SUBMIT_RATE (default 0: the per-token limit off, to measure capacity)",
    )
    c.add_argument(
        "--compose-fsync",
        choices=("always", "everysec", "no"),
        default=None,
        help="JOBFLEET_REDIS_FSYNC (default: the compose default, always)",
    )
    c.add_argument("--compose-port", type=int, default=18000, help="first host port to try")
    args = p.parse_args(argv)
    if args.phases == ["all"]:
        args.phases = list(ALL_PHASES)
    if unknown := set(args.phases) - set(ALL_PHASES):
        p.error(f"unknown phase(s): {', '.join(sorted(unknown))}")
    if args.jobs < 1 or args.rounds < 1 or args.workers < 2:
        p.error("--jobs and --rounds must be >= 1 and --workers >= 2")
    return args


def parse_options(items: list[str], systems: list[str]) -> dict[str, dict[str, OptionValue]]:
    out: dict[str, dict[str, OptionValue]] = {name: {} for name in systems}
    for item in items:
        target, _, raw = item.partition("=")
        system, _, key = target.partition(".")
        if not raw or system not in out:
            raise SystemExit(f"--set {item!r}: expected SYSTEM.KEY=VALUE for a selected system")
        defaults = load(system).defaults
        if key not in defaults:
            raise SystemExit(f"--set {item!r}: {system} options are {', '.join(defaults)}")
        out[system][key] = parse_option(defaults[key], raw)
    return out
