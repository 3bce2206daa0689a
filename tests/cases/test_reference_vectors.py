"""The decision vectors through the reference evaluator (tests/reference): every ``authorize``
vector (public and local; a local case may set ``trust``), and every ``assume_role`` vector
whose outcome is an authorization outcome (success or AccessDenied), with its follow-ups."""

from __future__ import annotations

from typing import Any

import pytest

from tests.cases.loader import load_cases
from tests.reference.assume_role import authorize_assume_role, followup_inputs
from tests.reference.evaluator import evaluate

AUTHORIZE = load_cases("authorize")
ASSUME_ROLE = [
    p
    for p in load_cases("assume_role")
    if p.values[0]["expected"]["outcome"] == "success"
    or p.values[0]["expected"].get("error_code") == "AccessDenied"
]
FOLLOWUPS = [
    pytest.param(p.values[0], i, id=f"{p.id}/followup-{i}")
    for p in ASSUME_ROLE
    if p.values[0]["expected"]["outcome"] == "success"
    for i in range(len(p.values[0].get("followups") or []))
]


def test_vector_sets_are_not_empty() -> None:
    assert len(AUTHORIZE) > 50
    assert len(ASSUME_ROLE) > 10
    assert FOLLOWUPS


@pytest.mark.parametrize("case", AUTHORIZE)
def test_authorize_vector(case: dict[str, Any]) -> None:
    decision = evaluate(case["request"], case["policies"], trust=case.get("trust", False))
    expected = case["expected"]
    assert decision.decision == expected["decision"], expected["reason"]
    if "failing_layer" in expected:  # cases this project writes also pin why
        assert decision.layer == expected["failing_layer"], expected["reason"]
    if "deciding" in expected:
        assert sorted(decision.deciding) == sorted(expected["deciding"])


@pytest.mark.parametrize("case", ASSUME_ROLE)
def test_assume_role_vector(case: dict[str, Any]) -> None:
    decision = authorize_assume_role(case)
    assert decision.allowed == (case["expected"]["outcome"] == "success"), (
        f"{decision}: {case['expected']['reason']}"
    )


@pytest.mark.parametrize(("case", "index"), FOLLOWUPS)
def test_assume_role_followup(case: dict[str, Any], index: int) -> None:
    followup = case["followups"][index]
    request, policies = followup_inputs(case, followup)
    decision = evaluate(request, policies)
    assert decision.decision == followup["expected"]["decision"], followup["expected"]["reason"]
