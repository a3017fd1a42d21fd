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
from bench.options import parse_args, parse_options
from bench.peers import SYSTEMS, load, unavailable_reason
from bench.peers.base import OptionValue, Peer
from bench.phases import PHASES, BenchConfig, latency, recovery, throughput
from bench.procs import kill_all
from bench.redis_server import RedisServer, redis_server_version

RESULTS_DIR = Path(__file__).resolve().parent / "results"
PhaseFn = Callable[[Peer, Any, BenchConfig], dict[str, object]]
PHASE_FNS: dict[str, PhaseFn] = {
    "throughput": throughput,
    "latency": latency,
    "recovery": recovery,
}


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
    args = parse_args(argv, __doc__ or "")
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
