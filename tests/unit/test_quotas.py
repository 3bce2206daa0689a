"""IAM quotas (spec §7): each check's code, AWS message and path; and ``IamAccount``'s order of
errors (validation → existence → quota → grammar)."""

from __future__ import annotations

import json

import pytest

from authz.errors import (
    AuthzError,
    EntityAlreadyExists,
    LimitExceeded,
    MalformedPolicyDocument,
    NoSuchEntity,
    ValidationError,
)
from authz.iam import quotas
from authz.iam.iam_api import IamAccount

PREFIX = "1 validation error detected: "
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


def _identity(resource: str = "*") -> str:
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": resource}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]}, indent=4)


def _triples(found: list[quotas.QuotaProblem]) -> list[tuple[str, str, str]]:
    return [(p.code, p.message, p.path) for p in found]


def test_size_excludes_white_space() -> None:
    assert quotas.size_without_whitespace(' { "a" :\t\r\n1 } ') == 7


@pytest.mark.parametrize(
    ("kind", "name", "messages"),
    [
        ("role", "a_b+c=d,e.f@g-h", []),
        ("role", "my role", ["Value 'my role' at 'roleName' failed to satisfy constraint: Member "
                             "must satisfy regular expression pattern: [\\w+=,.@-]+"]),
        ("user", "u" * 65, [f"Value '{'u' * 65}' at 'userName' failed to satisfy constraint: "
                            "Member must have length less than or equal to 64"]),
        ("policy", "p" * 128, []),
        ("group", "", ["Value '' at 'groupName' failed to satisfy constraint: Member must have "
                       "length greater than or equal to 1"]),
        ("instance-profile", None, ["Value null at 'instanceProfileName' failed to satisfy "
                                    "constraint: Member must not be null"]),
        ("role", "é", ["Value 'é' at 'roleName' failed to satisfy constraint: Member must "
                       "satisfy regular expression pattern: [\\w+=,.@-]+"]),
    ],
)  # fmt: skip
def test_name_problems(kind: str, name: object, messages: list[str]) -> None:
    found = quotas.name_problems(kind, name, "$.Name")
    assert _triples(found) == [("ValidationError", PREFIX + m, "$.Name") for m in messages]


def test_path_and_duration() -> None:
    assert quotas.path_problems("/a/b/") == []
    assert [p.message for p in quotas.path_problems("no-slash")] == [
        PREFIX + "Value 'no-slash' at 'path' failed to satisfy constraint: Member must satisfy "
        "regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)"
    ]
    assert quotas.max_session_duration_problems(43200) == []
    assert _triples(quotas.max_session_duration_problems(3599)) == [
        ("ValidationError", PREFIX + "Value '3599' at 'maxSessionDuration' failed to satisfy "
         "constraint: Member must have value greater than or equal to 3600", "$.MaxSessionDuration")
    ]  # fmt: skip
    assert len(quotas.max_session_duration_problems(True)) == 1


def test_document_sizes() -> None:
    text = '{"a": "' + "x" * 6136 + '"}'  # 6144 without white space
    assert quotas.size_without_whitespace(text) == 6144
    assert quotas.document_size_problems("managed", text) == []
    assert _triples(quotas.document_size_problems("managed", text.replace("x", "xx", 1))) == [
        ("LimitExceeded", "Cannot exceed quota for PolicySize: 6144", "$")
    ]
    assert quotas.document_size_problems("trust", text, quota=6144) == []
    assert quotas.document_size_problems("inline", "{}" + " " * 140_000)[0].message.endswith(
        "Member must have length less than or equal to 131072"
    )
    assert quotas.document_size_problems("session", "{" + " " * 2048 + "}")[0].path == "$"
    assert quotas.document_size_problems("managed", "{\x01}")[0].code == "ValidationError"


