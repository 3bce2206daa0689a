"""The edge interceptor: everything that happens around an ``authz.v1`` servicer call.

Owns, in this order, per unary ``authz.v1`` RPC: request id (``x-request-id`` from the caller
when well-formed, else generated; echoed in trailing metadata), the concurrency limit
(``RESOURCE_EXHAUSTED`` / ``Throttling`` beyond ``max_concurrent``), authentication, binding
the per-call context (and the call's deadline, ``authz.deadline``: the caller's gRPC deadline
capped by ``max_request_seconds``), exception → status mapping (``authz.server.errors``),
metrics and the audit record. Health and reflection (other packages) pass through untouched
and unauthenticated.

Authentication metadata, first match wins:

    authorization: Bearer <session token>                  → backend.authenticate_session_token
    x-authz-access-key-id + x-authz-secret-access-key      → backend.authenticate_access_key
    (mTLS) client certificate SANs from auth_context()     → san_principals map, else
                                                              backend.authenticate_peer
"""

from __future__ import annotations

import itertools
import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import grpc

from authz import deadline, errors
from authz.iam.model import Caller, CallerKind
from authz.server import callctx
from authz.server.audit import AuditLog, AuditRecord
from authz.server.errors import REQUEST_ID_KEY, to_status
from authz.server.metrics import ServerMetrics
from authz.server.ports import AuthMethod, Backend, Identity

AUTHORIZATION_KEY = "authorization"
ACCESS_KEY_ID_KEY = "x-authz-access-key-id"
SECRET_ACCESS_KEY_KEY = "x-authz-secret-access-key"
SERVICE_PREFIX = "/authz.v1."
PUBLIC_METHODS = frozenset({"/authz.v1.SecurityTokenService/GetSigningKeys"})

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_MAX_CREDENTIAL_LEN = 8 * 1024
_SAN_KEYS = ("x509_subject_alternative_name", "peer_dns", "peer_uri", "peer_email", "peer_ip")

Behavior = Callable[[Any, grpc.ServicerContext], Any]


def text_metadata(context: grpc.ServicerContext) -> dict[str, str]:
    """The caller's text metadata (binary ``-bin`` keys dropped); first value of a key wins."""
    out: dict[str, str] = {}
    for item in context.invocation_metadata() or ():
        key, value = item[0], item[1]
        if isinstance(value, str) and key not in out:
            out[key] = value
    return out


def peer_sans(context: grpc.ServicerContext) -> list[str]:
    """Subject alternative names of a verified client certificate (empty without mTLS)."""
    auth = context.auth_context()
    sans: list[str] = []
    for key in _SAN_KEYS:
        values: Any = auth.get(key) or ()
        for value in values if isinstance(values, list | tuple) else (values,):
            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
            if text and text not in sans:
                sans.append(text)
    return sans


class Authenticator:
    """Turns call credentials into an ``Identity`` (or ``None`` when there are none)."""

    def __init__(self, backend: Backend, san_principals: Mapping[str, str]) -> None:
        self._backend = backend
        self._san_principals = dict(san_principals)

    def authenticate(
        self, metadata: Mapping[str, str], context: grpc.ServicerContext
    ) -> Identity | None:
        header = metadata.get(AUTHORIZATION_KEY)
        if header is not None:
            scheme, _, token = header.strip().partition(" ")
            token = token.strip()
            if scheme.lower() != "bearer" or not token or len(token) > _MAX_CREDENTIAL_LEN:
                raise errors.InvalidClientTokenId(
                    "malformed `authorization` metadata: expected `Bearer <session token>`"
                )
            return self._backend.authenticate_session_token(token)
        key_id = metadata.get(ACCESS_KEY_ID_KEY)
        secret = metadata.get(SECRET_ACCESS_KEY_KEY)
        if key_id is not None or secret is not None:
            if not key_id or not secret or max(len(key_id), len(secret)) > _MAX_CREDENTIAL_LEN:
                raise errors.InvalidClientTokenId(
                    f"access key authentication needs both `{ACCESS_KEY_ID_KEY}` and "
                    f"`{SECRET_ACCESS_KEY_KEY}`"
                )
            return self._backend.authenticate_access_key(key_id, secret)
        sans = peer_sans(context)
        if sans:
            return self._authenticate_peer(sans)
        return None

    def _authenticate_peer(self, sans: Sequence[str]) -> Identity:
        for san in sans:
            principal = self._san_principals.get(san)
            if principal is not None:
                caller = Caller(kind=CallerKind.SERVICE, arn=principal, unique_id=principal)
                return Identity(caller=caller, method=AuthMethod.PEER_CERTIFICATE)
        return self._backend.authenticate_peer(sans)


