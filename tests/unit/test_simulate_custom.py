"""SimulateCustomPolicy (request → response dicts) and the policy CLI commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from authz.cli import main
from authz.engine.simulate import caller_from_arn, simulate_custom_policy
from authz.errors import MalformedPolicyDocument, ValidationError
from authz.iam.model import CallerKind

ALLOW_GET = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Get",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": "*",
                "Condition": {"NumericLessThan": {"s3:max-keys": "10"}},
            }
        ],
    }
)
USER = "arn:aws:iam::111111111111:user/alice"


def request(**extra: object) -> dict[str, object]:
    return {
        "PolicyInputList": [ALLOW_GET],
        "ActionNames": ["s3:GetObject", "s3:PutObject"],
        "ResourceArns": ["arn:aws:s3:::b/k"],
        "CallerArn": USER,
        **extra,
    }


def test_results_per_action_and_resource() -> None:
    entries = [
        {"ContextKeyName": "s3:max-keys", "ContextKeyValues": ["5"], "ContextKeyType": "string"}
    ]
    results = simulate_custom_policy(request(ContextEntries=entries))["EvaluationResults"]
    get, put = results
    assert get["EvalDecision"] == "allowed" and put["EvalDecision"] == "implicitDeny"
    assert get["MatchedStatements"] == [
        {"SourcePolicyId": "PolicyInputList.1", "SourcePolicyType": "IAM Policy", "Sid": "Get"}
    ]
    assert get["MissingContextValues"] == []


def test_missing_context_values_and_boundary() -> None:
    boundary = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:List*", "Resource": "*"}],
        }
    )
    result = simulate_custom_policy(request(PermissionsBoundaryPolicyInputList=[boundary]))
    get = result["EvaluationResults"][0]
    assert get["EvalDecision"] == "implicitDeny"
    assert get["MissingContextValues"] == ["s3:max-keys"]


def test_scp_levels_and_session_policies() -> None:
    deny = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}],
        }
    )
    entries = [
        {"ContextKeyName": "s3:max-keys", "ContextKeyValues": ["1"], "ContextKeyType": "numeric"}
    ]
    result = simulate_custom_policy(
        request(ServiceControlPolicyLevels=[[deny]], ContextEntries=entries)
    )
    assert result["EvaluationResults"][0]["EvalDecision"] == "explicitDeny"
    session = "arn:aws:sts::111111111111:assumed-role/app/s1"
    result = simulate_custom_policy(
        request(CallerArn=session, SessionPolicyInputList=[deny], ContextEntries=entries)
    )
    assert result["EvaluationResults"][0]["EvalDecision"] == "explicitDeny"


def test_callers() -> None:
    assert caller_from_arn(None, {}).kind is CallerKind.ANONYMOUS
    assert caller_from_arn("ec2.amazonaws.com", {}).kind is CallerKind.SERVICE
    assert caller_from_arn("arn:aws:iam::111111111111:root", {}).kind is CallerKind.ROOT
    session = caller_from_arn("arn:aws:sts::111111111111:assumed-role/app/s1", {})
    assert session.role_arn == "arn:aws:iam::111111111111:role/app"
    listed = caller_from_arn(
        "arn:aws:sts::111111111111:assumed-role/app/s1",
        {"aws:principalarn": "arn:aws:iam::111111111111:role/path/app"},
    )
    assert listed.role_arn == "arn:aws:iam::111111111111:role/path/app"


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        ({"ActionNames": []}, ValidationError),
        ({"PolicyInputList": ["{"]}, MalformedPolicyDocument),
        ({"CallerArn": "arn:aws:s3:::bucket"}, ValidationError),
        ({"ContextEntries": [{"ContextKeyName": "k", "ContextKeyType": "weird"}]}, ValidationError),
        ({"ResourceOwner": "nobody"}, ValidationError),
    ],
)
def test_bad_input(bad: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        simulate_custom_policy(request(**bad))


def test_cli_simulate_json_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "reqs.jsonl"
    path.write_text(json.dumps(request()) + "\n" + json.dumps(request(CallerArn=None)) + "\n")
    assert main(["simulate-custom-policy", "--cli-input-json", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["EvaluationResults"][0]["EvalDecision"] for line in lines] == [
        "implicitDeny",
        "implicitDeny",
    ]
    path.write_text(json.dumps(request(ActionNames=[])))
    assert main(["simulate-custom-policy", "--cli-input-json", str(path)]) == 2
    assert "ValidationError" in capsys.readouterr().err


def test_cli_validate_and_translate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(ALLOW_GET)
    bad.write_text('{"Version": "2012-10-17", "Statement": [{"Effect": "allow"}]}')
    assert (
        main(["validate-policy", "--policy-type", "identity", "--policy-document", str(good)]) == 0
    )
    assert json.loads(capsys.readouterr().out)["Valid"] is True
    assert (
        main(["validate-policy", "--policy-type", "identity", "--policy-document", str(bad)]) == 1
    )
    assert json.loads(capsys.readouterr().out)["ErrorCode"] == "MalformedPolicyDocument"
    assert (
        main(
            [
                "validate-policy",
                "--policy-type",
                "identity",
                "--policy-document",
                str(tmp_path / "none"),
            ]
        )
        == 2
    )
    capsys.readouterr()
    assert (
        main(["translate", "--policy-type", "identity", "--policy-document", str(good), "--json"])
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["policies"][0]["id"] == "identity:policy:Get" and out["contextKeys"] == [
        "s3:max-keys"
    ]
