"""The HTTP server of the AWS-compatible endpoint: one request from bytes to XML.

Owns the connections (at most ``max_connections`` served at once, each on its own thread —
others get 503 at once; TLS like the gRPC port; the HTTP/1.1 framing and its bounds are
``authz.server.aws.http``'s) and, per request: the parameters (query string and form
body), the action (``actions``), SigV4 verification (``authz.sigv4``, the signature scoped
to the action's service) before anything else runs, the caller's origin, the call
context (request id, identity, deadline), the servicer call, and the response: an AWS XML
result or error document. Metrics (``authz_rpc_*`` with the action as method) and audit
records are the gRPC edge's own objects. The request line is never logged: a presigned URL
carries a session token and a signature.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from socketserver import BaseRequestHandler, ThreadingTCPServer
from typing import Any

from google.protobuf.message import Message

from authz import deadline, errors
from authz.limits import RequestLimits
from authz.server import callctx
from authz.server.audit import AuditLog, AuditRecord
from authz.server.aws import xml
from authz.server.aws.actions import STS_NAMESPACE, Action, build_actions, find_action
from authz.server.aws.http import Incoming, Refused, response_bytes, serve_connection
from authz.server.aws.query import decode_params, form_pairs, to_message
from authz.server.errors import to_status
from authz.server.metrics import ServerMetrics
from authz.server.ports import Backend, CallOrigin, Identity
from authz.sigv4 import HttpRequest, ReplayGuard, SigV4Verifier

log = logging.getLogger("authz.server.aws")

FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class AwsEndpointConfig:
    listen: str = "127.0.0.1:0"
    regions: frozenset[str] = frozenset({"us-east-1"})
    max_body_bytes: int = 1024 * 1024
    read_timeout_seconds: float = 5.0
    max_connections: int = 64
    signature_window_seconds: int = 300
    replay_max_entries: int = 200_000
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    client_ca_file: str | None = None
    trusted_proxies: frozenset[str] = frozenset()
    limits: RequestLimits = field(default_factory=RequestLimits)
    max_message_bytes: int = 4 * 1024 * 1024
    reuse_port: bool = False  # --workers N: every worker binds the port (SO_REUSEPORT)


class _Server(ThreadingTCPServer):
    """Accepts connections and serves each on its own thread, at most ``max_connections``."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], endpoint: AwsEndpoint) -> None:
        self.endpoint = endpoint
        self.slots = threading.BoundedSemaphore(endpoint.config.max_connections)
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        if self.endpoint.config.reuse_port:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):  # at capacity: refuse at once, read nothing
            self.endpoint.metrics.rejected.labels("overload").inc()
            try:
                if not isinstance(request, ssl.SSLSocket):
                    request.sendall(_overload_response())
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


def _overload_response() -> bytes:
    body = xml.error_document(
        STS_NAMESPACE, "Throttling", "too many concurrent connections: retry with backoff",
        str(uuid.uuid4()), sender=True,
    )  # fmt: skip
    return response_bytes(503, body, close=True)


