"""The edge interceptor: everything that happens around an ``authz.v1`` servicer call.

Owns, in this order, per unary ``authz.v1`` RPC: admission at arrival (a free thread of the
admitted pool, else an immediate ``RESOURCE_EXHAUSTED`` / ``Throttling`` that never reads the
request), request id (``x-request-id`` from the caller when well-formed, else generated; echoed
in trailing metadata), reading the request under the read timeout, a running slot (short wait,
``authz.server.admission``), authentication, the call's origin (peer address or a trusted
proxy's ``x-forwarded-for``, TLS: ``Identity.origin``), the caller's share of slots, binding
the per-call context (and the call's deadline, ``authz.deadline``: the caller's gRPC deadline
capped by ``max_request_seconds``), exception → status mapping (``authz.server.errors``),
metrics and the audit record — refusals included, with their request id. Health and
reflection (other packages) pass through unauthenticated and unlimited (health's unary Check
gets the read timeout too).

Authentication metadata, first match wins:

    authorization: AWS4-HMAC-SHA256 … (+ x-amz-date,        → authz.server.signed (SigV4 over
      x-amz-content-sha256, x-amz-security-token)             the method and the request's
                                                              wire bytes; the default client)
    authorization: Bearer <session token>                  → backend.authenticate_session_token
                                                              (only with allow_bearer_sessions)
    x-authz-access-key-id + x-authz-secret-access-key      → backend.authenticate_access_key
                                                              (only with allow_plaintext_secret)
    (mTLS) client certificate SANs from auth_context()     → san_principals map, else
                                                              backend.authenticate_peer

SANs are typed, ``uri:…``, ``dns:…``, ``email:…``, ``ip:…``, read from the verified peer
certificate (``x509_pem_cert``, parsed by ``authz.server.sans``), so a DNS or e-mail SAN
holding the text of a URI never matches a URI mapping.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import grpc

from authz import deadline, errors
from authz.config import typed_san_mapping
from authz.iam.model import Caller, CallerKind
from authz.server import callctx
from authz.server.admission import Admission, AdmissionGate, CountingPool
from authz.server.audit import AuditLog, AuditRecord
from authz.server.errors import REQUEST_ID_KEY, to_status
from authz.server.metrics import ServerMetrics
from authz.server.origin import call_origin
from authz.server.ports import AuthMethod, Backend, CallOrigin, Identity
from authz.server.readtimeout import ReadWatchdog
from authz.server.sans import typed_peer_sans
from authz.server.signed import SignedCallVerifier, is_signed
from authz.sigv4 import SigV4Verifier

AUTHORIZATION_KEY = "authorization"
ACCESS_KEY_ID_KEY = "x-authz-access-key-id"
SECRET_ACCESS_KEY_KEY = "x-authz-secret-access-key"
SERVICE_PREFIX = "/authz.v1."
# Methods that read no caller credentials: the public keys, and the web identity exchange,
# where the OIDC token in the request is the proof (a credential in the metadata is ignored).
PUBLIC_METHODS = frozenset(
    {
        "/authz.v1.SecurityTokenService/GetSigningKeys",
        "/authz.v1.SecurityTokenService/AssumeRoleWithWebIdentity",
    }
)

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_MAX_CREDENTIAL_LEN = 8 * 1024

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
    """Typed subject alternative names of a verified client certificate (empty without
    mTLS)."""
    return list(typed_peer_sans(context.auth_context()))


class Authenticator:
    """Turns call credentials into an ``Identity`` (or ``None`` when there are none).

    A signed call (SigV4) is the default. ``allow_plaintext_secret`` accepts the secret itself
    in metadata and ``allow_bearer_sessions`` a session token without its secret (both off by
    default: loopback experiments with grpcurl, docs/operations.md)."""

    def __init__(
        self,
        backend: Backend,
        san_principals: Mapping[str, str],
        *,
        signed: SignedCallVerifier | None = None,
        allow_plaintext_secret: bool = False,
        allow_bearer_sessions: bool = False,
    ) -> None:
        self._backend = backend
        self._san_principals = typed_san_mapping(san_principals)
        self._signed_calls = signed or SignedCallVerifier(backend, SigV4Verifier({"us-east-1"}))
        self._allow_plaintext = allow_plaintext_secret
        self._allow_bearer = allow_bearer_sessions

    def authenticate(
        self,
        metadata: Mapping[str, str],
        context: grpc.ServicerContext,
        method: str = "",
        body: bytes = b"",
    ) -> Identity | None:
        header = metadata.get(AUTHORIZATION_KEY)
        if header is not None and is_signed(header):
            return self._signed_calls.authenticate(metadata, method, body)
        if header is not None:
            if not self._allow_bearer:
                raise errors.InvalidClientTokenId(
                    "a session token alone is not accepted: sign the call with the session's "
                    "credentials (SigV4), or enable allow_bearer_sessions",
                    reason="bearer_disabled",
                )
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
            if not self._allow_plaintext:
                raise errors.InvalidClientTokenId(
                    f"`{SECRET_ACCESS_KEY_KEY}` metadata is not accepted: sign the call "
                    "(SigV4), or enable allow_plaintext_secret for loopback experiments",
                    reason="plaintext_disabled",
                )
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
    """Wraps every unary handler; see the module docstring.

    Runs on gRPC's serving thread as each call arrives (``intercept_service``) and decides
    where the call goes: ``authz.v1`` calls to the admitted pool while it has a free thread,
    else to a refusal that never waits (the refusal pool); other services' unary calls
    (health) to gRPC's default pool. Every unary call is served as a request-streaming call so
    that the edge reads the request itself, under the request-read timeout."""

    def __init__(
        self,
        authenticator: Authenticator,
        metrics: ServerMetrics,
        audit: AuditLog | None,
        gate: AdmissionGate,
        admitted: CountingPool,
        refusals: CountingPool,
        watchdog: ReadWatchdog,
        max_request_seconds: float = 0.0,
        trusted_proxies: frozenset[str] = frozenset(),
        tls: bool | None = None,
    ) -> None:
        self._authenticator = authenticator
        self._max_seconds = max_request_seconds  # the server-side deadline (0: none)
        self._trusted_proxies = trusted_proxies
        self._tls = tls
        self._metrics = metrics
        self._audit = audit
        self._gate = gate
        self._admitted = admitted
        self._refusals = refusals
        self._watchdog = watchdog
        metrics.track_inflight(lambda: self._admitted.active + self._refusals.active)
        self._wrapped: dict[str, tuple[object, grpc.RpcMethodHandler]] = {}  # type: ignore[type-arg]
        self._refusing: dict[tuple[str, str], grpc.RpcMethodHandler] = {}  # type: ignore[type-arg]

    def begin_drain(self) -> None:
        """Stop admitting: waiting and newly arriving calls get UNAVAILABLE (retryable)."""
        self._gate.drain()

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],  # type: ignore[type-arg]
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:  # type: ignore[type-arg]
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        method = handler_call_details.method
        edge = method.startswith(SERVICE_PREFIX)
        if edge and self._gate.draining:
            return self._refusal(method, handler, "draining")
        if edge and not self._admitted.has_room():
            return self._refusal(method, handler, "overload")
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        behavior = self._wrap(method, handler.unary_unary) if edge else self._plain(handler)
        deserialize = handler.request_deserializer
        if edge and deserialize is not None:  # keep the wire bytes: a signature covers them
            parse = deserialize

            def deserialize(raw: bytes) -> _Raw:
                return _Raw(raw, parse(raw))

        wrapped = grpc.stream_unary_rpc_method_handler(
            behavior,
            request_deserializer=deserialize,
            response_serializer=handler.response_serializer,
        )
        self._wrapped[method] = (handler, wrapped)
        return wrapped

    def _read(self, requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
        """The one request message, within the read timeout (``_Unread`` otherwise)."""
        token = self._watchdog.watch(context, context.peer())
        try:
            return next(requests)
        except StopIteration:
            raise errors.ValidationError("the call carried no request message") from None
        except grpc.RpcError as err:
            raise _Unread(err, timed_out=not self._watchdog.done(token)) from err
        finally:
            self._watchdog.done(token)

    def _plain(self, handler: grpc.RpcMethodHandler) -> Behavior:  # type: ignore[type-arg]
        """Another service's unary method (health): the read timeout only."""
        inner = handler.unary_unary
        assert inner is not None

        def behavior(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
            try:
                request = self._read(requests, context)
            except _Unread as unread:
                raise unread.rpc_error from None  # gRPC's own error: the call is over, quietly
            return inner(request, context)

        return behavior

    def _refusal(
        self,
        method: str,
        handler: grpc.RpcMethodHandler,  # type: ignore[type-arg]
        reason: str,
    ) -> grpc.RpcMethodHandler:  # type: ignore[type-arg]
        """A handler that refuses at once, without reading the request, on the refusal pool."""
        cached = self._refusing.get((method, reason))
        if cached is not None:
            return cached
        name = method.rsplit("/", 1)[-1]

        def refuse(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
            start = time.perf_counter()
            metadata = text_metadata(context)
            rid = _request_id(metadata)
            self._metrics.rejected.labels(reason).inc()
            exc: errors.AuthzError = (
                errors.ServiceUnavailable("the server is shutting down: retry")
                if reason == "draining"
                else errors.Throttling("too many concurrent requests: retry with backoff")
            )
            status = to_status(exc, rid)
            self._metrics.observe_rpc(name, status.code.name, time.perf_counter() - start)
            self._record(name, rid, None, None, None, (status.aws_code, status.details),
                         context, metadata)  # fmt: skip
            context.abort_with_status(status)

        refuse.experimental_thread_pool = self._refusals  # type: ignore[attr-defined]
        refusal = grpc.stream_unary_rpc_method_handler(
            refuse,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
        self._refusing[(method, reason)] = refusal
        return refusal

    def _wrap(self, method: str, inner: Behavior) -> Behavior:
        name = method.rsplit("/", 1)[-1]
        public = method in PUBLIC_METHODS
        gate = self._gate

        def behavior(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
            start = time.perf_counter()
            metadata = text_metadata(context)
            rid = _request_id(metadata)
            code, ident, request, response = "OK", None, None, None
            error: tuple[str, str] | None = None
            slot, caller = False, ""
            try:
                tokens = callctx.enter(rid, None)
                # the call's deadline: the caller's, capped by the server's maximum
                timer = deadline.enter(
                    deadline.Deadline.within(context.time_remaining(), self._max_seconds)
                )
                try:
                    request = self._read(requests, context)
                    body = b""
                    if isinstance(request, _Raw):
                        request, body = request.message, request.data
                    admission = gate.acquire()
                    if admission is not Admission.ADMITTED:
                        raise self._refuse(admission)
                    slot = True
                    if not public:
                        ident = self._authenticator.authenticate(metadata, context, method, body)
                        if ident is not None:  # the connection's facts, for the backend
                            origin = call_origin(context, self._trusted_proxies, self._tls)
                            ident = with_origin(ident, origin)
                        callctx.set_identity(callctx.require_identity_value(ident))
                        caller = ident.caller.arn if ident is not None else ""
                        if not gate.enter_caller(caller):
                            caller = ""
                            self._metrics.rejected.labels("caller_limit").inc()
                            raise errors.Throttling(
                                "too many concurrent requests from this caller "
                                f"(limit {gate.max_per_caller}): retry with backoff"
                            )
                    response = inner(request, context)
                finally:
                    deadline.leave(timer)
                    callctx.leave(tokens)
                context.set_trailing_metadata(((REQUEST_ID_KEY, rid),))
                return response
            except _Unread as unread:
                code = "CANCELLED"
                error = (
                    ("RequestTimeout", "the request message did not arrive in time")
                    if unread.timed_out
                    else ("RequestCancelled", "the client went away before its request arrived")
                )
                raise unread.rpc_error from None  # gRPC's own error: the call is over, quietly
            except Exception as exc:
                status = to_status(exc, rid)
                code, error = status.code.name, (status.aws_code, status.details)
                context.abort_with_status(status)
            finally:
                if caller:
                    gate.leave_caller(caller)
                if slot:
                    gate.release()
                self._metrics.observe_rpc(name, code, time.perf_counter() - start)
                self._record(name, rid, ident, request, response, error, context, metadata)

        behavior.experimental_thread_pool = self._admitted  # type: ignore[attr-defined]
        return behavior

    def _refuse(self, admission: Admission) -> errors.AuthzError:
        if admission is Admission.DRAINING:
            self._metrics.rejected.labels("draining").inc()
            return errors.ServiceUnavailable("the server is shutting down: retry")
        self._metrics.rejected.labels("overload").inc()
        return errors.Throttling("too many concurrent requests: retry with backoff")

    def _record(
        self,
        name: str,
        rid: str,
        ident: Identity | None,
        request: Any,
        response: Any,
        error: tuple[str, str] | None,
        context: grpc.ServicerContext,
        metadata: Mapping[str, str],
    ) -> None:
        if self._audit is None:
            return
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


def with_origin(ident: Identity, origin: CallOrigin) -> Identity:
    """``dataclasses.replace(ident, origin=origin)``, without the generic field walk (~15,000
    instructions on every call); ``tests/unit/test_edge_origin.py`` keeps the two equal."""
    return Identity(ident.caller, ident.method, ident.session, ident.access_key_id, origin)


class _Raw:
    """A request message with the bytes it was parsed from."""

    __slots__ = ("data", "message")

    def __init__(self, data: bytes, message: Any) -> None:
        self.data = data
        self.message = message


class _Unread(Exception):
    """The request message never arrived: the read timed out or the client went away."""

    def __init__(self, rpc_error: grpc.RpcError, *, timed_out: bool) -> None:
        super().__init__("request not read")
        self.rpc_error = rpc_error
        self.timed_out = timed_out


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
