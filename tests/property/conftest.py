"""The property suite's Hypothesis profiles are registered here, before ``--hypothesis-profile``
is read (see ``budget.py``)."""

from __future__ import annotations

import tests.property.budget  # noqa: F401 - registers the profiles
