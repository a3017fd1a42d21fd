"""Run one RQ worker: ``python -m bench.peers.rq_worker --worker-class simple|fork``."""

from __future__ import annotations

import argparse

from redis import Redis
from rq import Queue, SimpleWorker, Worker

from bench.peers import jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worker-class", choices=["simple", "fork"], default="simple")
    parser.add_argument("--queue", default="default")
    parser.add_argument("--name", default=None)
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args()
    connection = Redis.from_url(jobs.redis_url())
    worker_class = SimpleWorker if args.worker_class == "simple" else Worker
    worker = worker_class(
        [Queue(args.queue, connection=connection)], connection=connection, name=args.name
    )
    jobs.mark_ready()
    worker.work(logging_level=args.log_level)


if __name__ == "__main__":
    main()
