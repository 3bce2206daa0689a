"""Client side of the error contract: a failed RPC → the ``authz.errors`` exception.

Owns the decoding of the AWS error code (``google.rpc.ErrorInfo`` in ``grpc-status-details-bin``
first, then trailing metadata ``x-authz-error-code``, then the gRPC status code alone).
"""

from __future__ import annotations

from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2

from authz import errors

ERROR_DOMAIN = "authz"
ERROR_CODE_KEY = "x-authz-error-code"
STATUS_DETAILS_KEY = "grpc-status-details-bin"
REQUEST_ID_KEY = "x-request-id"


def _subclasses(cls: type[errors.AuthzError]) -> list[type[errors.AuthzError]]:
    out = [cls]
    for sub in cls.__subclasses__():
        out.extend(_subclasses(sub))
    return out


_BY_CODE: dict[str, type[errors.AuthzError]] = {}
for _cls in _subclasses(errors.AuthzError):  # the most general class of a code wins
    _BY_CODE.setdefault(_cls.code, _cls)

_BY_STATUS: dict[grpc.StatusCode, type[errors.AuthzError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: errors.ValidationError,
    grpc.StatusCode.NOT_FOUND: errors.NoSuchEntity,
    grpc.StatusCode.ALREADY_EXISTS: errors.EntityAlreadyExists,
    grpc.StatusCode.PERMISSION_DENIED: errors.AccessDenied,
    grpc.StatusCode.UNAUTHENTICATED: errors.InvalidClientTokenId,
    grpc.StatusCode.RESOURCE_EXHAUSTED: errors.Throttling,
    grpc.StatusCode.UNAVAILABLE: errors.ServiceUnavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: errors.ServiceUnavailable,
    grpc.StatusCode.FAILED_PRECONDITION: errors.LimitExceeded,
}


def error_info(trailing: Any) -> tuple[str | None, dict[str, str]]:
    """(AWS code, ErrorInfo metadata) from a call's trailing metadata."""
    fallback: str | None = None
    for key, value in trailing or ():
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info) and info.domain == ERROR_DOMAIN and info.reason:
                    return str(info.reason), dict(info.metadata)
        elif key == ERROR_CODE_KEY:
            fallback = value.decode() if isinstance(value, bytes) else str(value)
    return fallback, {}


def error_from_rpc(err: grpc.RpcError) -> errors.AuthzError:
    """The ``AuthzError`` a failed call stands for (``details`` carry grpc code, request id)."""
    call: Any = err
    status_code: grpc.StatusCode = call.code()
    message: str = call.details() or status_code.name
    aws_code, info = error_info(call.trailing_metadata())
    if (
        aws_code is None
        and status_code is grpc.StatusCode.RESOURCE_EXHAUSTED
        and "larger than max" in message
    ):
        aws_code = errors.ValidationError.code  # message size limit, not overload
    cls = _BY_CODE.get(aws_code or "") or _BY_STATUS.get(status_code, errors.InternalFailure)
    exc = _build(cls, message)
    exc.details.update(info)
    exc.details["grpc_code"] = status_code.name
    return exc


def _build(cls: type[errors.AuthzError], message: str) -> errors.AuthzError:
    if cls is errors.RepositoryError:
        exc = errors.RepositoryError([])
        exc.message = message
        exc.args = (message,)
        return exc
    return cls(message)
