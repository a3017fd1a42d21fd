"""The chaos tests run against the same kind of compose stack as the integration tests: a
fresh project started from ``compose/compose.yaml`` and torn down afterwards (unless
``JOBFLEET_URL`` points them at a cluster that is already running)."""

from tests.integration.conftest import stack

__all__ = ["stack"]
