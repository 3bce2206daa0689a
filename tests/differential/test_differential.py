"""Differential test: the reference evaluator (tests/reference, plain Python from the spec) and
the Cedar engine must agree on every generated input. A disagreement is written out, after
Hypothesis shrinks it, as a new case file ``tests/cases/data/differential-<hash>.json`` whose
expected decision is the reference's (the spec oracle)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings

from authz.engine.evaluate import Evaluator
from authz.errors import MalformedPolicyDocument
from tests.cases.convert import layers_for, request_of
from tests.differential.strategies import policies_and_requests, trust_policies_and_requests
from tests.reference.evaluator import evaluate as reference_evaluate

DATA = Path(__file__).resolve().parents[1] / "cases" / "data"
EXAMPLES = int(os.environ.get("AUTHZ_DIFF_EXAMPLES", "400"))
ENGINE = Evaluator()
_LAST_FAILURE: dict[str, Any] = {}

SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture(scope="module", autouse=True)
def _write_counterexample() -> Iterator[None]:
    yield
    if _LAST_FAILURE:  # the last failing call is Hypothesis's shrunk example
        write_case(**_LAST_FAILURE)
        _LAST_FAILURE.clear()


def write_case(
    policies: dict[str, Any], request: dict[str, Any], expected: str, trust: bool
) -> Path:
    body = json.dumps({"policies": policies, "request": request, "trust": trust}, sort_keys=True)
    digest = hashlib.sha256(body.encode()).hexdigest()[:10]
    case = {
        "id": f"diff-{digest}",
        "kind": "authorize",
        "name": "differential counterexample",
        "source": "tests/differential/test_differential.py (reference evaluator)",
        "confidence": "medium",
        "trust": trust,
        "request": request,
        "policies": policies,
        "expected": {"decision": expected, "reason": "reference evaluator decision"},
    }
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"differential-{digest}.json"
    document = {
        "schema_version": 1,
        "topic": "differential",
        "description": "shrunk",
        "cases": [case],
    }
    path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    return path


def check(policies: dict[str, Any], request: dict[str, Any], *, trust: bool) -> None:
    try:
        layers = layers_for(policies, trust=trust)
    except MalformedPolicyDocument:
        assume(False)  # the product's parser is stricter than the strategy (its own tests)
        return
    expected = reference_evaluate(request, policies, trust=trust).decision
    decision = ENGINE.evaluate(layers, request_of(request), trust=trust)
    got = decision.decision.case_name
    if got != expected or decision.errors:
        _LAST_FAILURE.update(policies=policies, request=request, expected=expected, trust=trust)
    assert not decision.errors, decision.errors
    assert got == expected, json.dumps({"policies": policies, "request": request})


@SETTINGS
@given(policies_and_requests())
def test_authorize_agrees_with_reference(pair: tuple[dict[str, Any], dict[str, Any]]) -> None:
    check(*pair, trust=False)


@SETTINGS
@given(trust_policies_and_requests())
def test_trust_agrees_with_reference(pair: tuple[dict[str, Any], dict[str, Any]]) -> None:
    check(*pair, trust=True)
