"""Hypothesis profiles for the property suite.

``default`` keeps ``pytest tests/property`` to a couple of minutes on two cores; pass
``--hypothesis-profile=thorough`` for a long local hunt. Nothing here is time-bound per example:
the tests talk to a real Redis, so ``deadline`` is off.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile(
    "default",
    deadline=None,
    max_examples=100,
    stateful_step_count=50,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    deadline=None,
    max_examples=2_000,
    stateful_step_count=120,
    suppress_health_check=[HealthCheck.too_slow],
)
