"""Signed gRPC calls against a real server: no secret on the wire, sessions need their
secret, and a captured signed call cannot be altered, re-dated or (AssumeRole) replayed."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import grpc
import pytest

from authz import errors
from authz._gen.authz.v1 import authorizer_pb2, sts_pb2
from authz.client import AuthzClient
from authz.client.credentials import AccessKeyCredentials, SessionCredentials
from authz.client.signing import signed_metadata
from tests.integration.e2e.harness import E2EServer, ServerFactory

BOB = "arn:aws:iam::111122223333:user/Bob"
FOO = "arn:aws:iam::444455556666:role/foo"
AUTHORIZE = "/authz.v1.Authorizer/Authorize"
ASSUME = "/authz.v1.SecurityTokenService/AssumeRole"
CALLER = "/authz.v1.SecurityTokenService/GetCallerIdentity"
READ_REPORT = authorizer_pb2.AuthorizeRequest(
    action="s3:GetObject", resource="arn:aws:s3:::example-reports/q1.csv"
)
READ_REPORT = authorizer_pb2.AuthorizeRequest(
    action="s3:GetObject", resource="arn:aws:s3:::example-reports/q1.csv"
)


class Recorder(grpc.UnaryUnaryClientInterceptor):  # type: ignore[type-arg]
    """Sees each call's metadata as it leaves the client (below the signing interceptor)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[tuple[str, str], ...]]] = []

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        self.calls.append((details.method, tuple(details.metadata or ())))
        return continuation(details, request)


@pytest.fixture
def server(start_server: ServerFactory, example_repo: Path) -> E2EServer:
    return start_server(example_repo, aws_listen="127.0.0.1:0")


def recorded_client(server: E2EServer, creds: Any, recorder: Recorder) -> AuthzClient:
    channel = grpc.intercept_channel(grpc.insecure_channel(server.target), recorder)
    return AuthzClient(server.target, creds, channel=channel, timeout=10)


def every_call(client: AuthzClient) -> None:
    """One call of each kind the SDK makes (refusals are fine: the metadata went out)."""
    calls: list[Callable[[], object]] = [
        client.get_caller_identity,
        lambda: client.authorize("s3:GetObject", "arn:aws:s3:::example-reports/q1.csv"),
        lambda: client.authorize_batch([READ_REPORT]),
        lambda: client.simulate_custom_policy(policy_input_list=["{}"], action_names=["s3:X"]),
        lambda: client.validate_policy("{}", "identity"),
        client.get_status,
        lambda: client.assume_role(FOO, "recorded"),
    ]
    for call in calls:
        with contextlib.suppress(errors.AuthzError):
            call()


def test_no_secret_in_the_metadata_of_any_client_call(server: E2EServer) -> None:
    key = server.access_key(BOB)
    recorder = Recorder()
    with recorded_client(server, key, recorder) as client:
        every_call(client)
        response = client.assume_role(FOO, "session")
    session = SessionCredentials(
        response.credentials.session_token,
        response.credentials.expiration.ToDatetime(),
        response.credentials.access_key_id,
        response.credentials.secret_access_key,
    )
    with recorded_client(server, session, recorder) as client:
        every_call(client)
        assert client.get_caller_identity().arn.endswith("assumed-role/foo/session")
    assert len(recorder.calls) >= 16
    secrets = (key.secret, response.credentials.secret_access_key)
    for method, metadata in recorder.calls:
        text = json.dumps(metadata)
        assert not any(secret in text for secret in secrets), method
        names = dict(metadata)
        assert names["authorization"].startswith("AWS4-HMAC-SHA256 Credential="), method
        assert "x-authz-secret-access-key" not in names
    audit = server.audit_path.read_text()
    assert not any(secret in audit for secret in secrets)


def test_no_secret_in_the_http_requests_of_boto3(server: E2EServer) -> None:
    key_id, secret = server.backend.credentials.create(BOB)
    assert server.server.aws is not None
    sts = boto3.client("sts", endpoint_url=f"http://127.0.0.1:{server.server.aws.port}",
                       region_name="us-east-1", aws_access_key_id=key_id,
                       aws_secret_access_key=secret)  # fmt: skip
    sent: list[bytes] = []

    def record(request: Any, **_: Any) -> None:
        sent.append(json.dumps(dict(request.headers.items()), default=str).encode())
        sent.append(request.body if isinstance(request.body, bytes) else b"")

    sts.meta.events.register("before-send", record)
    session = sts.assume_role(RoleArn=FOO, RoleSessionName="http")["Credentials"]
    sts.get_caller_identity()
    assert len(sent) == 4
    assert not any(secret.encode() in chunk for chunk in sent)
    assert session["SecretAccessKey"]  # returned once, in the response only


