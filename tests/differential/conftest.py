"""Hypothesis profiles for the differential tests, chosen by ``HYPOTHESIS_PROFILE``.

``default`` (``make test``): 2000 examples, derandomized so CI is reproducible, no example
database. ``deep`` (``make test-deep``): 20000 examples with fresh randomness each run.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "default",
    max_examples=2000,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "deep",
    max_examples=20000,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
