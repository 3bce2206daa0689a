"""The one place where exceptions become gRPC statuses.

Owns the table ``AuthzError`` subclass → gRPC status code, and the encoding of the AWS error
code on the wire, in two places so that any gRPC client can read it:

- the status details (``grpc-status-details-bin``): a ``google.rpc.Status`` carrying one
  ``google.rpc.ErrorInfo`` with ``reason`` = the AWS code and ``domain`` = ``"authz"``;
- the trailing metadata key ``x-authz-error-code``.

Anything that is not an ``AuthzError`` is a bug: it is logged (with the request id) and the
caller gets ``INTERNAL`` / ``InternalFailure`` with a generic message, never the exception text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from authz import errors

ERROR_DOMAIN = "authz"
ERROR_CODE_KEY = "x-authz-error-code"
REQUEST_ID_KEY = "x-request-id"
STATUS_DETAILS_KEY = "grpc-status-details-bin"

_log = logging.getLogger("authz.server")

# Most specific first: isinstance() decides, so subclasses must precede their bases.
_STATUS_BY_ERROR: tuple[tuple[type[errors.AuthzError], grpc.StatusCode], ...] = (
    (errors.ValidationError, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.MalformedPolicyDocument, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.PackedPolicyTooLarge, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.LimitExceeded, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.NoSuchEntity, grpc.StatusCode.NOT_FOUND),
    (errors.EntityAlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (errors.AccessDenied, grpc.StatusCode.PERMISSION_DENIED),
    (errors.InvalidClientTokenId, grpc.StatusCode.UNAUTHENTICATED),
    (errors.ExpiredToken, grpc.StatusCode.UNAUTHENTICATED),
    (errors.InvalidIdentityToken, grpc.StatusCode.UNAUTHENTICATED),
    (errors.IDPRejectedClaim, grpc.StatusCode.PERMISSION_DENIED),
    (errors.IDPCommunicationError, grpc.StatusCode.UNAVAILABLE),
    (errors.RepositoryError, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.ServiceUnavailable, grpc.StatusCode.UNAVAILABLE),
    (errors.DeadlineExceeded, grpc.StatusCode.DEADLINE_EXCEEDED),
    (errors.Throttling, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.InternalFailure, grpc.StatusCode.INTERNAL),
)

GENERIC_INTERNAL_MESSAGE = "an internal error occurred"


@dataclass(frozen=True)
class RpcStatus(grpc.Status):
    """A complete status to abort with: code, message, trailing metadata (details included)."""

    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple[tuple[str, str | bytes], ...]
    aws_code: str


def status_code_for(exc: BaseException) -> grpc.StatusCode:
    """The gRPC status code of an exception (``INTERNAL`` for anything unknown)."""
    for cls, code in _STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return code
    return grpc.StatusCode.INTERNAL


def _error_info(aws_code: str, request_id: str, extra: dict[str, str]) -> any_pb2.Any:
    info = error_details_pb2.ErrorInfo(reason=aws_code, domain=ERROR_DOMAIN)
    if request_id:
        info.metadata["request_id"] = request_id
    for key, value in extra.items():
        if value:
            info.metadata[key] = value
    packed = any_pb2.Any()
    packed.Pack(info)
    return packed


def _extra_metadata(exc: errors.AuthzError) -> dict[str, str]:
    if isinstance(exc, errors.MalformedPolicyDocument):
        return {
            "document": exc.document,
            "statement": exc.statement or "",
            "path": exc.path,
        }
    return {}


def to_status(exc: BaseException, request_id: str = "") -> RpcStatus:
    """Map any exception to the status to send. Unknown exceptions are logged here."""
    if isinstance(exc, errors.AuthzError) and not isinstance(exc, errors.InternalFailure):
        aws_code, message, extra = exc.code, str(exc), _extra_metadata(exc)
    else:
        if not isinstance(exc, errors.AuthzError):
            _log.error("unhandled exception in rpc", exc_info=exc, extra={"request_id": request_id})
        aws_code, message, extra = errors.InternalFailure.code, GENERIC_INTERNAL_MESSAGE, {}
    code = status_code_for(exc)
    status = status_pb2.Status(
        code=_rpc_code(code),
        message=message,
        details=[_error_info(aws_code, request_id, extra)],
    )
    trailing: list[tuple[str, str | bytes]] = [
        (STATUS_DETAILS_KEY, status.SerializeToString()),
        (ERROR_CODE_KEY, aws_code),
    ]
    if request_id:
        trailing.append((REQUEST_ID_KEY, request_id))
    return RpcStatus(code, message, tuple(trailing), aws_code)


def _rpc_code(code: grpc.StatusCode) -> int:
    value: int = code.value[0]
    return value
