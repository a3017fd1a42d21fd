"""Run one arq worker: ``python -m bench.peers.arq_worker`` (``arq`` CLI without its INFO
per-job logging)."""

from __future__ import annotations

import logging
import sys

from arq.worker import run_worker

from bench.peers.arq_tasks import WorkerSettings


def main() -> None:
    level = sys.argv[1] if len(sys.argv) > 1 else "WARNING"
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    run_worker(WorkerSettings)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
