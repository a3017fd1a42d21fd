"""jobfleet: a distributed job scheduler that proves every accepted job runs at least once.

The data path, top-down: client -> master (FastAPI) -> Redis (``cluster.queue``) -> worker
(``cluster.worker``) -> log volume (``cluster.worker.logfile``).
"""

__version__ = "0.1.0"
