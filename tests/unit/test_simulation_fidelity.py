"""SimulateCustomPolicy with AWS's facts (issue 13): no ``CallerArn`` means the identity policies
on their own (not an anonymous caller), a resource ARN's own account owns it (``ResourceOwner``
only for ARNs without one), ``sts:AssumeRole`` on a role reads ``ResourcePolicy`` as its trust
policy, resource control policy levels, and the AWS CLI's documented examples verbatim."""

from __future__ import annotations

import json
from typing import Any

import pytest

from authz.cli import main
from authz.engine.simulate import simulate_custom_policy
from authz.errors import InvalidInput, ValidationError

USER = "arn:aws:iam::123456789012:user/alice"
# The AWS CLI's documented simulate-custom-policy example (awscli/examples/iam).
CLI_POLICY = (
    '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:*","Resource":"*",'
    '"Condition":{"DateGreaterThan":{"aws:CurrentTime":"2018-08-16T12:00:00Z"}}}}'
)


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _only(response: dict[str, Any]) -> dict[str, Any]:
    (result,) = response["EvaluationResults"]
    return result


@pytest.mark.parametrize(
    ("when", "expected"),
    [("2019-04-25T11:00:00Z", "allowed"), ("2014-04-25T11:00:00Z", "implicitDeny")],
)
def test_the_aws_cli_example_without_a_caller(when: str, expected: str) -> None:
    response = simulate_custom_policy(
        {
            "PolicyInputList": [CLI_POLICY],
            "ActionNames": ["dynamodb:CreateBackup"],
            "ContextEntries": [
                {
                    "ContextKeyName": "aws:CurrentTime",
                    "ContextKeyValues": [when],
                    "ContextKeyType": "date",
                }
            ],
        }
    )
    result = _only(response)
    assert (result["EvalResourceName"], result["EvalDecision"]) == ("*", expected)
    matched = [m["SourcePolicyId"] for m in result["MatchedStatements"]]
    assert matched == (["PolicyInputList.1"] if expected == "allowed" else [])


def test_the_aws_cli_example_verbatim_through_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "simulate-custom-policy",
            "--policy-input-list",
            CLI_POLICY,
            "--action-names",
            "dynamodb:CreateBackup",
            "--context-entries",
            "ContextKeyName='aws:CurrentTime',ContextKeyValues='2019-04-25T11:00:00Z',"
            "ContextKeyType=date",
        ]
    )
    assert code == 0
    result = _only(json.loads(capsys.readouterr().out))
    assert result["EvalDecision"] == "allowed"


def test_a_resource_policy_needs_a_caller() -> None:
    with pytest.raises(InvalidInput) as err:
        simulate_custom_policy(
            {
                "PolicyInputList": [_doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})],
                "ActionNames": ["s3:GetObject"],
                "ResourcePolicy": _doc(
                    {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}
                ),
            }
        )
    assert err.value.code == "InvalidInput" and "CallerArn" in err.value.message


SQS_ALLOW = _doc({"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"})


@pytest.mark.parametrize(
    ("resource", "owner", "expected"),
    [
        ("arn:aws:sqs:us-east-1:123456789012:q", None, "allowed"),  # same account
        ("arn:aws:sqs:us-east-1:999999999999:q", None, "implicitDeny"),  # cross, no grant
        # the ARN names its owner: ResourceOwner does not move it
        ("arn:aws:sqs:us-east-1:999999999999:q", "123456789012", "implicitDeny"),
        ("arn:aws:sqs:us-east-1:123456789012:q", "999999999999", "allowed"),
    ],
)
def test_the_resource_account_is_the_one_its_arn_names(
    resource: str, owner: str | None, expected: str
) -> None:
    request: dict[str, Any] = {
        "PolicyInputList": [SQS_ALLOW],
        "ActionNames": ["sqs:SendMessage"],
        "ResourceArns": [resource],
        "CallerArn": USER,
    }
    if owner:
        request["ResourceOwner"] = owner
    assert _only(simulate_custom_policy(request))["EvalDecision"] == expected


def test_resource_owner_places_arns_without_an_account() -> None:
    request = {
        "PolicyInputList": [_doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})],
        "ActionNames": ["s3:GetObject"],
        "ResourceArns": ["arn:aws:s3:::bucket/key"],
        "CallerArn": USER,
    }
    assert _only(simulate_custom_policy(request))["EvalDecision"] == "allowed"
    crossed = {**request, "ResourceOwner": "999999999999"}
    assert _only(simulate_custom_policy(crossed))["EvalDecision"] == "implicitDeny"


ROLE = "arn:aws:iam::123456789012:role/deploy"
ASSUME_ALLOW = _doc({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": ROLE})


@pytest.mark.parametrize(
    ("principal", "expected"),
    [
        ({"AWS": "arn:aws:iam::123456789012:user/bob"}, "implicitDeny"),  # names someone else
        ({"AWS": "arn:aws:iam::123456789012:root"}, "allowed"),  # account + identity Allow
        ({"AWS": USER}, "allowed"),
    ],
)
def test_assume_role_reads_the_resource_policy_as_a_trust_policy(
    principal: dict[str, str], expected: str
) -> None:
    trust = _doc({"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"})
    response = simulate_custom_policy(
        {
            "PolicyInputList": [ASSUME_ALLOW],
            "ActionNames": ["sts:AssumeRole"],
            "ResourceArns": [ROLE],
            "ResourcePolicy": trust,
            "CallerArn": USER,
        }
    )
    assert _only(response)["EvalDecision"] == expected


def test_resource_control_policy_levels() -> None:
    deny = _doc(
        {"Sid": "OrgOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*"}
    )
    request = {
        "PolicyInputList": [_doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})],
        "ActionNames": ["s3:GetObject"],
        "CallerArn": USER,
    }
    assert _only(simulate_custom_policy(request))["EvalDecision"] == "allowed"
    for levels in ([[], [deny]], [{"PolicyInputList": [deny]}]):  # lists, or the gRPC shape
        result = _only(simulate_custom_policy({**request, "ResourceControlPolicyLevels": levels}))
        assert result["EvalDecision"] == "explicitDeny"
        (matched,) = result["MatchedStatements"]
        assert matched["SourcePolicyType"] == "Resource Control Policy"
        assert matched["Sid"] == "OrgOnly"


def test_service_control_policy_levels_in_the_grpc_shape() -> None:
    deny = _doc({"Effect": "Deny", "Action": "s3:*", "Resource": "*"})
    result = _only(
        simulate_custom_policy(
            {
                "PolicyInputList": [_doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})],
                "ActionNames": ["s3:GetObject"],
                "CallerArn": USER,
                "ServiceControlPolicyLevels": [{"PolicyInputList": [deny]}],
            }
        )
    )
    assert result["EvalDecision"] == "explicitDeny"


def test_resource_handling_option_takes_the_aws_values() -> None:
    request = {
        "PolicyInputList": [_doc({"Effect": "Allow", "Action": "ec2:*", "Resource": "*"})],
        "ActionNames": ["ec2:RunInstances"],
    }
    ok = simulate_custom_policy({**request, "ResourceHandlingOption": "EC2-VPC-EBS"})
    assert _only(ok)["EvalDecision"] == "allowed"
    with pytest.raises(ValidationError) as err:
        simulate_custom_policy({**request, "ResourceHandlingOption": "EC2-Mars"})
    assert "resourceHandlingOption" in err.value.message
