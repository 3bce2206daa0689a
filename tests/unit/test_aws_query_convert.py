"""The AWS endpoint's fast conversions agree with protobuf's JSON mapping, their oracle:
``result_dict`` (response → AWS result dictionary) with ``MessageToDict`` + PascalCase keys,
``to_message`` (Query parameters → request) with ``ParseDict`` — values, presence and errors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from google.protobuf import descriptor_pb2
from google.protobuf.json_format import MessageToDict, ParseDict, ParseError
from google.protobuf.message import Message
from hypothesis import given
from hypothesis import strategies as st

from authz._gen.authz.v1 import simulator_pb2, sts_pb2
from authz.errors import ValidationError
from authz.server.aws.actions import result_dict
from authz.server.aws.query import to_message


def oracle_result(response: Message) -> dict[str, Any]:
    """The conversion the endpoint used before its fast path, kept as the reference."""

    def pascal(value: Any, keep: bool = False) -> Any:
        if isinstance(value, dict):
            return {
                (k if keep else "".join(p[:1].upper() + p[1:] for p in k.split("_"))): pascal(
                    v, keep=(k == "eval_decision_details")
                )
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [pascal(v) for v in value]
        return value

    return pascal(MessageToDict(response, preserving_proto_field_name=True))  # type: ignore[no-any-return]


def assume_role_response(**extra: Any) -> sts_pb2.AssumeRoleResponse:
    response = sts_pb2.AssumeRoleResponse(
        credentials=sts_pb2.Credentials(
            access_key_id="ASIAEXAMPLE", secret_access_key="s" * 40, session_token="t.o.k"
        ),
        assumed_role_user=sts_pb2.AssumedRoleUser(
            arn="arn:aws:sts::1:assumed-role/r/s", assumed_role_id="AROA:s"
        ),
        effective_duration_seconds=900,
        revision="abc",
        **extra,
    )
    response.credentials.expiration.FromDatetime(datetime(2026, 12, 6, 18, 0, 1, 500, UTC))
    return response


def simulation_response() -> simulator_pb2.SimulatePrincipalPolicyResponse:
    response = simulator_pb2.SimulatePrincipalPolicyResponse(is_truncated=False, marker="")
    result = response.evaluation_results.add(
        eval_action_name="s3:GetObject", eval_resource_name="*", eval_decision="allowed",
        missing_context_values=["aws:SourceIp", "aws:MultiFactorAuthPresent"],
    )  # fmt: skip
    result.eval_decision_details["s3:GetObject"] = "allowed"
    result.eval_decision_details["Some_Snake_key"] = "implicitDeny"
    result.organizations_decision_detail.allowed_by_organizations = True
    result.permissions_boundary_decision_detail.SetInParent()  # set, all fields default
    statement = result.matched_statements.add()
    for field in statement.DESCRIPTOR.fields:  # whatever a matched statement holds
        if field.type == field.TYPE_STRING and not field.is_repeated:
            setattr(statement, field.name, f"{field.name}-value")
    response.evaluation_results.add(eval_action_name="s3:PutObject", eval_decision="explicitDeny")
    return response


@pytest.mark.parametrize(
    "response",
    [
        assume_role_response(),
        assume_role_response(packed_policy_size=0, source_identity="me"),  # presence kept
        sts_pb2.GetCallerIdentityResponse(user_id="AIDA", account="1", arn="arn:aws:iam::1:u"),
        sts_pb2.GetCallerIdentityResponse(),
        simulation_response(),
        # types the fast path leaves to MessageToDict: 64-bit integers, doubles, bytes
        descriptor_pb2.UninterpretedOption(
            identifier_value="x", positive_int_value=5, double_value=1.5, string_value=b"\x00"
        ),
    ],
    ids=["assume", "assume-presence", "caller", "caller-empty", "simulation", "fallback"],
)
def test_result_dict_matches_message_to_dict(response: Message) -> None:
    assert result_dict(response) == oracle_result(response)


def snake(value: Any) -> Any:
    if isinstance(value, dict):
        return {"".join("_" + c.lower() if c.isupper() else c for c in k).lstrip("_"): snake(v)
                for k, v in value.items()}  # fmt: skip
    if isinstance(value, list):
        return [snake(v) for v in value]
    return value


def oracle_message(request: dict[str, Any], message: Message) -> Message | str:
    try:
        ParseDict(snake(request), message, ignore_unknown_fields=True)
    except ParseError:
        return "ValidationError"
    return message


def fast_message(request: dict[str, Any], message: Message) -> Message | str:
    try:
        return to_message(request, message)
    except ValidationError:
        return "ValidationError"


NUMBERS = ["900", "0900", "0", "", "9e2", "-5", " 5", "1_000", "2147483647", "2147483648",
           "99999999999", "٣", "abc", "1.0"]  # fmt: skip


@pytest.mark.parametrize("duration", NUMBERS)
def test_to_message_matches_parse_dict_on_numbers(duration: str) -> None:
    request = {"RoleArn": "arn:aws:iam::1:role/r", "RoleSessionName": "s",
               "DurationSeconds": duration}  # fmt: skip
    expected = oracle_message(request, sts_pb2.AssumeRoleRequest())
    got = fast_message(request, sts_pb2.AssumeRoleRequest())
    assert got == expected
    if isinstance(got, Message) and isinstance(expected, Message):
        assert got.HasField("duration_seconds") == expected.HasField("duration_seconds")


@pytest.mark.parametrize(
    "request_dict",
    [
        {},
        {"RoleArn": "", "RoleSessionName": "s"},
        {"RoleArn": "a", "UnknownParameter": "x"},
        {"RoleArn": "a", "roleArn": "b"},  # two spellings of one field
        {"RoleArn": "a", "PolicyArns": [{"Arn": "arn:aws:iam::aws:policy/P"}]},
        {"RoleArn": "a", "Tags": [{"Key": "k", "Value": "v"}], "TransitiveTagKeys": ["k"]},
        {"RoleArn": "a", "SerialNumber": "arn:aws:iam::1:mfa/m", "TokenCode": "123456"},
        {"RoleArn": {"Nested": "x"}},
    ],
)
def test_to_message_matches_parse_dict(request_dict: dict[str, Any]) -> None:
    assert fast_message(request_dict, sts_pb2.AssumeRoleRequest()) == oracle_message(
        request_dict, sts_pb2.AssumeRoleRequest()
    )


@given(st.dictionaries(st.sampled_from(["RoleArn", "RoleSessionName", "DurationSeconds",
                                        "ExternalId", "Policy", "Other"]),
                       st.text(max_size=12)))  # fmt: skip
def test_to_message_matches_parse_dict_on_generated_requests(request: dict[str, str]) -> None:
    assert fast_message(request, sts_pb2.AssumeRoleRequest()) == oracle_message(
        request, sts_pb2.AssumeRoleRequest()
    )
