"""Every public ``validate_policy`` vector through ``parse_policy`` (the way the policy type is
created: managed → CreatePolicy, inline_identity → Put*Policy, trust → CreateRole, resource →
the resource-policy loader). Objects are submitted as compact JSON text."""

from __future__ import annotations

import json
from typing import Any

import pytest

from authz.errors import MalformedPolicyDocument
from authz.iam.model import PolicyType
from authz.iam.parse import parse_policy
from tests.cases.loader import load_cases

POLICY_TYPES = {
    "managed": PolicyType.MANAGED,
    "inline_identity": PolicyType.IDENTITY,
    "trust": PolicyType.TRUST,
    "resource": PolicyType.RESOURCE,
}


def _text(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document, separators=(",", ":"))


@pytest.mark.parametrize("case", load_cases("validate_policy"))
def test_validate_policy_vector(case: dict[str, Any]) -> None:
    expected = case["expected"]
    policy_type = POLICY_TYPES[case["policy_type"]]
    try:
        policy = parse_policy(_text(case["document"]), policy_type, name=case["id"])
    except MalformedPolicyDocument as err:
        assert not expected["valid"], f"rejected a valid document: {err}"
        assert err.code == expected["error_code"]
        if "message" in expected:
            assert err.message == expected["message"]
        assert err.document == case["id"]
        assert err.path.startswith("$")
        return
    assert expected["valid"], f"accepted an invalid document ({expected['reason']})"
    assert policy.statements
