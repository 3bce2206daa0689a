"""Every public ``iam_call`` vector through ``IamAccount`` (pre-state from ``existing`` first)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from authz.errors import AuthzError
from authz.iam.iam_api import IamAccount
from tests.cases.loader import load_cases

OPERATIONS = {
    "CreateRole": IamAccount.create_role,
    "CreateUser": IamAccount.create_user,
    "CreatePolicy": IamAccount.create_policy,
    "PutRolePolicy": IamAccount.put_role_policy,
    "PutUserPolicy": IamAccount.put_user_policy,
}
_SEED_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
            "Action": "sts:AssumeRole",
        },
    }
)


def _seed(account: IamAccount, existing: dict[str, Any]) -> None:
    """Create the pre-state through the same API (so it obeys the same rules)."""
    for kind in ("role", "user"):
        for name in existing.get(f"{kind}s", []):
            _create(account, kind, name)
    for name, document in existing.get("policies", {}).items():
        account.create_policy({"PolicyName": name, "PolicyDocument": document})
    for kind, key, put in (
        ("role", "RoleName", account.put_role_policy),
        ("user", "UserName", account.put_user_policy),
    ):
        table = account.roles if kind == "role" else account.users
        for entity, policies in existing.get(f"{kind}_inline_policies", {}).items():
            if entity.lower() not in table:
                _create(account, kind, entity)
            for policy_name, document in policies.items():
                put({key: entity, "PolicyName": policy_name, "PolicyDocument": document})


def _create(account: IamAccount, kind: str, name: str) -> None:
    if kind == "role":
        account.create_role({"RoleName": name, "AssumeRolePolicyDocument": _SEED_TRUST})
    else:
        account.create_user({"UserName": name})


@pytest.mark.parametrize("case", load_cases("iam_call"))
def test_iam_call_vector(case: dict[str, Any]) -> None:
    account = IamAccount()
    _seed(account, case.get("existing") or {})
    expected = case["expected"]
    operation = OPERATIONS[case["operation"]]
    try:
        operation(account, case["params"])
    except AuthzError as err:
        assert expected["outcome"] == "error", f"unexpected {err.code}: {err.message}"
        assert err.code == expected["error_code"], err.message
        return
    assert expected["outcome"] == "success", f"succeeded, expected {expected.get('error_code')}"