def test_plaintext_secret_and_bearer_token_are_refused_by_default(server: E2EServer) -> None:
    key = server.access_key(BOB)
    channel = grpc.insecure_channel(server.target)
    call = channel.unary_unary(CALLER, sts_pb2.GetCallerIdentityRequest.SerializeToString,
                               sts_pb2.GetCallerIdentityResponse.FromString)  # fmt: skip
    plaintext = (("x-authz-access-key-id", key.key_id), ("x-authz-secret-access-key", key.secret))
    with pytest.raises(grpc.RpcError) as info:
        call(sts_pb2.GetCallerIdentityRequest(), metadata=plaintext, timeout=10)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "allow_plaintext_secret" in str(info.value.details())
    with AuthzClient(server.target, key) as client:
        token = client.assume_role(FOO, "bearer").credentials.session_token
    with pytest.raises(grpc.RpcError) as info:
        call(sts_pb2.GetCallerIdentityRequest(), metadata=(("authorization", f"Bearer {token}"),),
             timeout=10)  # fmt: skip
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "allow_bearer_sessions" in str(info.value.details())
    channel.close()


def test_the_operator_can_enable_both_for_loopback_experiments(
    start_server: ServerFactory, example_repo: Path
) -> None:
    server = start_server(example_repo, allow_plaintext_secret=True, allow_bearer_sessions=True)
    key = server.access_key(BOB)
    channel = grpc.insecure_channel(server.target)
    call = channel.unary_unary(CALLER, sts_pb2.GetCallerIdentityRequest.SerializeToString,
                               sts_pb2.GetCallerIdentityResponse.FromString)  # fmt: skip
    plaintext = (("x-authz-access-key-id", key.key_id), ("x-authz-secret-access-key", key.secret))
    assert call(sts_pb2.GetCallerIdentityRequest(), metadata=plaintext, timeout=10).arn == BOB
    channel.close()


def _raw_call(server: E2EServer, method: str, response_type: Any) -> Any:
    channel = grpc.insecure_channel(server.target)
    return channel.unary_unary(method, None, response_type.FromString)


def _code(call: Callable[[], object]) -> str:
    with pytest.raises(grpc.RpcError) as info:
        call()
    found = [str(v) for k, v in (info.value.trailing_metadata() or ()) if k == "x-authz-error-code"]
    return found[0] if found else ""


def test_captured_signed_calls_cannot_be_altered_redated_or_replayed(server: E2EServer) -> None:
    key = server.access_key(BOB)
    assume = _raw_call(server, ASSUME, sts_pb2.AssumeRoleResponse)
    body = sts_pb2.AssumeRoleRequest(role_arn=FOO, role_session_name="captured").SerializeToString()
    metadata = signed_metadata(key, ASSUME, body)
    assert assume(body, metadata=metadata, timeout=10).credentials.session_token
    assert _code(lambda: assume(body, metadata=metadata, timeout=10)) == "RequestExpired"
    fresh = signed_metadata(key, ASSUME, body)
    other = sts_pb2.AssumeRoleRequest(role_arn=FOO, role_session_name="attacker")
    assert _code(lambda: assume(other.SerializeToString(), metadata=fresh, timeout=10)) == (
        "SignatureDoesNotMatch"
    )
    # the signature binds the method: an Authorize signature does not open AssumeRole
    moved = signed_metadata(key, AUTHORIZE, body)
    assert _code(lambda: assume(body, metadata=moved, timeout=10)) == "SignatureDoesNotMatch"
    old = signed_metadata(key, ASSUME, body, now=time.time() - 600)
    assert _code(lambda: assume(body, metadata=old, timeout=10)) == "RequestExpired"
    wrong_region = signed_metadata(key, ASSUME, body, region="eu-west-1")
    assert _code(lambda: assume(body, metadata=wrong_region, timeout=10)) == (
        "SignatureDoesNotMatch"
    )


