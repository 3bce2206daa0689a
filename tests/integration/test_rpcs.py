"""Every RPC round-trips through the real server and channel to the fake backend."""

from __future__ import annotations

import json

import pytest

from authz import errors
from authz._gen.authz.v1 import authorizer_pb2, simulator_pb2
from authz.client import AuthzClient, SessionCredentials, build_authorize_request
from authz.iam.model import PolicyType
from authz.server import AssumeRoleParams, AuthorizeParams
from tests.integration.fakes import ALICE_ARN, ROLE_ARN, SESSION_KEY, FakeBackend


def test_assume_role_round_trip(client: AuthzClient, backend: FakeBackend) -> None:
    response = client.assume_role(
        ROLE_ARN,
        "s1",
        duration_seconds=7200,
        external_id="ext",
        policy='{"Statement": []}',
        policy_arns=["arn:aws:iam::aws:policy/ReadOnlyAccess"],
        tags={"team": "core"},
        transitive_tag_keys=["team"],
        source_identity="alice",
    )
    assert response.credentials.session_token in backend.tokens
    assert response.credentials.expiration.seconds > 0
    assert response.assumed_role_user.assumed_role_id == "AROAAPP:s1"
    assert response.HasField("packed_policy_size") and response.packed_policy_size == 12
    assert (response.effective_duration_seconds, response.duration_capped_by) == (
        3600,
        "role_max_session_duration",
    )
    assert response.revision == "rev-1" and response.source_identity == "alice"
    params = backend.calls[-1][1]
    assert isinstance(params, AssumeRoleParams)
    assert params.duration_seconds == 7200 and params.external_id == "ext"
    assert params.tags[0][0] == "team" and params.policy_arns[0].endswith("ReadOnlyAccess")
    assert params.serial_number is None and params.token_code is None


def test_assume_role_without_duration_sends_none(client: AuthzClient, backend: FakeBackend) -> None:
    response = client.assume_role(ROLE_ARN, "s2")
    assert not response.HasField("packed_policy_size")
    assert backend.calls[-1][1].duration_seconds is None


def test_get_caller_identity_with_access_key_and_session(
    client: AuthzClient, target: str, backend: FakeBackend
) -> None:
    assert client.get_caller_identity().arn == ALICE_ARN
    token, expiration = backend.issue_token()
    with AuthzClient(target, SessionCredentials(token, expiration, *SESSION_KEY)) as session_client:
        identity = session_client.get_caller_identity()
    assert identity.arn.startswith("arn:aws:sts::111122223333:assumed-role/app/")
    assert identity.account == "111122223333" and identity.user_id == "AROAAPP:s1"


def test_get_signing_keys_needs_no_credentials(target: str) -> None:
    with AuthzClient(target, None) as anonymous:
        assert json.loads(anonymous.get_signing_keys())["keys"][0]["kid"] == "k1"


@pytest.mark.parametrize(
    ("action", "decision", "failing_layer"),
    [
        ("s3:GetObject", authorizer_pb2.DECISION_ALLOWED, ""),
        ("s3:DeleteObject", authorizer_pb2.DECISION_EXPLICIT_DENY, "scp"),
        ("s3:PutObject", authorizer_pb2.DECISION_IMPLICIT_DENY, "identity"),
    ],
)
def test_authorize_decisions(
    client: AuthzClient, action: str, decision: int, failing_layer: str
) -> None:
    response = client.authorize(action, "arn:aws:s3:::bucket/key")
    assert response.decision == decision
    assert response.failing_layer == failing_layer
    assert response.revision == "rev-1" and response.principal_arn == ALICE_ARN
    assert response.reason


def test_authorize_carries_statements_reason_and_context(
    client: AuthzClient, backend: FakeBackend
) -> None:
    allowed = client.authorize(
        "s3:GetObject",
        "arn:aws:s3:::b/k",
        context={"aws:SourceIp": "10.0.0.1", "aws:TagKeys": ["a", "b"]},
        resource_account="444455556666",
    )
    statement = allowed.matched_statements[0]
    assert (statement.source_policy_id, statement.statement_id, statement.effect) == (
        "user/alice/read",
        "Read",
        "Allow",
    )
    assert statement.source_policy_type == "identity" and statement.source_file == "f"
    params = backend.calls[-1][1][1]
    assert isinstance(params, AuthorizeParams)
    assert params.context == {"aws:sourceip": "10.0.0.1", "aws:tagkeys": ("a", "b")}
    assert params.resource_account == "444455556666"
    denied = client.authorize("s3:PutObject", "arn:aws:s3:::b/k")
    assert denied.missing_context_values == ["aws:sourceip"]
    assert denied.reason == "because no identity-based policy allows the s3:PutObject action"


