"""The error contract: status code + AWS code in ErrorInfo and trailing metadata, for every
mapped exception, bad credentials, garbage metadata, size and batch limits."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from authz import errors
from authz._gen.authz.v1 import authorizer_pb2, sts_pb2, sts_pb2_grpc
from authz.client import AccessKeyCredentials, AuthzClient, build_authorize_request
from authz.client._status import error_info
from tests.integration.fakes import ALICE_KEY, SESSION_KEY, FakeBackend

ALICE_MD = (("x-authz-access-key-id", ALICE_KEY[0]), ("x-authz-secret-access-key", ALICE_KEY[1]))


def _call_identity(channel: grpc.Channel, metadata: tuple[tuple[str, str], ...]) -> grpc.RpcError:
    stub = sts_pb2_grpc.SecurityTokenServiceStub(channel)
    with pytest.raises(grpc.RpcError) as info:
        stub.GetCallerIdentity(sts_pb2.GetCallerIdentityRequest(), metadata=metadata, timeout=5)
    return info.value


def _aws_code(err: grpc.RpcError) -> tuple[str | None, str | None]:
    """(ErrorInfo reason, x-authz-error-code) read with nothing but grpc + googleapis."""
    trailing = dict(err.trailing_metadata())  # type: ignore[attr-defined]
    status = status_pb2.Status.FromString(trailing["grpc-status-details-bin"])
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info) and info.domain == "authz"
    assert status.code == err.code().value[0]  # type: ignore[attr-defined]
    return info.reason, trailing.get("x-authz-error-code")


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (errors.ValidationError("bad"), grpc.StatusCode.INVALID_ARGUMENT, "ValidationError"),
        (
            errors.MalformedPolicyDocument("bad doc"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "MalformedPolicyDocument",
        ),
        (
            errors.PackedPolicyTooLarge("too big"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "PackedPolicyTooLarge",
        ),
        (errors.AccessDenied("no"), grpc.StatusCode.PERMISSION_DENIED, "AccessDenied"),
        (errors.InvalidClientTokenId(), grpc.StatusCode.UNAUTHENTICATED, "InvalidClientTokenId"),
        (errors.ExpiredToken(), grpc.StatusCode.UNAUTHENTICATED, "ExpiredToken"),
        (errors.Throttling("slow down"), grpc.StatusCode.RESOURCE_EXHAUSTED, "Throttling"),
        (
            errors.ServiceUnavailable("no snapshot"),
            grpc.StatusCode.UNAVAILABLE,
            "ServiceUnavailable",
        ),
        (errors.NoSuchEntity("who"), grpc.StatusCode.NOT_FOUND, "NoSuchEntity"),
        (errors.InternalFailure("secret detail"), grpc.StatusCode.INTERNAL, "InternalFailure"),
        (RuntimeError("boom: secret detail"), grpc.StatusCode.INTERNAL, "InternalFailure"),
    ],
)
def test_error_mapping(
    backend: FakeBackend,
    channel: grpc.Channel,
    client: AuthzClient,
    exc: Exception,
    status: grpc.StatusCode,
    code: str,
) -> None:
    backend.failures["get_caller_identity"] = exc
    err = _call_identity(channel, ALICE_MD)
    assert err.code() == status  # type: ignore[attr-defined]
    assert _aws_code(err) == (code, code)
    if status is grpc.StatusCode.INTERNAL:
        assert err.details() == "an internal error occurred"  # type: ignore[attr-defined]
    # The client SDK rebuilds the same exception class.
    with pytest.raises(errors.AuthzError) as raised:
        client.get_caller_identity()
    assert raised.value.code == code
    assert raised.value.details["grpc_code"] == status.name
    assert raised.value.details["request_id"]


def test_malformed_policy_location_travels_in_error_info(
    backend: FakeBackend, channel: grpc.Channel
) -> None:
    backend.failures["get_caller_identity"] = errors.MalformedPolicyDocument(
        "bad", document="d.json", statement="S1", path="$.Statement[0]"
    )
    err = _call_identity(channel, ALICE_MD)
    code, info = error_info(err.trailing_metadata())  # type: ignore[attr-defined]
    assert code == "MalformedPolicyDocument"
    assert (info["document"], info["statement"], info["path"]) == ("d.json", "S1", "$.Statement[0]")


def test_request_id_is_echoed_or_generated(backend: FakeBackend, channel: grpc.Channel) -> None:
    backend.failures["get_caller_identity"] = errors.AccessDenied("no")
    err = _call_identity(channel, (*ALICE_MD, ("x-request-id", "req-123")))
    assert dict(err.trailing_metadata())["x-request-id"] == "req-123"  # type: ignore[attr-defined]
    err = _call_identity(channel, (*ALICE_MD, ("x-request-id", "bad id with spaces")))
    generated = dict(err.trailing_metadata())["x-request-id"]  # type: ignore[attr-defined]
    assert generated != "bad id with spaces" and len(generated) == 32


@pytest.mark.parametrize(
    "metadata",
    [
        (),
        (("authorization", "Bearer unknown-token"),),
        (("authorization", "Basic dXNlcjpwYXNz"),),
        (("authorization", "Bearer "),),
        (("authorization", "Bearer " + "x" * 7000),),
        (("x-authz-access-key-id", ALICE_KEY[0]),),
        (("x-authz-secret-access-key", ALICE_KEY[1]),),
        (("x-authz-access-key-id", ALICE_KEY[0]), ("x-authz-secret-access-key", "wrong")),
        (("authorization-bin", b"\x00\xff"),),
        (("x-authz-access-key-id", "AKIA';--{}"), ("x-authz-secret-access-key", "~ ~")),
        (("authorization", "Bearer a"), ("authorization", "Bearer b")),
    ],
)
def test_unauthenticated_calls(
    channel: grpc.Channel, metadata: tuple[tuple[str, str | bytes], ...]
) -> None:
    err = _call_identity(channel, metadata)  # type: ignore[arg-type]
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]
    assert _aws_code(err) == ("InvalidClientTokenId", "InvalidClientTokenId")


def test_huge_metadata_is_refused_and_server_stays_up(
    channel: grpc.Channel, client: AuthzClient
) -> None:
    err = _call_identity(channel, (("authorization", "Bearer " + "x" * 20000),))
    codes = {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.RESOURCE_EXHAUSTED}
    assert err.code() in codes  # type: ignore[attr-defined]
    assert client.get_caller_identity().arn


def test_expired_session_token(backend: FakeBackend, target: str) -> None:
    from datetime import timedelta

    from authz.client import SessionCredentials

    token, expiration = backend.issue_token(timedelta(seconds=-1))
    with (
        AuthzClient(target, SessionCredentials(token, expiration, *SESSION_KEY)) as c,
        pytest.raises(errors.ExpiredToken),
    ):
        c.get_caller_identity()


def test_missing_required_fields(client: AuthzClient) -> None:
    with pytest.raises(errors.ValidationError, match="'roleArn'"):
        client.assume_role("", "s1")
    with pytest.raises(errors.ValidationError, match="'action'"):
        client.authorize("", "arn:aws:s3:::b")
    with pytest.raises(errors.ValidationError, match="'actionNames'"):
        client.simulate_custom_policy(policy_input_list=["{}"])
    with pytest.raises(errors.ValidationError, match="'policyType'"):
        client.validate_policy("{}", "unspecified")


def test_bad_context_entries(client: AuthzClient) -> None:
    request = build_authorize_request("s3:GetObject", "arn:aws:s3:::b")
    request.context.add(key="aws:SecureTransport", values=["true", "false"], type=5)
    with pytest.raises(errors.ValidationError, match="single-valued"):
        client.authorize_batch([request])
    request = build_authorize_request("s3:GetObject", "arn:aws:s3:::b", context={"a": "1"})
    request.context.add(key="A", values=["2"])
    with pytest.raises(errors.ValidationError, match="duplicate context key"):
        client.authorize_batch([request])


def test_batch_over_the_limit(client: AuthzClient) -> None:
    items = [build_authorize_request("s3:GetObject", "arn:aws:s3:::b")] * 6
    with pytest.raises(errors.ValidationError, match="less than or equal to 5"):
        client.authorize_batch(items)
    assert len(client.authorize_batch(items[:5])) == 5


def test_batch_item_errors_name_the_item(client: AuthzClient) -> None:
    items = [build_authorize_request("s3:GetObject", "r"), authorizer_pb2.AuthorizeRequest()]
    with pytest.raises(errors.ValidationError, match=r"'items\.2\.action'"):
        client.authorize_batch(items)


def test_oversized_message(make_server: object, backend: FakeBackend) -> None:
    server = make_server(max_message_bytes=64 * 1024)  # type: ignore[operator]
    with AuthzClient(f"127.0.0.1:{server.port}", AccessKeyCredentials(*ALICE_KEY)) as c:
        with pytest.raises(errors.ValidationError) as raised:
            c.authorize("s3:GetObject", "arn:aws:s3:::" + "x" * 100_000)
        assert raised.value.details["grpc_code"] == "RESOURCE_EXHAUSTED"
        assert c.authorize("s3:GetObject", "arn:aws:s3:::b").decision == 1