class AwsEndpoint:
    """``start()`` serves on a thread; ``port`` is the bound port; ``stop()`` closes."""

    def __init__(
        self,
        backend: Backend,
        config: AwsEndpointConfig,
        metrics: ServerMetrics,
        audit: AuditLog | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self.config = config
        self.metrics = metrics
        self.audit = audit
        self.verifier = SigV4Verifier(
            config.regions,
            window_seconds=config.signature_window_seconds,
            clock=clock,
            replay=ReplayGuard(config.replay_max_entries),
        )
        self.actions = build_actions(
            backend,
            trusted_proxies=config.trusted_proxies,
            limits=config.limits,
            max_message_bytes=config.max_message_bytes,
        )
        self.tls = config.tls_cert_file is not None
        host, _, port = config.listen.rpartition(":")
        self._server = _Server((host.strip("[]"), int(port)), self)
        if config.tls_cert_file is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.load_cert_chain(config.tls_cert_file, config.tls_key_file)
            if config.client_ca_file:
                context.load_verify_locations(config.client_ca_file)
                context.verify_mode = ssl.CERT_REQUIRED
            self._server.socket = context.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        self.port: int = self._server.server_address[1]
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
            name="authz-aws-http", daemon=True,
        )  # fmt: skip
        self._thread.start()
        log.info("serving the AWS endpoint", extra={"aws_port": self.port, "tls": self.tls})

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
        self._server.server_close()

    # -- one request ------------------------------------------------------------------------

    def origin(self, peer: str) -> CallOrigin:
        return CallOrigin(peer, self.tls)

    def handle(self, request: HttpRequest, peer: str, user_agent: str) -> tuple[int, bytes]:
        """The status and XML body for one request (never raises)."""
        start = time.perf_counter()
        rid = str(uuid.uuid4())
        name, action, ident = "Unknown", None, None
        message: Message | None = None
        response: Message | None = None
        error: tuple[str, str] | None = None
        status, code = 200, "OK"
        try:
            params = form_pairs(request.query)
            content_type = (request.header("content-type") or "").split(";")[0].strip().lower()
            if request.method == "POST" and content_type == FORM:
                params += form_pairs(request.body.decode("utf-8", errors="strict"))
            first = {k: v for k, v in reversed(params)}
            name = (first.get("Action") or "Unknown")[:64]
            action = find_action(self.actions, first.get("Action"), first.get("Version"))
            origin = None
            if action.unsigned:  # the request is the proof: no identity, the connection only
                origin = self.origin(peer)
            else:
                resolve = self.backend.signing_credentials  # type: ignore[attr-defined]
                ident = self.verifier.verify(request, action.service, resolve, once=action.once)()
                ident = replace(ident, origin=self.origin(peer))
            decoded = decode_params(params)
            request_type = action.request_type
            request_in = decoded if request_type is None else to_message(decoded, request_type())
            message = request_in if isinstance(request_in, Message) else None
            response_out = self._run(action, request_in, ident, rid, origin)
            response = response_out if isinstance(response_out, Message) else None
            result = action.result(response_out)
            body = xml.result_document(action.name, action.namespace, result, rid)
        except Exception as exc:  # every failure becomes an AWS error document
            grpc_status = to_status(exc, rid)
            code, error = grpc_status.code.name, (grpc_status.aws_code, grpc_status.details)
            details = grpc_status.details
            if isinstance(exc, errors.AccessDenied):
                details += self._encoded(ident, exc)
            status = exc.http_status if isinstance(exc, errors.AuthzError) else 500
            if isinstance(exc, errors.InternalFailure):
                status = 500
            namespace = action.namespace if action is not None else STS_NAMESPACE
            body = xml.error_document(
                namespace, grpc_status.aws_code, details, rid, sender=status < 500
            )
        finally:
            # Labelled by the action found, never by the caller's text: one series per
            # ``Action=`` value sent would let anyone grow the metrics without bound.
            label = action.name if action is not None else "Unknown"
            self.metrics.observe_rpc(label, code, time.perf_counter() - start)
        self._record(name, rid, ident, message, response, error, peer, user_agent)
        return status, body

    def _encoded(self, ident: Identity | None, exc: errors.AccessDenied) -> str:
        """`` Encoded authorization failure message: …`` when the refusal carries its
        decision (STS DecodeAuthorizationMessage reads it back), else ``""``."""
        encode = getattr(self.backend, "encode_authorization_message", None)
        encoded = encode(ident, exc) if encode is not None else None
        return f" Encoded authorization failure message: {encoded}" if encoded else ""

    def _run(
        self,
        action: Action,
        request: Any,
        ident: Identity | None,
        rid: str,
        origin: CallOrigin | None = None,
    ) -> Any:
        tokens = callctx.enter(rid, ident)
        origin_token = callctx.set_origin(origin)
        timer = deadline.enter(
            deadline.Deadline.within(None, self.config.limits.max_request_seconds)
        )
        try:
            return action.run(request)
        finally:
            deadline.leave(timer)
            callctx.reset_origin(origin_token)
            callctx.leave(tokens)

    def _record(
        self,
        name: str,
        rid: str,
        ident: Identity | None,
        request: Message | None,
        response: Message | None,
        error: tuple[str, str] | None,
        peer: str,
        user_agent: str,
    ) -> None:
        if self.audit is None:
            return
        self.audit.submit(
            AuditRecord(
                time=datetime.now(UTC),
                method=name,
                request_id=rid,
                identity=ident,
                request=request,
                response=response,
                error_code=error[0] if error else None,
                error_message=error[1] if error else None,
                peer=f"http:{peer}",
                user_agent=user_agent[:256],
            )
        )


class _Handler(BaseRequestHandler):
    """One connection: HTTP/1.1 by ``authz.server.aws.http``, each request by the endpoint."""

    server: _Server

    def handle(self) -> None:
        endpoint = self.server.endpoint
        # small responses on a kept-alive connection: never wait for the client's delayed ACK
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        serve_connection(
            self.request,
            max_body_bytes=endpoint.config.max_body_bytes,
            read_timeout_seconds=endpoint.config.read_timeout_seconds,
            respond=self._respond,
            refusal=_refusal_document,
        )

    def _respond(self, incoming: Incoming) -> tuple[int, bytes]:
        path, _, query = incoming.target.partition("?")
        request = HttpRequest(incoming.method, path, query, incoming.headers, incoming.body)
        user_agent = incoming.header("user-agent") or ""
        return self.server.endpoint.handle(request, self._peer(incoming), user_agent)

    def _peer(self, incoming: Incoming) -> str:
        peer = str(self.client_address[0])
        if peer in self.server.endpoint.config.trusted_proxies:
            forwarded = incoming.header("x-forwarded-for")
            if forwarded:
                hop = forwarded.split(",")[-1].strip()
                try:
                    return str(ipaddress.ip_address(hop))
                except ValueError:
                    pass
        return peer


def _refusal_document(refused: Refused) -> bytes:
    return xml.error_document(
        STS_NAMESPACE, refused.code, refused.message, str(uuid.uuid4()), sender=True
    )
