"""The port between the gRPC edge and the service logic: the ``Backend`` protocol.

Owns the plain-Python request/response shapes of every RPC. The edge (servicers,
interceptors) speaks only these; the lead's adapter over engine + sts implements ``Backend``.
Imports no grpc and no generated code, so the backend side never sees protobuf.

Rules every implementation follows:

- Errors are raised as ``authz.errors.AuthzError`` subclasses (``AccessDenied``,
  ``InvalidClientTokenId``, ``ExpiredToken``, ``ValidationError``, ``ServiceUnavailable`` when
  no snapshot is loaded, ...). Any other exception becomes ``INTERNAL`` with a generic message.
- Methods are called concurrently from the server's worker threads.
- A deny from ``authorize`` is a normal result, never an exception.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from authz.engine.decision import Decision
from authz.errors import Problem

if TYPE_CHECKING:
    from authz.engine.diff import DiffReport
from authz.iam.model import Caller, ContextValue, PolicyType
from authz.sts.assume_role import AssumeRoleParams as AssumeRoleParams
from authz.sts.revocations import Revocation as Revocation
from authz.sts.web_identity import WebIdentityParams as WebIdentityParams


class AuthMethod(StrEnum):
    """How the caller proved who it is."""

    ACCESS_KEY = "access_key"
    SESSION_TOKEN = "session_token"
    PEER_CERTIFICATE = "peer_certificate"


@dataclass(frozen=True, slots=True)
class CallOrigin:
    """Where a call came from (the edge fills it): the caller's IP address (the peer, or
    ``x-forwarded-for`` from a trusted proxy) and whether the channel is TLS."""

    source_ip: str | None = None
    secure_transport: bool = False

    def __init__(self, source_ip: str | None = None, secure_transport: bool = False) -> None:
        # explicit: mypyc compiles it (the generated one runs interpreted, ~20x slower)
        object.__setattr__(self, "source_ip", source_ip)
        object.__setattr__(self, "secure_transport", secure_transport)

    def __hash__(self) -> int:  # part of a memo key of every call
        return hash((self.source_ip, self.secure_transport))

    def __eq__(self, other: object) -> bool:  # every memo lookup (the generated one: interpreted)
        if type(other) is not CallOrigin:
            return NotImplemented
        return self.source_ip == other.source_ip and self.secure_transport == other.secure_transport


@dataclass(frozen=True, slots=True)
class Identity:
    """An authenticated caller. ``session`` is the backend's verified session claims object
    (opaque to the edge) for role sessions; ``access_key_id`` is set for access-key callers
    (it is not a secret and appears in the audit log). ``origin`` is the connection of the
    caller's own call (the edge sets it after authentication); it is ``None`` for a principal
    named by an enforcement point (``Authorize.principal``), whose request-origin keys
    (``aws:SourceIp``, ...) the enforcement point supplies (``authz.iam.context_keys``)."""

    caller: Caller
    method: AuthMethod
    session: object | None = None
    access_key_id: str | None = None
    origin: CallOrigin | None = None

    def __init__(
        self,
        caller: Caller,
        method: AuthMethod,
        session: object | None = None,
        access_key_id: str | None = None,
        origin: CallOrigin | None = None,
    ) -> None:
        # explicit: mypyc compiles it (the generated one runs interpreted, ~20x slower)
        object.__setattr__(self, "caller", caller)
        object.__setattr__(self, "method", method)
        object.__setattr__(self, "session", session)
        object.__setattr__(self, "access_key_id", access_key_id)
        object.__setattr__(self, "origin", origin)


@dataclass(frozen=True, slots=True)
class AssumeRoleResult:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime  # timezone-aware (UTC)
    assumed_role_arn: str
    assumed_role_id: str
    effective_duration_seconds: int
    duration_capped_by: str | None = None
    packed_policy_size: int | None = None
    source_identity: str | None = None
    revision: str | None = None


@dataclass(frozen=True, slots=True)
class WebIdentityResult:
    """AssumeRoleWithWebIdentity: the session and what AWS reports of the token."""

    session: AssumeRoleResult
    subject: str
    audience: str
    provider: str


@dataclass(frozen=True, slots=True)
class CallerIdentityResult:
    user_id: str
    account: str
    arn: str


@dataclass(frozen=True, slots=True)
class AuthorizeParams:
    """One authorization question about ``Identity.caller``. ``context`` keys are lowercased
    (as ``authz.iam.model.normalize_context`` does); list-typed keys carry tuples."""

    action: str
    resource: str
    resource_account: str | None = None
    context: Mapping[str, ContextValue] = field(default_factory=dict)

    def __init__(
        self,
        action: str,
        resource: str,
        resource_account: str | None = None,
        context: Mapping[str, ContextValue] | None = None,
    ) -> None:
        # explicit: mypyc compiles it (the generated one runs interpreted, ~20x slower)
        object.__setattr__(self, "action", action)
        object.__setattr__(self, "resource", resource)
        object.__setattr__(self, "resource_account", resource_account)
        object.__setattr__(self, "context", {} if context is None else context)


@dataclass(frozen=True, slots=True)
class AuthorizeResult:
    """``repeatable``: the same question from the same caller gets this same decision for as
    long as the serving revision is ``decision.revision`` (no session credentials, no
    time-varying key read, no error), so the edge may answer a repeat without asking."""

    decision: Decision
    repeatable: bool = False

    def __init__(self, decision: Decision, repeatable: bool = False) -> None:
        # explicit: mypyc compiles it (the generated one runs interpreted, ~20x slower)
        object.__setattr__(self, "decision", decision)
        object.__setattr__(self, "repeatable", repeatable)


@dataclass(frozen=True, slots=True)
class ValidatePolicyResult:
    valid: bool
    error_code: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class ReloadResult:
    revision: str | None
    changed: bool
    error: str | None = None
    problems: tuple[Problem, ...] = ()  # every problem / failing policy test when refused


@dataclass(frozen=True, slots=True)
class PreviewResult:
    """PreviewReload: the diff report, or the candidate's problems when it does not build."""

    report: DiffReport | None
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True, slots=True)
class StatusResult:
    revision: str | None
    loaded_at: datetime | None
    counts: Mapping[str, int] = field(default_factory=dict)
    last_reload_error: str | None = None
    cache_stats: Mapping[str, int] = field(default_factory=dict)
    last_reload_problems: tuple[Problem, ...] = ()
    last_reload_attempt: datetime | None = None


