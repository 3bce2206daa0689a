"""Hypothesis profiles and the run's seed for the differential tests.

``HYPOTHESIS_PROFILE=default`` (``make test``): a short slice, 200 examples per test.
``deep`` (``make test-deep``): 5,000 per test. ``AUTHZ_DIFF_EXAMPLES`` overrides either.
Every run draws a fresh seed unless ``AUTHZ_DIFF_SEED`` names one; it is shown in the pytest
header line of this directory's tests and in every failure message, so a failure reproduces
with ``AUTHZ_DIFF_SEED=<seed> make test``.
"""

from __future__ import annotations

import os
import secrets

import pytest
from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": None,
    "derandomize": False,
    "database": None,
    "print_blob": True,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much],
}
settings.register_profile("default", max_examples=200, **_COMMON)  # type: ignore[arg-type]
settings.register_profile("deep", max_examples=5000, **_COMMON)  # type: ignore[arg-type]
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

SEED = int(os.environ.get("AUTHZ_DIFF_SEED") or secrets.randbelow(2**32))
EXAMPLES = int(os.environ.get("AUTHZ_DIFF_EXAMPLES") or settings().max_examples)


@pytest.fixture(autouse=True)
def _show_seed(request: pytest.FixtureRequest) -> None:
    """Printed for every test here: pytest shows it with the failure (captured stdout)."""
    print(f"differential seed: AUTHZ_DIFF_SEED={SEED} ({EXAMPLES} examples per test)")
