"""Spec examples the public vectors do not pin down, checked against the reference evaluator
itself (iam-semantics.md §2, §3, §4). Each row names the rule it exercises."""

from __future__ import annotations

from typing import Any

import pytest

from tests.reference.conditions import key_holds
from tests.reference.context import Context, normalize
from tests.reference.evaluator import RefDecision, evaluate
from tests.reference.matching import action_match, resource_match

V12 = "2012-10-17"
ALICE = {"type": "user", "arn": "arn:aws:iam::111111111111:user/alice", "account": "111111111111"}
ROOT = {"type": "root", "arn": "arn:aws:iam::111111111111:root", "account": "111111111111"}
SESSION = {
    "type": "assumed_role",
    "arn": "arn:aws:sts::111111111111:assumed-role/r1/s1",
    "role_arn": "arn:aws:iam::111111111111:role/r1",
    "account": "111111111111",
}
ANONYMOUS = {"type": "anonymous"}
ALLOW_ALL = {"Version": V12, "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}
# §4.4: ArnLike keeps * inside one component, StringLike lets it swallow colons.
_ARN = "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/x"
_PA = "aws:PrincipalArn"
_ROLE = "arn:aws:iam::1:role/r"
EC2_ONLY = {"Version": V12, "Statement": {"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}}


@pytest.mark.parametrize(
    ("pattern", "action", "expected"),
    [
        ("IAM:listaccesskeys", "iam:ListAccessKeys", True),  # §2.1 case-insensitive
        ("s3:GetBucket ", "s3:GetBucket", False),  # §2.1 no trimming
        ("s3:*", "s3-object-lambda:GetObject", False),
        ("*", "anything:AtAll", True),
    ],
)
def test_action_matching(pattern: str, action: str, expected: bool) -> None:
    assert action_match(pattern, action) is expected


@pytest.mark.parametrize(
    ("pattern", "resource", "expected"),
    [
        ("arn:aws:s3:::BUCKET/*/test/*", "arn:aws:s3:::BUCKET/test/object.jpg", False),
        ("arn:aws:s3:::mybucket?0", "arn:aws:s3:::mybucket30", True),  # §2.2 ? is one char
        ("arn:aws:s3:::mybucket?0", "arn:aws:s3:::mybucket0", False),
        ("arn:aws:s3:::Bucket/*", "arn:aws:s3:::bucket/x", False),  # §2.2.5 case-sensitive
        ("arn:aws:ec2:us-*:*:instance/i-1", "arn:aws:ec2:us-east-1:1:instance/i-1", True),
        ("arn:aws:ec2:*:*:instance/i-1", "arn:aws:ec2:us-east-1:1:x:instance/i-1", False),
        ("arn:aws:ec2:*:instance/i-1", "arn:aws:ec2:us-east-1:1:instance/i-1", False),  # 5 parts
        ("arn:aws:s3:::b/*", "arn:aws:s3:::b/x:y/z", True),  # component 6 * crosses ':'
        ("arn:aws:s3:::b/*", "*", False),  # a non-ARN resource only matches "*"
        ("*", "*", True),
    ],
)
def test_resource_matching(pattern: str, resource: str, expected: bool) -> None:
    assert resource_match(pattern, resource, {}, V12) is expected


def _holds(operator: str, value: Any, context: dict[str, Any], version: str = V12) -> bool:
    ctx: Context = normalize(context)
    return key_holds(operator, "k", value, ctx, version)


@pytest.mark.parametrize(
    ("operator", "value", "context", "expected"),
    [
        ("DateEquals", "1350432000", {"k": "2012-10-17T00:00:00Z"}, True),  # §4.4 epoch
        ("DateEquals", "2020-05-15T14:00:00+02:00", {"k": "2020-05-15T12:00:00Z"}, True),
        ("DateLessThan", "2020", {"k": "2019-12-31T23:59:59Z"}, True),
        ("DateGreaterThan", "2020-01-01", {"k": "not-a-date"}, False),
        ("DateNotEquals", "2020-01-01", {"k": "not-a-date"}, False),
        ("IpAddress", "203.0.113.0/24", {"k": "::ffff:203.0.113.7"}, True),  # mapped IPv6
        ("IpAddress", "203.0.113.7", {"k": "203.0.113.7"}, True),  # bare address = /32
        ("IpAddress", "0.0.0.0/0", {"k": "2001:db8::1"}, False),  # families never mix
        ("NotIpAddress", "203.0.113.0/24", {"k": "198.51.100.1"}, True),
        ("BinaryEquals", "d29ybGQ=", {"k": "world"}, True),
        ("NumericNotEquals", "10", {"k": "abc"}, False),  # unreadable never matches
        ("NumericLessThan", "10", {"k": "9.5"}, True),
        ("Bool", True, {"k": "true"}, True),
        ("StringNotEquals", "x", {}, True),  # §4.3 absent: negated -> true
        ("StringEquals", "x", {}, False),
        ("StringEqualsIfExists", "x", {}, True),
        ("StringEquals", "a", {"k": ["a"]}, False),  # §4.5 plain operator on an array
        ("StringNotEquals", "b", {"k": ["a", "c"]}, False),
        ("ForAllValues:StringEquals", "a", {}, True),  # §4.5 absent key
        ("ForAnyValue:StringEquals", "a", {}, False),
        ("ForAllValues:StringEquals", "a", {"k": []}, True),
        ("ForAnyValue:StringEquals", "a", {"k": "a"}, True),  # single value = one-element set
        ("ForAllValues:StringNotEquals", ["a", "b"], {"k": ["c", "a"]}, False),
        ("ForAnyValue:StringNotEquals", ["a", "b"], {"k": ["c", "a"]}, True),
        ("Null", "true", {}, True),
        ("Null", False, {}, False),
        ("StringEqualsIgnoreCase", ["X", "y"], {"k": "Y"}, True),
        ("ArnLike", "arn:aws:someservice:*:111122223333:finance/*", {"k": _ARN}, False),
        ("StringLike", "arn:aws:someservice:*:111122223333:finance/*", {"k": _ARN}, True),
        ("ArnNotLike", "arn:aws:sns:*:*:t", {"k": "not an arn"}, False),
        ("ArnEquals", "${aws:PrincipalArn}", {"k": "arn:aws:iam::1:role/r", _PA: _ROLE}, True),
    ],
)
def test_condition_operators(
    operator: str, value: Any, context: dict[str, Any], expected: bool
) -> None:
    assert _holds(operator, value, context) is expected


@pytest.mark.parametrize(
    ("operator", "value", "context", "version", "expected"),
    [
        ("StringLike", "${u}", {"k": "abc", "u": "a*"}, V12, False),  # substituted: no wildcard
        ("StringLike", "${u}", {"k": "a*", "u": "a*"}, V12, True),
        ("StringLike", "a${*}", {"k": "ab"}, V12, False),  # §4.6 escapes are literal
        ("StringLike", "a${*}", {"k": "a*"}, V12, True),
        ("StringEquals", "${$}{x}", {"k": "${x}"}, V12, True),
        ("StringEquals", "${t, 'red'}", {"k": "red"}, V12, True),  # default value
        ("StringEquals", "${t, 'red'}", {"k": "blue", "t": "blue"}, V12, True),
        ("StringEquals", "${t}", {"k": "x"}, V12, False),  # missing: positive false
        ("StringNotEquals", "${t}", {"k": "x"}, V12, True),  # missing: negated true
        ("StringEquals", "${u}", {"k": "${u}", "u": "z"}, "2008-10-17", True),  # no expansion
        ("StringEquals", "${U}", {"k": "z", "u": "z"}, V12, True),  # key names ignore case
    ],
)
def test_policy_variables(
    operator: str, value: Any, context: dict[str, Any], version: str, expected: bool
) -> None:
    assert _holds(operator, value, context, version) is expected


def _resource_policy(principal: Any, effect: str = "Allow", element: str = "Principal") -> Any:
    actions = ["s3:GetObject", "sts:AssumeRole"]
    statement = {"Effect": effect, element: principal, "Action": actions, "Resource": "*"}
    return {"Version": V12, "Statement": [statement]}


def _decide(principal: dict[str, Any], trust: bool = False, **layers: Any) -> RefDecision:
    """One request on ``s3:::b/k`` (or sts:AssumeRole with ``trust``) in account 1111…."""
    policies: dict[str, Any] = {"identity": [], "resource": None, "permissions_boundary": None}
    policies.update({"session": [], "scp": [], **layers})
    account = "111111111111"
    request = {
        "principal": principal,
        "action": "sts:AssumeRole" if trust else "s3:GetObject",
        "resource": {"arn": "arn:aws:s3:::b/k", "account": account},
        "context": {},
    }
    return evaluate(request, policies, trust=trust)


ALLOW = RefDecision("Allow")


@pytest.mark.parametrize(
    ("principal", "trust", "layers", "expected"),
    [
        (ROOT, False, {}, ALLOW),  # §3.3 root has full access
        (ANONYMOUS, False, {"identity": [ALLOW_ALL]}, RefDecision("ImplicitDeny", "resource")),
        (ALICE, False, {"resource": _resource_policy("*", "Deny", "NotPrincipal")}, None),
        (
            ALICE,
            False,
            {
                "identity": [ALLOW_ALL],
                "resource": _resource_policy({"AWS": "111111111111"}, "Deny", "NotPrincipal"),
            },
            RefDecision("ExplicitDeny", "resource"),  # listing the account does not exempt
        ),
        (
            ALICE,
            False,
            {
                "identity": [ALLOW_ALL],
                "resource": _resource_policy({"AWS": ALICE["arn"]}, "Deny", "NotPrincipal"),
            },
            ALLOW,
        ),
        (
            ALICE,
            True,
            {"resource": _resource_policy({"AWS": ALICE["arn"]}), "permissions_boundary": EC2_ONLY},
            RefDecision("ImplicitDeny", "boundary"),  # [TRUSTEDIT]
        ),
        (SESSION, True, {"resource": _resource_policy({"AWS": SESSION["role_arn"]})}, ALLOW),
        (
            SESSION,
            True,
            {"resource": _resource_policy({"AWS": SESSION["role_arn"]}), "session": [EC2_ONLY]},
            RefDecision("ImplicitDeny", "session"),
        ),
        (
            ALICE,
            True,
            {"resource": _resource_policy({"AWS": "111111111111"})},
            RefDecision("ImplicitDeny", "identity"),  # account grant needs an identity Allow
        ),
        (ALICE, True, {"identity": [ALLOW_ALL]}, RefDecision("ImplicitDeny", "trust")),
    ],
)
def test_evaluation_rules(
    principal: dict[str, Any], trust: bool, layers: dict[str, Any], expected: RefDecision | None
) -> None:
    expected = expected or RefDecision("ImplicitDeny", "trust" if trust else "identity")
    assert _decide(principal, trust, **layers) == expected


def test_root_cross_account_needs_the_resource_policy() -> None:
    foreign = {**ROOT, "arn": "arn:aws:iam::222222222222:root", "account": "222222222222"}
    assert _decide(foreign) == RefDecision("ImplicitDeny", "resource")
    assert _decide(foreign, resource=_resource_policy({"AWS": "222222222222"})) == ALLOW


def test_get_caller_identity_needs_account_credentials() -> None:
    request = {"action": "sts:GetCallerIdentity", "resource": {"arn": "*", "account": None}}
    deny_all = {"Version": V12, "Statement": {"Effect": "Deny", "Action": "*", "Resource": "*"}}
    policies = {"identity": [deny_all], "resource": None, "scp": [[deny_all]]}
    assert evaluate({**request, "principal": ALICE}, policies) == ALLOW
    assert not evaluate({**request, "principal": ANONYMOUS}, policies).allowed
    service = {"type": "service", "arn": "ec2.amazonaws.com"}  # has no account credentials
    assert not evaluate({**request, "principal": service}, policies).allowed


def test_listed_context_values_win_over_derived_ones() -> None:
    policy = {
        "Version": V12,
        "Statement": {
            "Effect": "Allow",
            "Action": "*",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:username": "alice"}},
        },
    }
    request = {"principal": ALICE, "action": "s3:GetObject", "resource": {"arn": "*"}}
    assert evaluate({**request, "context": {}}, {"identity": [policy]}) == ALLOW
    listed = {**request, "context": {"AWS:UserName": "mallory"}}
    assert evaluate(listed, {"identity": [policy]}) == RefDecision("ImplicitDeny", "identity")