class Backend(Protocol):
    """What the gRPC edge needs from the service. See the module docstring for the rules."""

    # -- authentication (called by the interceptor, before any servicer) -------------------
    def authenticate_access_key(self, key_id: str, secret: str) -> Identity:
        """A long-term access key. Unknown key or wrong secret: ``InvalidClientTokenId``."""
        ...

    def authenticate_session_token(self, token: str) -> Identity:
        """A session token from AssumeRole: ``InvalidClientTokenId`` / ``ExpiredToken``."""
        ...

    def authenticate_peer(self, sans: Sequence[str]) -> Identity:
        """An mTLS client certificate's typed subject alternative names (``uri:…``,
        ``dns:…``, ``email:…``, ``ip:…``; ``authz.server.sans``) when no
        entry of ``ServerConfig.san_principals`` matched. Unknown peer:
        ``InvalidClientTokenId``."""
        ...

    def resolve_principal(self, principal_arn: str) -> Identity:
        """The principal a trusted enforcement point names in ``Authorize``:
        ``NoSuchEntity`` when it does not exist."""
        ...

    # -- SecurityTokenService --------------------------------------------------------------
    def assume_role(
        self, identity: Identity, params: AssumeRoleParams, origin: CallOrigin
    ) -> AssumeRoleResult:
        """``params`` are the AWS parameters (empty strings from the wire arrive as ``None``;
        tags as ``(key, value)`` pairs)."""
        ...

    def assume_role_with_web_identity(
        self, params: WebIdentityParams, origin: CallOrigin
    ) -> WebIdentityResult:
        """No caller identity: the token in ``params`` is the proof. ``InvalidIdentityToken``,
        ``ExpiredToken``, ``IDPRejectedClaim``, ``IDPCommunicationError``, ``AccessDenied``."""
        ...

    def get_caller_identity(self, identity: Identity) -> CallerIdentityResult: ...

    def signing_keys_jwks(self) -> str:
        """The public JWKS document (JSON text). Needs no authentication."""
        ...

    # -- Authorizer -------------------------------------------------------------------------
    def authorize(self, identity: Identity, params: AuthorizeParams) -> AuthorizeResult: ...

    def current_revision(self) -> str | None:
        """The revision being served (None before the first snapshot)."""
        ...

    def authorize_batch(
        self, identity: Identity, params_list: Sequence[AuthorizeParams]
    ) -> list[AuthorizeResult]:
        """``authorize`` of each item for one identity, in order, with the same decisions
        (the implementation may evaluate them together)."""
        ...

    # -- PolicySimulator (AWS-shaped dicts: the IAM API's PascalCase request/response) -------
    def simulate_principal_policy(
        self, identity: Identity, request: Mapping[str, Any], *, response_bytes: int | None = None
    ) -> Mapping[str, Any]:
        """``request`` as the IAM API (``PolicySourceArn``, ``ActionNames``, ...) plus
        ``SessionPolicyInputList`` and ``ServiceControlPolicyLevels``
        (``[{"PolicyInputList": [...]}, ...]``); returns ``{"EvaluationResults": [...],
        "IsTruncated": bool, "Marker": str}`` (``MatchedStatements`` entries may add
        ``StatementId``, ``Effect``, ``SourceFile``)."""
        ...

    def simulate_custom_policy(
        self, identity: Identity, request: Mapping[str, Any], *, response_bytes: int | None = None
    ) -> Mapping[str, Any]:
        """One page of results (``MaxItems``, ``Marker``), at most about ``response_bytes``
        of them (the rest follows ``Marker``)."""
        ...

    def validate_policy(
        self, identity: Identity, policy_type: PolicyType, document: str
    ) -> ValidatePolicyResult:
        """May also raise ``MalformedPolicyDocument``: the edge reports it as not valid."""
        ...

    # -- PolicyAdmin ------------------------------------------------------------------------
    def reload(self, identity: Identity, *, force: bool = False) -> ReloadResult: ...

    def preview_reload(
        self, identity: Identity, *, source: str, max_requests: int, max_seconds: float
    ) -> PreviewResult:
        """Build the repository on disk aside and diff it against the serving snapshot;
        ``source`` is ``generated`` or ``audit``."""
        ...

    def status(self, identity: Identity | None) -> StatusResult:
        """``identity`` is ``None`` when the metrics exporter asks for cache statistics."""
        ...

    def revoke_session(
        self,
        identity: Identity,
        *,
        session_id: str | None,
        access_key_id: str | None,
        reason: str,
        expires_at: int | None,
    ) -> Revocation:
        """Revoke one session in the state database (every node refuses its token within
        the state poll bound); ``ServiceUnavailable`` when the database cannot be used."""
        ...

    def ready(self) -> bool:
        """True once a snapshot is loaded (drives the health status). Must be cheap."""
        ...

    def give_way_to(
        self,
        in_flight: Callable[[], int],
        wait_at_most: Callable[[Callable[[], int], float], bool] | None = None,
    ) -> None:
        """Background work (reloads, previews) pauses while ``in_flight()`` (calls that have
        arrived and not finished) says calls are waiting for the interpreter;
        ``wait_at_most(count, timeout)`` blocks until at most ``count()`` are in flight."""
        ...
