"""Side-by-side benchmark of jobfleet and its peers (RQ, Celery, Dramatiq, arq).

    python -m bench [--jobs N] [--rounds R] [--systems rq,celery,...]
                    [--phases throughput,latency,recovery,durability,compose|all] [--out FILE]

For every round, every system in turn (the order rotates between rounds), every phase runs
against a fresh loopback ``redis-server`` with freshly started workers, which are killed (whole
process tree) when the phase ends. Raw figures go to ``bench/results/<date>.json`` (rewritten
after every phase); the medians table is printed at the end and can be re-rendered with
``python -m bench.report FILE``. jobfleet is skipped when it is not importable.

Two jobfleet-only phases run after the peer rounds when selected (not by default):
``durability`` (the throughput phase with Redis ``appendfsync everysec`` vs ``always``,
``--rounds`` times each; see bench/durability.py) and ``compose`` (the compose cluster with its
3 limited workers, jobs over HTTP; once; see bench/compose_shape.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from bench import compose_shape, durability, report
from bench.peers import SYSTEMS, load, unavailable_reason
from bench.peers.base import OptionValue, Peer, parse_option
from bench.phases import PHASES, BenchConfig, latency, recovery, throughput
from bench.procs import kill_all
from bench.redis_server import RedisServer, redis_server_version

RESULTS_DIR = Path(__file__).resolve().parent / "results"
EXTRA_PHASES = ("durability", "compose")  # jobfleet only, after the peer rounds
ALL_PHASES = (*PHASES, *EXTRA_PHASES)
PhaseFn = Callable[[Peer, Any, BenchConfig], dict[str, object]]
PHASE_FNS: dict[str, PhaseFn] = {
    "throughput": throughput,
    "latency": latency,
    "recovery": recovery,
}


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
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


def choose_systems(requested: list[str] | None) -> tuple[list[str], dict[str, str]]:
    """The systems to run and, for the others, why they are skipped."""
    names = requested or list(SYSTEMS)
    skipped: dict[str, str] = {}
    chosen: list[str] = []
    for name in names:
        if name not in SYSTEMS:
            raise SystemExit(f"unknown system {name!r} (known: {', '.join(SYSTEMS)})")
        reason = unavailable_reason(name)
        if reason is None:
            chosen.append(name)
        elif requested:
            raise SystemExit(f"{name} cannot run: {reason}")
        else:
            skipped[name] = reason
    if not chosen:
        raise SystemExit("no system can run; pip install -r bench/requirements.txt")
    return chosen, skipped


def default_out() -> Path:
    today = dt.date.today().isoformat()
    path = RESULTS_DIR / f"{today}.json"
    if path.exists():
        path = RESULTS_DIR / f"{today}-{dt.datetime.now():%H%M%S}.json"
    return path


def cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                return value.strip()
    except OSError:
        pass
    return platform.processor() or None


def host_info() -> dict[str, object]:
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "mem_total_bytes": psutil.virtual_memory().total,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "redis_server": redis_server_version(),
    }


def save(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=1, sort_keys=False) + "\n")
    os.replace(tmp, path)


def log(message: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def _brief(phase: str, data: dict[str, Any]) -> str:
    if "error" in data:
        return f"ERROR {data['error']}"
    if "skipped" in data:
        return f"skipped: {data['skipped']}"
    if phase == "throughput":
        return (
            f"enqueue {data['enqueue_rate'] or 0:,.0f}/s, processing "
            f"{data['processing_rate'] or 0:,.0f}/s ({data['completed']}/{data['jobs']})"
        )
    if phase == "latency":
        return (
            f"p50 {data['p50_ms']:.1f} ms, p99 {data['p99_ms']:.1f} ms, idle RSS "
            f"{data['rss_idle_bytes'] / 2**20:.0f} MiB"
        )
    kills = data.get("kills", [])
    times = [f"{k['recovery_s']:.1f}" for k in kills if k.get("recovered")]
    return f"{len(kills)} kill(s), recovered in [{', '.join(times)}] s; {data.get('stopped')}"


class Runner:
    def __init__(self, args: argparse.Namespace, systems: list[str], workdir: Path) -> None:
        self.args = args
        self.systems = systems
        self.workdir = workdir
        self.options = parse_options(args.options, systems)
        self.cfg = BenchConfig(
            jobs=args.jobs,
            workers=args.workers,
            drain_timeout_s=args.drain_timeout,
            latency_rate=args.latency_rate,
            latency_seconds=args.latency_seconds,
            kills_per_round=max(1, math.ceil(args.kills / args.rounds)),
            recovery_cap_s=args.recovery_cap,
            recovery_budget_s=args.recovery_budget,
        )
        self.misses: dict[str, int] = dict.fromkeys(systems, 0)
        self.errors = 0
        self.peer_phases = [phase for phase in args.phases if phase in PHASES]

    def run_extras(self, results: dict[str, Any], out: Path) -> None:
        """The jobfleet-only phases, after the peer rounds."""
        if "durability" in self.args.phases:
            if "jobfleet" in self.options:
                options = self.options["jobfleet"]
            else:
                items = [o for o in self.args.options if o.startswith("jobfleet.")]
                options = parse_options(items, ["jobfleet"])["jobfleet"]

            def keep(data: dict[str, Any]) -> None:
                results["durability"] = data
                save(results, out)

            data = durability.run(
                self.args.rounds, self.args.port, self.workdir, self.cfg, options, log, keep
            )
            keep(data)
            self.errors += sum(1 for r in data.get("runs", []) if "error" in r)
        if "compose" in self.args.phases:
            a = self.args
            cfg = compose_shape.ComposeConfig(
                jobs=a.compose_jobs or a.jobs,
                batch=a.compose_batch,
                connections=a.compose_connections,
                batch_connections=a.compose_batch_connections,
                concurrency=a.compose_concurrency,
                submit_rate=a.compose_submit_rate,
                fsync=a.compose_fsync,
                latency_rate=a.compose_latency_rate,
                latency_seconds=a.compose_latency_seconds,
                drain_timeout_s=a.drain_timeout,
                port=a.compose_port,
            )
            log(f"compose: {cfg.jobs} jobs per submission API, {cfg.workers} worker containers")
            results["compose"] = compose_shape.run(cfg, log)
            save(results, out)
            if "error" in results["compose"]:
                self.errors += 1
                log(f"compose: ERROR {results['compose']['error']}")
            elif "skipped" in results["compose"]:
                log(f"compose: skipped: {results['compose']['skipped']}")

    def run_phase(self, name: str, phase: str) -> dict[str, Any]:
        if phase == "recovery" and self.misses[name] >= self.args.recovery_max_misses:
            return {"skipped": f"no restart within the cap in {self.misses[name]} earlier rounds"}
        load1 = os.getloadavg()[0]
        began = time.monotonic()
        with RedisServer(self.args.port) as server:
            peer = load(name)(server.url, self.workdir, self.options[name])
            bench_redis = server.client()
            try:
                peer.open()
                data: dict[str, Any] = PHASE_FNS[phase](peer, bench_redis, self.cfg)
            except Exception as exc:  # a phase failure is recorded; the run goes on
                self.errors += 1
                data = {
                    "error": f"{type(exc).__name__}: {exc}",
                    "traceback": traceback.format_exc(),
                }
            finally:
                peer.stop_workers()
                peer.close()
                bench_redis.close()
        if phase == "recovery" and any(not k.get("recovered", True) for k in data.get("kills", [])):
            self.misses[name] += 1
        data["loadavg1_before"] = load1
        data["wall_s"] = time.monotonic() - began
        return data

    def run(self, results: dict[str, Any], out: Path) -> None:
        if not self.systems or not self.peer_phases:
            return
        for rnd in range(self.args.rounds):
            shift = rnd % len(self.systems)
            for name in self.systems[shift:] + self.systems[:shift]:
                record: dict[str, Any] = {"round": rnd + 1}
                for phase in self.peer_phases:
                    log(f"round {rnd + 1}/{self.args.rounds} {name} {phase} ...")
                    record[phase] = self.run_phase(name, phase)
                    log(f"  {name} {phase}: {_brief(phase, record[phase])}")
                system = results["systems"][name]
                system["rounds"].append(record)
                system["summary"] = report.summarize(system)
                save(results, out)


def configs(
    systems: list[str], options: dict[str, dict[str, OptionValue]], workdir: Path
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name in systems:
        peer = load(name)("redis://127.0.0.1:1/0", workdir, options[name])  # never opened
        out[name] = peer.describe()
        peer.close()
    return out


def _on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if any(phase in PHASES for phase in args.phases):
        systems, skipped = choose_systems(args.systems)
    else:  # only the jobfleet-only phases
        systems, skipped = [], {}
    for name, reason in skipped.items():
        log(f"skipping {name}: {reason}")
    out = args.out or default_out()
    workdir = Path(tempfile.mkdtemp(prefix="bench-run-"))
    signal.signal(signal.SIGTERM, _on_sigterm)
    runner = Runner(args, systems, workdir)
    started = time.time()
    results: dict[str, Any] = {
        "meta": {
            "date": dt.date.today().isoformat(),
            "started": dt.datetime.now().isoformat(timespec="seconds"),
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "host": host_info(),
            "skipped": skipped,
            "method": {
                "kills_per_round": runner.cfg.kills_per_round,
                "sleeper_s": runner.cfg.sleeper_s,
                "latency_warmup_s": runner.cfg.latency_warmup_s,
            },
        },
        "systems": {
            name: {"config": cfg, "rounds": []}
            for name, cfg in configs(systems, runner.options, workdir).items()
        },
    }
    log(
        f"systems: {', '.join(systems) or '-'}; phases: {', '.join(args.phases)}; "
        f"results -> {out}; worker logs in {workdir}"
    )
    try:
        runner.run(results, out)
        runner.run_extras(results, out)
    finally:
        kill_all()
        results["meta"]["finished"] = dt.datetime.now().isoformat(timespec="seconds")
        results["meta"]["duration_s"] = time.time() - started
        save(results, out)
        if args.keep_logs or runner.errors:
            log(f"worker logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(report.render(results, args.baseline))
    print(f"\nraw figures: {out}  (full run took {results['meta']['duration_s']:.0f} s)")
    return 1 if runner.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
