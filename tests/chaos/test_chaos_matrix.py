"""The whole scenario matrix against one fresh compose stack (``nox -s chaos``; ``make test``
and CI set ``JOBFLEET_CHAOS_SUBSET=smoke`` and run only ``test_chaos_smoke.py``).

Every named scenario but the negative control must come out VALID: lost = unexpected = stuck
= 0 whatever its faults did. Each is reproducible from the printed seed.
"""

from __future__ import annotations

import pytest

from chaos import scenarios
from tests.chaos.live import RUN_TIMEOUT_S, Live, explain

MATRIX = [n for n in scenarios.names() if n not in ("smoke", "negative-control")]

pytestmark = [pytest.mark.chaos, pytest.mark.slow]


@pytest.mark.timeout(RUN_TIMEOUT_S)
@pytest.mark.parametrize("name", MATRIX)
def test_scenario_is_valid(live: Live, name: str) -> None:
    result = live.run(name)
    assert result.result.valid, explain(result)
    assert result.result.counts["lost"] == 0
    assert result.exit_code == 0
