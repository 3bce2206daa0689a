"""Attack: a date the server cannot hold crashes evaluation (issue 10, "Crashes"). A 12-digit
epoch in a Date condition (``999999999999`` is the year 33658) raised an uncaught ValueError at
0b9b4d1: INTERNAL for whoever sent the policy or the context value.

AWS accepts epochs up to 2^63 - 1 in a policy (larger ones are a MalformedPolicyDocument, as the
validator already had it) and compares instants, so the decisions below are the ones AWS gives;
the reference evaluator compares the same exact seconds. Against a real server on 127.0.0.1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from authz._gen.authz.v1 import authorizer_pb2
from authz.errors import AuthzError
from tests.integration.e2e.harness import E2EServer, ServerFactory
from tests.integration.e2e.repo_builder import RepoBuilder

ACCOUNT = "111111111111"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
READER = f"arn:aws:iam::{ACCOUNT}:role/reader"
REPORT = "arn:aws:s3:::data/report.csv"
YEAR_33658 = "999999999999"  # 12 digits
INT64_MAX = "9223372036854775807"
HUGE = "9" * 40  # far beyond any calendar


def _document(effect: str, operator: str, key: str, value: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": effect,
                "Action": "s3:GetObject",
                "Resource": "*",
                "Condition": {operator: {key: value}},
            }
        ],
    }


@pytest.fixture
def env(start_server: ServerFactory, tmp_path: Path) -> E2EServer:
    repo = RepoBuilder()
    expires = _document("Allow", "DateGreaterThan", "app:expires", "2020-01-01T00:00:00Z")
    starts = _document("Deny", "DateLessThan", "app:starts", "1999-01-01T00:00:00Z")
    simulate = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iam:SimulateCustomPolicy", "Resource": "*"}],
    }
    repo.user(ACCOUNT, "alice", inline=[expires, starts, simulate])
    repo.role(
        ACCOUNT,
        "reader",
        trust_policy={
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": "sts:AssumeRole"}
            ],
        },
        inline=[{"Version": "2012-10-17", "Statement": [_allow_all()]}],
    )
    repo.write(tmp_path / "repo")
    return start_server(tmp_path / "repo")


def _allow_all() -> dict[str, Any]:
    return {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}


@pytest.mark.parametrize(
    ("effect", "value", "expected"),
    [
        ("Allow", YEAR_33658, authorizer_pb2.DECISION_ALLOWED),  # now < year 33658
        ("Deny", YEAR_33658, authorizer_pb2.DECISION_EXPLICIT_DENY),
        ("Deny", INT64_MAX, authorizer_pb2.DECISION_EXPLICIT_DENY),
    ],
)
def test_far_future_epoch_in_a_session_policy(
    env: E2EServer, effect: str, value: str, expected: int
) -> None:
    policy = _document(effect, "DateLessThan", "aws:CurrentTime", value)
    if effect == "Deny":
        policy["Statement"].append(_allow_all())
    _, session = env.assume(env.access_key(ALICE), READER, "dates", policy=json.dumps(policy))
    with env.client(session) as client:
        client.timeout = 5
        answer = client.authorize("s3:GetObject", REPORT)
    assert answer.decision == expected


def test_epoch_beyond_int64_is_a_malformed_policy(env: E2EServer) -> None:
    policy = _document("Allow", "DateLessThan", "aws:CurrentTime", HUGE)
    with pytest.raises(AuthzError) as caught:
        env.assume(env.access_key(ALICE), READER, "dates", policy=json.dumps(policy))
    assert caught.value.code == "MalformedPolicyDocument"


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({"app:expires": YEAR_33658}, authorizer_pb2.DECISION_ALLOWED),
        ({"app:expires": HUGE}, authorizer_pb2.DECISION_ALLOWED),
        ({"app:expires": "1"}, authorizer_pb2.DECISION_IMPLICIT_DENY),  # 1970, before 2020
        ({"app:expires": YEAR_33658, "app:starts": "0001"}, authorizer_pb2.DECISION_EXPLICIT_DENY),
        ({"app:expires": YEAR_33658, "app:starts": HUGE}, authorizer_pb2.DECISION_ALLOWED),
        ({"app:expires": "0000"}, authorizer_pb2.DECISION_IMPLICIT_DENY),  # not a date
    ],
)
def test_far_future_epoch_in_a_request_context(
    env: E2EServer, context: dict[str, str], expected: int
) -> None:
    with env.client(env.access_key(ALICE)) as client:
        client.timeout = 5
        answer = client.authorize("s3:GetObject", REPORT, context=context)
    assert answer.decision == expected


def test_simulation_with_a_far_future_epoch(env: E2EServer) -> None:
    with env.client(env.access_key(ALICE)) as client:
        client.timeout = 5
        response = client.simulate_custom_policy(
            policy_input_list=[
                json.dumps(_document("Allow", "DateLessThan", "app:when", YEAR_33658))
            ],
            action_names=["s3:GetObject"],
            resource_arns=[REPORT],
            caller_arn=ALICE,
            context_entries=[
                {"context_key_name": "app:when", "context_key_values": [YEAR_33658[:-1] + "8"],
                 "context_key_type": "date"}
            ],
        )  # fmt: skip
    assert [r.eval_decision for r in response.evaluation_results] == ["allowed"]
