"""How hard the property suite searches: its Hypothesis profiles.

``property`` is this suite's everyday budget: ``pytest tests/property`` takes a minute or two on
two cores. ``thorough`` is for a long local hunt: ``pytest tests/property
--hypothesis-profile=thorough``. The tests apply them themselves (``suite_settings``) instead of
replacing Hypothesis' ``default`` profile, which would also change every other suite run in the
same session. No example has a deadline: they talk to a real Redis.
"""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("property", deadline=None, max_examples=300, stateful_step_count=50)
settings.register_profile("thorough", deadline=None, max_examples=2_000, stateful_step_count=100)


def suite_settings() -> settings:
    """The profile chosen with ``--hypothesis-profile``, else ``property``; never a deadline."""
    chosen = settings.get_current_profile_name()
    parent = settings.get_profile("property") if chosen == "default" else settings.default
    return settings(parent, deadline=None)
