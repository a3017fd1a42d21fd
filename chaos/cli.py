"""Command line: ``python -m chaos {run,list,plan,check}``.

``main(argv)`` returns the exit code so the product CLI can mount it as ``jobfleet chaos``:
0 = valid (or, with ``--expect-scenario``, as the scenario expects), 1 = invalid,
2 = the run or the check could not be carried out.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from chaos import history as hist
from chaos import report, scenarios
from chaos.checker import CheckResult, check
from chaos.runner import RunConfig, RunError, run
from chaos.workload import WorkloadError

EXIT_VALID, EXIT_INVALID, EXIT_ERROR = 0, 1, 2


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chaos", description="jobfleet chaos validation suite")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a scenario against the live compose cluster")
    run.add_argument("--scenario", required=True, choices=scenarios.names())
    run.add_argument("--jobs", type=int, default=None, help="job count (default: scenario's)")
    run.add_argument("--seed", type=int, default=None, help="default: random, printed")
    run.add_argument("--url", default=os.environ.get("JOBFLEET_URL", "http://127.0.0.1:8000"))
    run.add_argument(
        "--project",
        default=os.environ.get(
            "JOBFLEET_PROJECT", os.environ.get("COMPOSE_PROJECT_NAME", "jobfleet")
        ),
    )
    run.add_argument(
        "--out", type=Path, default=None, help="default: runs/<scenario>-<seed>-<time>"
    )
    run.add_argument("--lease-s", type=float, default=_env_float("JOBFLEET_LEASE_S", 5.0))
    run.add_argument(
        "--expect-scenario",
        action="store_true",
        help="exit 0 when the verdict is what the scenario expects (negative control: INVALID)",
    )

    sub.add_parser("list", help="list the scenarios")

    plan = sub.add_parser("plan", help="print a scenario's fault schedule for a seed")
    plan.add_argument("--scenario", required=True, choices=scenarios.names())
    plan.add_argument("--seed", type=int, default=0)
    plan.add_argument("--jobs", type=int, default=None)
    plan.add_argument("--lease-s", type=float, default=_env_float("JOBFLEET_LEASE_S", 5.0))

    chk = sub.add_parser("check", help="re-check a saved history.jsonl")
    chk.add_argument("history", type=Path)
    chk.add_argument("--out", type=Path, default=None, help="also write reports here")
    return parser


def _print_verdict(result: CheckResult, expect_valid: bool = True) -> None:
    verdict = "VALID" if result.valid else "INVALID"
    c = result.counts
    print(
        f"{verdict}: submitted={c['submitted']} ok={c['ok']} info={c['info']} fail={c['fail']} "
        f"completed={c['completed']} lost={c['lost']} stuck={c['stuck']} "
        f"unexpected={c['unexpected']} duplicated={c['duplicated']} "
        f"recovered={c['recovered']}"
    )
    if not expect_valid:
        print("(negative control: INVALID expected)")
    for note in result.notes:
        print(f"note: {note}")


def _cmd_list() -> int:
    for name in scenarios.names():
        sc = scenarios.build(name)
        print(f"{name:<18} {sc.description}  [{', '.join(sorted(sc.fault_kinds)) or 'no faults'}]")
    return EXIT_VALID


def _cmd_plan(args: argparse.Namespace) -> int:
    print(scenarios.build(args.scenario, args.seed, jobs=args.jobs, lease_s=args.lease_s).plan())
    return EXIT_VALID


def _cmd_check(args: argparse.Namespace) -> int:
    try:
        history = hist.load(args.history)
    except (OSError, hist.HistoryError) as exc:
        print(f"cannot read history: {exc}", file=sys.stderr)
        return EXIT_ERROR
    result = check(history)
    meta = history.meta
    _print_verdict(result, meta.expect_valid if meta else True)
    if args.out is not None:
        for name, path in report.write_all(history, result, args.out).items():
            print(f"{name}: {path}")
    return EXIT_VALID if result.valid else EXIT_INVALID


def _cmd_run(args: argparse.Namespace) -> int:
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    scenario = scenarios.build(args.scenario, seed, jobs=args.jobs, lease_s=args.lease_s)
    out = args.out or Path("runs") / f"{scenario.name}-{seed}-{time.strftime('%Y%m%d-%H%M%S')}"
    print(f"seed: {seed}", flush=True)
    try:
        outcome = run(scenario, RunConfig(out_dir=out, url=args.url, project=args.project))
    except (RunError, WorkloadError) as exc:
        print(f"chaos run failed: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"interrupted: cluster healed; partial history in {out}", file=sys.stderr)
        return 130
    _print_verdict(outcome.result, scenario.expect_valid)
    for name, path in outcome.artifacts.items():
        print(f"{name}: {path}")
    if args.expect_scenario:
        return EXIT_VALID if outcome.result.valid == scenario.expect_valid else EXIT_INVALID
    return outcome.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(list(argv) if argv is not None else None)
    if args.command == "list":
        return _cmd_list()
    if args.command == "plan":
        return _cmd_plan(args)
    if args.command == "check":
        return _cmd_check(args)
    return _cmd_run(args)