def test_a_signed_call_carries_only_what_it_needs_and_equal_calls_both_pass(
    server: E2EServer,
) -> None:
    """Authorize: signature and date only (the server hashes the body it received; every
    metadata entry costs both ends of every call); two byte-identical Authorize calls in one
    second both answer (a PEP asks twice). AssumeRole: a nonce as well, so two equal calls in
    one second are two signatures and both mint a session, while a replay of either is not."""
    key = server.access_key(BOB)
    authorize = _raw_call(server, AUTHORIZE, authorizer_pb2.AuthorizeResponse)
    body = READ_REPORT.SerializeToString()
    now = time.time()
    metadata = signed_metadata(key, AUTHORIZE, body, now=now)
    assert [name for name, _ in metadata] == ["authorization", "x-amz-date"]
    assert "SignedHeaders=x-amz-date," in dict(metadata)["authorization"]
    first = authorize(body, metadata=metadata, timeout=10)
    again = authorize(body, metadata=signed_metadata(key, AUTHORIZE, body, now=now), timeout=10)
    assert first.decision == again.decision and first.principal_arn == BOB  # both answered
    tampered = authorizer_pb2.AuthorizeRequest(
        action="s3:GetObject", resource="arn:aws:s3:::example-reports/q2.csv"
    ).SerializeToString()
    assert _code(lambda: authorize(tampered, metadata=metadata, timeout=10)) == (
        "SignatureDoesNotMatch"  # the body is signed though its hash is not sent
    )
    assume = _raw_call(server, ASSUME, sts_pb2.AssumeRoleResponse)
    body = sts_pb2.AssumeRoleRequest(role_arn=FOO, role_session_name="twice").SerializeToString()
    one, two = (signed_metadata(key, ASSUME, body, now=now) for _ in range(2))
    assert [name for name, _ in one] == ["authorization", "x-amz-date", "x-authz-nonce"]
    assert dict(one)["x-authz-nonce"] != dict(two)["x-authz-nonce"]
    tokens = {assume(body, metadata=m, timeout=10).credentials.session_token for m in (one, two)}
    assert len(tokens) == 2
    assert _code(lambda: assume(body, metadata=one, timeout=10)) == "RequestExpired"
    # a session (role chaining) signs with its token too: every header in canonical order
    creds = assume(body, metadata=signed_metadata(key, ASSUME, body), timeout=10).credentials
    session = SessionCredentials(creds.session_token, creds.expiration.ToDatetime(),
                                 creds.access_key_id, creds.secret_access_key)  # fmt: skip
    chained = signed_metadata(session, ASSUME, body)
    assert [name for name, _ in chained] == [
        "authorization",
        "x-amz-date",
        "x-amz-security-token",
        "x-authz-nonce",
    ]
    # authenticated, then refused by the decision (foo does not trust its own sessions)
    assert _code(lambda: assume(body, metadata=chained, timeout=10)) == "AccessDenied"


def test_a_session_needs_its_secret(server: E2EServer) -> None:
    key = server.access_key(BOB)
    with AuthzClient(server.target, key) as client:
        creds = client.assume_role(FOO, "pop").credentials
    expiry = creds.expiration.ToDatetime()
    wrong = SessionCredentials(creds.session_token, expiry, creds.access_key_id, "A" * 40)
    with AuthzClient(server.target, wrong) as client, pytest.raises(errors.AuthzError) as info:
        client.get_caller_identity()
    assert info.value.code == "SignatureDoesNotMatch"
    other_key = SessionCredentials(creds.session_token, expiry, "ASIAAAAAAAAAAAAAAAAA",
                                   creds.secret_access_key)  # fmt: skip
    with AuthzClient(server.target, other_key) as client, pytest.raises(errors.AuthzError) as info:
        client.get_caller_identity()
    assert info.value.code == "InvalidClientTokenId"
    as_long_term = AccessKeyCredentials(creds.access_key_id, creds.secret_access_key)
    with AuthzClient(server.target, as_long_term) as client, pytest.raises(errors.AuthzError) as i:
        client.get_caller_identity()  # no token: a session key alone names nobody
    assert i.value.code == "InvalidClientTokenId"