class EdgeInterceptor(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """Wraps every unary ``authz.v1`` handler; see the module docstring."""

    def __init__(
        self,
        authenticator: Authenticator,
        metrics: ServerMetrics,
        audit: AuditLog | None,
        max_concurrent: int,
        max_request_seconds: float = 0.0,
    ) -> None:
        self._authenticator = authenticator
        self._max_seconds = max_request_seconds  # the server-side deadline (0: none)
        self._metrics = metrics
        self._audit = audit
        # Calls in flight and calls holding one of ``max_concurrent`` slots, under one C lock
        # (a threading.Semaphore and a Gauge cost a Python-level lock round trip each).
        self._max_concurrent = max_concurrent
        self._count_lock = threading.Lock()
        self._inflight = 0
        self._running = 0
        metrics.track_inflight(lambda: self._inflight)
        self._wrapped: dict[str, tuple[object, grpc.RpcMethodHandler]] = {}  # type: ignore[type-arg]

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],  # type: ignore[type-arg]
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:  # type: ignore[type-arg]
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or handler.unary_unary is None or not method.startswith(SERVICE_PREFIX):
            return handler
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = grpc.unary_unary_rpc_method_handler(
            self._wrap(method, handler.unary_unary),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
        self._wrapped[method] = (handler, wrapped)
        return wrapped

    def _wrap(self, method: str, inner: Behavior) -> Behavior:
        name = method.rsplit("/", 1)[-1]
        public = method in PUBLIC_METHODS

        def behavior(request: Any, context: grpc.ServicerContext) -> Any:
            start = time.perf_counter()
            metadata = text_metadata(context)
            rid = _request_id(metadata)
            code, ident, response = "OK", None, None
            error: tuple[str, str] | None = None
            with self._count_lock:
                self._inflight += 1
                acquired = self._running < self._max_concurrent
                if acquired:
                    self._running += 1
            try:
                tokens = callctx.enter(rid, None)
                # the call's deadline: the caller's, capped by the server's maximum
                timer = deadline.enter(
                    deadline.Deadline.within(context.time_remaining(), self._max_seconds)
                )
                try:
                    if not acquired:
                        self._metrics.rejected.labels("overload").inc()
                        raise errors.Throttling("too many concurrent requests: retry with backoff")
                    if not public:
                        ident = self._authenticator.authenticate(metadata, context)
                        callctx.set_identity(callctx.require_identity_value(ident))
                    response = inner(request, context)
                finally:
                    deadline.leave(timer)
                    callctx.leave(tokens)
                context.set_trailing_metadata(((REQUEST_ID_KEY, rid),))
                return response
            except Exception as exc:
                status = to_status(exc, rid)
                code, error = status.code.name, (status.aws_code, status.details)
                context.abort_with_status(status)
            finally:
                with self._count_lock:
                    self._inflight -= 1
                    if acquired:
                        self._running -= 1
                self._metrics.observe_rpc(name, code, time.perf_counter() - start)
                if self._audit is not None:
                    self._audit.submit(
                        AuditRecord(
                            time=datetime.now(UTC),
                            method=name,
                            request_id=rid,
                            identity=ident,
                            request=request,
                            response=response,
                            error_code=error[0] if error else None,
                            error_message=error[1] if error else None,
                            peer=context.peer(),
                            user_agent=metadata.get("user-agent", ""),
                        )
                    )

        return behavior


def _request_id(metadata: Mapping[str, str]) -> str:
    given = metadata.get(REQUEST_ID_KEY)
    if given and _REQUEST_ID_RE.match(given):
        return given
    return _new_request_id()


_RID_PREFIX = os.urandom(8).hex()  # per process (each worker imports afresh)
_rid_counter = itertools.count(1)


def _new_request_id() -> str:
    """32 hex digits, unique per server process: a random per-process prefix and a counter.
    (Request ids correlate logs; they are not secrets. A per-call ``os.urandom`` was a
    syscall that released the GIL on every request.)"""
    return f"{_RID_PREFIX}{next(_rid_counter) & 0xFFFFFFFFFFFFFFFF:016x}"
