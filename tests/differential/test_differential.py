"""Differential test: the reference evaluator (tests/reference, plain Python from the spec) and
the product path must agree on every generated input: the decision, the failing layer and the
deciding statements (tests/differential/compare.py).

Each run draws a fresh seed (``AUTHZ_DIFF_SEED`` reproduces one; it is printed in the failure
message). ``make test`` runs a short slice (``AUTHZ_DIFF_EXAMPLES``, default from the profile
in conftest.py); ``make test-deep`` the deep profile. A disagreement is written out, after
Hypothesis shrinks it, as ``tests/cases/data/differential-<hash>.json`` whose expected answer is
the reference's (the spec oracle); review it, fix the side that is wrong, keep the case.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, seed, settings

from tests.differential.compare import Mismatch, compare, is_rejected, write_case
from tests.differential.conftest import EXAMPLES, SEED
from tests.differential.strategies import policies_and_requests, trust_policies_and_requests

_LAST_FAILURE: list[Mismatch] = []

SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=False,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture(scope="module", autouse=True)
def _write_counterexample() -> Iterator[None]:
    yield
    if _LAST_FAILURE:  # the last failing call is Hypothesis's shrunk example
        write_case(_LAST_FAILURE[-1])
        _LAST_FAILURE.clear()


def check(policies: dict[str, Any], request: dict[str, Any], *, trust: bool) -> None:
    if is_rejected(policies, trust):
        assume(False)  # the product's parser is stricter than the strategy (its own tests)
    mismatch = compare(policies, request, trust=trust)
    if mismatch is not None:
        _LAST_FAILURE.append(mismatch)
        pytest.fail(f"AUTHZ_DIFF_SEED={SEED}: {mismatch.describe()}")


@SETTINGS
@seed(SEED)
@given(policies_and_requests())
def test_authorize_agrees_with_reference(pair: tuple[dict[str, Any], dict[str, Any]]) -> None:
    check(*pair, trust=False)


@SETTINGS
@seed(SEED)
@given(trust_policies_and_requests())
def test_trust_agrees_with_reference(pair: tuple[dict[str, Any], dict[str, Any]]) -> None:
    check(*pair, trust=True)