def test_repeated_questions_are_answered_at_the_edge_while_the_revision_serves(
    client: AuthzClient, backend: FakeBackend
) -> None:
    """A decision the backend calls repeatable answers the same question from the same caller
    again without the backend, until the revision changes; others always reach it."""
    backend.repeatable_actions = {"s3:GetObject"}

    def asked() -> int:
        return sum(1 for name, _ in backend.calls if name == "authorize")

    first = client.authorize(
        "s3:GetObject", "arn:aws:s3:::b/k", context={"aws:SourceIp": "1.2.3.4"}
    )
    again = client.authorize(
        "s3:GetObject", "arn:aws:s3:::b/k", context={"aws:SourceIp": "1.2.3.4"}
    )
    assert asked() == 1 and again == first
    other = client.authorize(
        "s3:GetObject", "arn:aws:s3:::b/k", context={"aws:SourceIp": "5.6.7.8"}
    )
    assert asked() == 2 and other.decision == first.decision
    backend.revision = "rev-2"  # a reload: the remembered answers no longer apply
    assert client.authorize("s3:GetObject", "arn:aws:s3:::b/k", context={"aws:SourceIp": "1.2.3.4"})
    assert asked() == 3
    for _ in range(2):  # not repeatable: always decided by the backend
        client.authorize("s3:PutObject", "arn:aws:s3:::b/k")
    assert asked() == 5


def test_authorize_batch_in_order(client: AuthzClient) -> None:
    items = [
        build_authorize_request(a, "arn:aws:s3:::b/k")
        for a in ("s3:GetObject", "s3:DeleteObject", "s3:PutObject")
    ]
    results = client.authorize_batch(items)
    assert [r.decision for r in results] == [
        authorizer_pb2.DECISION_ALLOWED,
        authorizer_pb2.DECISION_EXPLICIT_DENY,
        authorizer_pb2.DECISION_IMPLICIT_DENY,
    ]


def test_trusted_enforcer_may_name_the_principal(
    enforcer: AuthzClient, client: AuthzClient, backend: FakeBackend
) -> None:
    by_arn = enforcer.authorize("s3:GetObject", "arn:aws:s3:::b/k", principal_arn=ALICE_ARN)
    assert by_arn.principal_arn == ALICE_ARN
    token, _ = backend.issue_token()
    by_token = enforcer.authorize("s3:GetObject", "arn:aws:s3:::b/k", session_token=token)
    assert "assumed-role/app" in by_token.principal_arn
    with pytest.raises(errors.NoSuchEntity):
        enforcer.authorize("s3:GetObject", "x", principal_arn="arn:aws:iam::1:user/ghost")
    with pytest.raises(errors.AccessDenied, match="only trusted enforcement points"):
        client.authorize("s3:GetObject", "arn:aws:s3:::b/k", principal_arn=ALICE_ARN)


def test_simulate_custom_policy_uses_aws_shapes(client: AuthzClient, backend: FakeBackend) -> None:
    response = client.simulate_custom_policy(
        policy_input_list=['{"Statement": []}'],
        action_names=["s3:Get", "s3:Put"],
        resource_arns=["arn:aws:s3:::b"],
        context_entries=[
            simulator_pb2.SimulationContextEntry(
                context_key_name="aws:SourceIp",
                context_key_values=["10.0.0.1"],
                context_key_type="ip",
            )
        ],
        service_control_policy_levels=[
            simulator_pb2.ServiceControlPolicyLevel(policy_input_list=["{}"])
        ],
        session_policy_input_list=["{}"],
    )
    sent = backend.calls[-1][1]
    assert sent["ActionNames"] == ["s3:Get", "s3:Put"]
    assert sent["ContextEntries"][0] == {
        "ContextKeyName": "aws:SourceIp",
        "ContextKeyValues": ["10.0.0.1"],
        "ContextKeyType": "ip",
    }
    assert sent["ServiceControlPolicyLevels"] == [{"PolicyInputList": ["{}"]}]
    assert sent["SessionPolicyInputList"] == ["{}"]
    results = response.evaluation_results
    assert [(r.eval_action_name, r.eval_decision) for r in results] == [
        ("s3:Get", "allowed"),
        ("s3:Put", "implicitDeny"),
    ]
    assert results[0].matched_statements[0].source_policy_id == "PolicyInputList.1"
    assert dict(results[0].eval_decision_details) == {"s3:Get": "allowed"}


def test_simulate_principal_policy(client: AuthzClient, backend: FakeBackend) -> None:
    response = client.simulate_principal_policy(
        policy_source_arn=ALICE_ARN, action_names=["s3:Get"], caller_arn=ALICE_ARN
    )
    assert response.evaluation_results[0].eval_resource_name == "*"
    assert backend.calls[-1][1]["PolicySourceArn"] == ALICE_ARN


def test_validate_policy(client: AuthzClient, backend: FakeBackend) -> None:
    assert client.validate_policy('{"Statement": []}', "trust").valid
    assert backend.calls[-1][1][0] is PolicyType.TRUST
    bad = client.validate_policy("{}")
    assert not bad.valid and bad.error_code == "MalformedPolicyDocument"
    assert bad.message == "policy `input`: missing `Statement`"


def test_reload_and_status(client: AuthzClient) -> None:
    reloaded = client.reload()
    assert (reloaded.revision, reloaded.changed, reloaded.error) == ("rev-2", True, "")
    status = client.get_status()
    assert status.revision == "rev-2" and status.ready
    assert dict(status.counts) == {"roles": 3, "users": 2}
    assert dict(status.cache_stats) == {"decision_hits": 7, "decision_misses": 1}
    assert status.loaded_at.ToDatetime().year == 2024