def test_aggregates_attachments_tags() -> None:
    assert quotas.inline_aggregate_problems("user", ["x" * 1024, "y" * 1024]) == []
    assert _triples(quotas.inline_aggregate_problems("group", ["x" * 5121], "$.P")) == [
        ("LimitExceeded", "Cannot exceed quota for GroupPolicySize: 5120", "$.P")
    ]
    assert quotas.attachment_count_problems("role", 10) == []
    assert quotas.attachment_count_problems("role", 15, quota=20) == []
    assert quotas.attachment_count_problems("user", 11)[0].message == (
        "Cannot exceed quota for PoliciesPerUser: 10"
    )
    assert quotas.tag_problems({"team": "a", "Team": "b"})[0].message == (
        "Duplicate tag keys found. Please note that Tag keys are case insensitive."
    )
    assert quotas.tag_problems([{"Key": "k" * 129, "Value": "v"}])[0].message.startswith(
        PREFIX + f"Value '{'k' * 129}' at 'tags.1.member.key' failed"
    )
    assert len(quotas.tag_problems({f"k{i}": "v" for i in range(51)})) == 1
    assert quotas.tag_problems("nope")[0].code == "ValidationError"


def test_several_validation_errors_in_one_message() -> None:
    found = quotas.name_problems("role", "a b" * 30, "$") + quotas.path_problems("x")
    message = quotas.as_error_message(found)
    assert message.startswith("3 validation errors detected: Value 'a b")
    assert message.count("; ") == 2


def _call(account: IamAccount, operation: str, **params: object) -> AuthzError | None:
    try:
        getattr(account, operation)(params)
    except AuthzError as err:
        return err
    return None


def test_iam_account_error_order() -> None:
    account = IamAccount()
    account.create_role({"RoleName": "Deployer", "AssumeRolePolicyDocument": TRUST})
    err = _call(account, "create_role", RoleName="deployer", AssumeRolePolicyDocument=TRUST)
    assert isinstance(err, EntityAlreadyExists)
    assert err.message == "Role with name deployer already exists."
    err = _call(account, "create_role", RoleName="bad name", AssumeRolePolicyDocument="{")
    assert isinstance(err, ValidationError)  # validation before the grammar
    err = _call(account, "create_role", RoleName="r2", AssumeRolePolicyDocument=_identity())
    assert isinstance(err, MalformedPolicyDocument)
    err = _call(account, "put_role_policy", RoleName="nobody", PolicyName="p",
                PolicyDocument=_identity())  # fmt: skip
    assert isinstance(err, NoSuchEntity)
    assert err.message == "The role with name nobody cannot be found."


def test_inline_aggregate_counts_other_policies_and_replaces_same_name() -> None:
    account = IamAccount()
    account.create_user({"UserName": "alice"})
    big = _identity("arn:aws:s3:::" + "b" * 1900)
    assert _call(account, "put_user_policy", UserName="alice", PolicyName="one",
                 PolicyDocument=big) is None  # fmt: skip
    assert _call(account, "put_user_policy", UserName="ALICE", PolicyName="one",
                 PolicyDocument=big) is None  # replaces: still one policy  # fmt: skip
    err = _call(account, "put_user_policy", UserName="alice", PolicyName="two", PolicyDocument=big)
    assert isinstance(err, LimitExceeded)
    assert err.message == "Cannot exceed quota for UserPolicySize: 2048"


def test_create_policy_and_user() -> None:
    account = IamAccount()
    result = account.create_policy({"PolicyName": "Read", "PolicyDocument": _identity()})
    assert result["Policy"]["Arn"] == "arn:aws:iam::123456789012:policy/Read"
    err = _call(account, "create_policy", PolicyName="read", PolicyDocument=_identity())
    assert isinstance(err, EntityAlreadyExists)
    user = account.create_user({"UserName": "bob", "Path": "/eng/"})["User"]
    assert user["Arn"] == "arn:aws:iam::123456789012:user/eng/bob"
    assert len(user["UserId"]) == 21 and user["UserId"].startswith("AIDA")
