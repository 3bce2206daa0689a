"""The service behind the gRPC edge: ``AuthzBackend`` implements ``authz.server.ports.Backend``
over the snapshot holder and reloader, the STS service, the key ring and the access-key store.

Owns the meaning of each RPC in terms of the library: who a credential is, which snapshot a
call uses (read once, used to the end), and how a session's claims shape a decision. Imports
no grpc and no cedarpy.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from authz.config import typed_san_mapping
from authz.engine import context_keys, simulate
from authz.engine.cache import request_shape
from authz.engine.decision import Decision
from authz.engine.reload import Reloader, SnapshotHolder
from authz.engine.simulate import simulate_principal_policy
from authz.engine.snapshot import Snapshot, authorize, authorize_batch, build_snapshot
from authz.errors import (
    AccessDenied,
    InvalidClientTokenId,
    MalformedPolicyDocument,
    RepositoryError,
    ServiceUnavailable,
    Throttling,
    ValidationError,
)
from authz.iam.context_keys import check_supplied_keys
from authz.iam.model import Caller, CallerKind, ContextValue, PolicyType, normalize_context
from authz.iam.parse import parse_policy
from authz.permissions import (
    CONTEXT_KEYS_CUSTOM_ACTION,
    CONTEXT_KEYS_PRINCIPAL_ACTION,
    DECODE_MESSAGE_ACTION,
    GET_STATUS_ACTION,
    ON_BEHALF_ACTION,
    PREVIEW_RELOAD_ACTION,
    RELOAD_ACTION,
    REVOKE_SESSION_ACTION,
    SIMULATE_CUSTOM_ACTION,
    SIMULATE_PRINCIPAL_ACTION,
    VALIDATE_POLICY_ACTION,
)
from authz.server.ports import (
    AssumeRoleParams,
    AssumeRoleResult,
    AuthMethod,
    AuthorizeParams,
    AuthorizeResult,
    CallerIdentityResult,
    CallOrigin,
    Identity,
    PreviewResult,
    ReloadResult,
    StatusResult,
    ValidatePolicyResult,
    WebIdentityParams,
    WebIdentityResult,
)
from authz.state.runtime import RuntimeState
from authz.sts import auth_message
from authz.sts.credentials import AccessKeyInfo, CredentialStore
from authz.sts.keys import KeyRing
from authz.sts.revocations import Revocation, RevocationStore
from authz.sts.service import (
    AssumeRoleOutcome,
    StsService,
    caller_identity,
    decide_as_session,
    session_binding_problem,
    session_caller,
)
from authz.sts.tokens import SessionClaims, TokenVerifier

__all__ = ["ON_BEHALF_ACTION", "AuthzBackend", "clock_keys", "request_context"]


class AuthzBackend:
    """One process's service. Thread-safe: every call reads ``holder.current`` once."""

    def __init__(
        self,
        reloader: Reloader,
        sts: StsService,
        verifier: TokenVerifier,
        keyring: KeyRing,
        credentials: CredentialStore,
        service_principals: Mapping[str, str] | None = None,
        audit_log: Path | None = None,
        state: RuntimeState | None = None,
        revocations: RevocationStore | None = None,
    ) -> None:
        self.reloader = reloader
        self.holder: SnapshotHolder = reloader.holder
        self.sts = sts
        self.verifier = verifier
        self.keyring = keyring
        self.credentials = credentials
        self.service_principals = typed_san_mapping(service_principals or {})
        self.audit_log = audit_log
        self.state = state  # the run-time state database of this process (closed by close())
        self.revocations = revocations  # operator session revocations (authz sessions revoke)

    def close(self) -> None:
        """Stop the repository watcher and the state watcher, close the state database."""
        self.reloader.close()
        if self.state is not None:
            self.state.close()

    # -- authentication ----------------------------------------------------------------------
    def authenticate_access_key(self, key_id: str, secret: str) -> Identity:
        return self._key_identity(self.credentials.authenticate(key_id, secret))

    def signing_credentials(
        self, access_key_id: str, session_token: str | None
    ) -> tuple[str, Callable[[], Identity]]:
        """For a SigV4-signed request (``authz.sigv4``): the secret the signature must have
        been made with, and what to call once it has verified to get the caller. A session
        key (``ASIA…``) needs its token, which must name that key; its secret is derived again
        from the token (``authz.sts.session_secret``). A long-term key needs its encrypted
        secret (a key stored hashed cannot sign). ``InvalidClientTokenId`` / ``ExpiredToken``
        otherwise, with one message for every reason."""
        if session_token is not None:
            claims, secret = self.verifier.session_secret(session_token)
            if not hmac.compare_digest(claims.access_key_id, access_key_id):
                raise InvalidClientTokenId(reason="token_key_mismatch")
            problem = session_binding_problem(self.holder.current.repository, claims)
            if problem is not None:
                raise InvalidClientTokenId(reason=problem)
            ident = Identity(
                session_caller(claims),
                AuthMethod.SESSION_TOKEN,
                session=claims,
                access_key_id=access_key_id,
            )
            return secret, lambda: ident
        if access_key_id.startswith("ASIA"):  # a session key without its token
            raise InvalidClientTokenId(reason="missing_session_token")
        info, secret = self.credentials.signing_secret(access_key_id)
        return secret, lambda: self._key_identity(info)

    def _key_identity(self, info: AccessKeyInfo) -> Identity:
        key_id = info.access_key_id
        snapshot = self.holder.current
        user = snapshot.repository.users_by_arn.get(info.user_arn)
        if user is None:  # the key outlived its user (deleted or renamed): like an unknown key
            raise InvalidClientTokenId(reason="user_deleted")
        bound = info.user_id
        if bound is None:  # a key from before keys recorded the UserId: bound at first use
            bound = self.credentials.bind_user_id(key_id, user.unique_id)
        if bound != user.unique_id:  # the user was re-created: a new UserId, not this key's
            raise InvalidClientTokenId(reason="user_replaced")
        caller = snapshot.caller(info.user_arn)
        return Identity(caller, AuthMethod.ACCESS_KEY, access_key_id=key_id)

    def authenticate_session_token(self, token: str) -> Identity:
        claims = self.verifier.verify(token)
        problem = session_binding_problem(self.holder.current.repository, claims)
        if problem is not None:  # the role (or a role of its chain) is gone or replaced
            raise InvalidClientTokenId(reason=problem)
        return Identity(session_caller(claims), AuthMethod.SESSION_TOKEN, session=claims)

    def authenticate_peer(self, sans: Sequence[str]) -> Identity:
        for san in sans:
            service = self.service_principals.get(san)
            if service is not None:
                caller = Caller(CallerKind.SERVICE, service)
                return Identity(caller, AuthMethod.PEER_CERTIFICATE)
        raise InvalidClientTokenId()

    def resolve_principal(self, principal_arn: str) -> Identity:
        """A principal named by an enforcement point. An assumed-role session is refused: its
        session policies, tags and MFA state are known only from its token."""
        caller = self.holder.current.caller(principal_arn)
        if caller.kind is CallerKind.ASSUMED_ROLE:
            raise ValidationError(
                f"principal `{principal_arn}` is an assumed-role session: its session policies, "
                "tags and MFA state are known only from its token; send `sessionToken` instead "
                "of `principalArn`"
            )
        return Identity(caller, AuthMethod.ACCESS_KEY)

    def _require(self, identity: Identity, action: str, resource: str) -> None:
        """``AccessDenied`` (AWS text) unless the caller's policies allow ``action`` on
        ``resource``: authz's own RPCs are authorized by IAM (``authz.permissions``)."""
        decision = self._decide(self.holder.current, identity, action, resource, {})
        if not decision.allowed:
            message = decision.denial_message(identity.caller.arn, action, resource)
            raise AccessDenied(message, decision=decision)

    # -- STS ---------------------------------------------------------------------------------
    def assume_role(
        self, identity: Identity, params: AssumeRoleParams, origin: CallOrigin
    ) -> AssumeRoleResult:
        snapshot = self.holder.current
        outcome = self.sts.assume_role(
            snapshot,
            identity.caller,
            _claims(identity),
            params,
            _origin_context(origin),
        )
        return _assume_role_result(outcome)

    def assume_role_with_web_identity(
        self, params: WebIdentityParams, origin: CallOrigin
    ) -> WebIdentityResult:
        snapshot = self.holder.current
        found = self.sts.assume_role_with_web_identity(snapshot, params, _origin_context(origin))
        return WebIdentityResult(
            _assume_role_result(found.session), found.subject, found.audience, found.provider
        )

    def get_caller_identity(self, identity: Identity) -> CallerIdentityResult:
        found = caller_identity(identity.caller)
        return CallerIdentityResult(found["UserId"], found["Account"], found["Arn"])

    def signing_keys_jwks(self) -> str:
        self.keyring.maybe_refresh()
        return json.dumps(self.keyring.jwks(), sort_keys=True)

    # -- Authorizer --------------------------------------------------------------------------
    def authorize(self, identity: Identity, params: AuthorizeParams) -> AuthorizeResult:
        snapshot = self.holder.current
        decision = self._decide(snapshot, identity, params.action, params.resource, params.context)
        repeatable = (
            _claims(identity) is None  # sessions: MFA age and revocation move with time
            and not decision.errors
            and decision.revision == snapshot.revision
            and snapshot.decisions.repeatable(
                request_shape(identity.caller, params.action, params.resource)
            )
        )
        return AuthorizeResult(decision, repeatable)

    def current_revision(self) -> str | None:
        snapshot = self.holder.peek()
        return snapshot.revision if snapshot else None

    def authorize_batch(
        self, identity: Identity, params_list: Sequence[AuthorizeParams]
    ) -> list[AuthorizeResult]:
        """``authorize`` of each item on one snapshot, with the same decisions; access-key and
        service callers are evaluated together (``snapshot.authorize_batch``), session callers
        item by item."""
        snapshot = self.holder.current
        for p in params_list:  # every item is checked before any is decided
            check_supplied_keys(p.context, on_behalf=identity.origin is None)
        if _claims(identity) is not None:
            return [
                AuthorizeResult(self._decide(snapshot, identity, p.action, p.resource, p.context))
                for p in params_list
            ]
        items = [
            (p.action, p.resource, request_context(p.context, identity.origin)) for p in params_list
        ]
        decisions = authorize_batch(snapshot, identity.caller, items, normalized=True)
        return [AuthorizeResult(d) for d in decisions]

    def _decide(
        self,
        snapshot: Snapshot,
        identity: Identity,
        action: str,
        resource: str,
        context: Mapping[str, Any],
    ) -> Decision:
        check_supplied_keys(context, on_behalf=identity.origin is None)
        claims = _claims(identity)
        ctx = request_context(context, identity.origin)
        if claims is not None:
            return decide_as_session(snapshot, claims, action, resource, ctx)
        return authorize(snapshot, identity.caller, action, resource, ctx, normalized=True)

    # -- PolicySimulator ---------------------------------------------------------------------
    def simulate_principal_policy(
        self, identity: Identity, request: Mapping[str, Any], *, response_bytes: int | None = None
    ) -> Mapping[str, Any]:
        source = request.get("PolicySourceArn")
        source = source if isinstance(source, str) else ""
        self._require(identity, SIMULATE_PRINCIPAL_ACTION, source)
        return simulate_principal_policy(
            self.holder.current, request, response_bytes=response_bytes
        )

    def simulate_custom_policy(
        self, identity: Identity, request: Mapping[str, Any], *, response_bytes: int | None = None
    ) -> Mapping[str, Any]:
        self._require(identity, SIMULATE_CUSTOM_ACTION, "*")
        return simulate.simulate_custom_policy(request, response_bytes=response_bytes)

    def context_keys_for_custom_policy(
        self, identity: Identity, request: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        self._require(identity, CONTEXT_KEYS_CUSTOM_ACTION, "*")
        return context_keys.custom_policy_keys(request)

    def context_keys_for_principal_policy(
        self, identity: Identity, request: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        source = request.get("PolicySourceArn")
        self._require(
            identity, CONTEXT_KEYS_PRINCIPAL_ACTION, source if isinstance(source, str) else ""
        )
        return context_keys.principal_policy_keys(self.holder.current, request)

    def encode_authorization_message(
        self, identity: Identity | None, error: AccessDenied
    ) -> str | None:
        """The sealed "why" of an ``AccessDenied`` that carries its decision (else None)."""
        decision = error.details.get("decision")
        if not isinstance(decision, Decision):
            return None
        principal = identity.caller.arn if identity is not None else ""
        document = auth_message.decision_document(decision, principal, error.message)
        return auth_message.encode(self.keyring, document)

    def decode_authorization_message(
        self, identity: Identity, request: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        self._require(identity, DECODE_MESSAGE_ACTION, "*")
        encoded = request.get("EncodedMessage")
        return {"DecodedMessage": auth_message.decode(self.keyring, str(encoded or ""))}

    def validate_policy(
        self, identity: Identity, policy_type: PolicyType, document: str
    ) -> ValidatePolicyResult:
        self._require(identity, VALIDATE_POLICY_ACTION, "*")
        try:
            parse_policy(document, policy_type, name="document")
        except MalformedPolicyDocument as err:
            return ValidatePolicyResult(False, err.code, str(err))
        return ValidatePolicyResult(True)

    # -- PolicyAdmin -------------------------------------------------------------------------
    def reload(self, identity: Identity, *, force: bool = False) -> ReloadResult:
        self._require(identity, RELOAD_ACTION, "*")  # before the rate limit: no token spent
        # Throttling when over the rate
        outcome = self.reloader.reload_requested(timeout=120, force=force)
        if outcome is None:
            return ReloadResult(self.current_revision(), False, "reload still running")
        return ReloadResult(outcome.revision, outcome.changed, outcome.error, outcome.problems)

    def preview_reload(
        self, identity: Identity, *, source: str, max_requests: int, max_seconds: float
    ) -> PreviewResult:
        from authz.engine import diff

        self._require(identity, PREVIEW_RELOAD_ACTION, "*")  # before the rate limit
        if not self.reloader.limiter.take():  # a build of the whole repository, like Reload
            raise Throttling("Rate exceeded: PreviewReload shares the Reload rate limit")
        serving = self.holder.current
        with self.reloader.own_call():  # background work: gives way to other calls
            try:
                candidate = build_snapshot(self.reloader.root, git=False)
            except RepositoryError as err:
                return PreviewResult(None, tuple(err.problems))
            if source == "audit":
                if self.audit_log is None:
                    raise ValidationError("the server writes no audit log (audit_log is not set)")
                requests = diff.requests_from_audit(_tail_lines(self.audit_log), max_requests)
            else:
                requests = diff.generated_requests((serving, candidate), max_requests)
            return PreviewResult(
                diff.diff_snapshots(serving, candidate, requests, max_seconds=max_seconds)
            )

    def give_way_to(
        self,
        in_flight: Callable[[], int],
        wait_at_most: Callable[[Callable[[], int], float], bool] | None = None,
    ) -> None:
        self.reloader.give_way_to(in_flight, wait_at_most)

    def revoke_session(
        self,
        identity: Identity,
        *,
        session_id: str | None,
        access_key_id: str | None,
        reason: str,
        expires_at: int | None,
    ) -> Revocation:
        self._require(identity, REVOKE_SESSION_ACTION, "*")
        if self.revocations is None:
            raise ServiceUnavailable("this server keeps no session revocations")
        return self.revocations.revoke(  # logged there; the call is audited with its caller
            session_id=session_id,
            access_key_id=access_key_id,
            expires_at=expires_at,
            reason=reason,
        )

    def status(self, identity: Identity | None) -> StatusResult:
        if identity is not None:  # None: the metrics exporter, inside the process
            self._require(identity, GET_STATUS_ACTION, "*")
        snapshot = self.holder.peek()
        reload = self.reloader.status()
        stats: dict[str, int] = {}
        counts: dict[str, int] = {}
        if snapshot is not None:
            stats = dict(snapshot.cache_stats())  # partition_* and decision_*
            counts = dict(snapshot.repository.counts)
        stats["reload_activated"] = reload.activated
        stats["reload_unchanged"] = reload.unchanged
        stats["reload_failed"] = reload.failed
        stats["token_cache_hits"] = self.verifier.hits
        stats["token_cache_misses"] = self.verifier.misses
        stats.update(self.security_events())
        return StatusResult(
            revision=snapshot.revision if snapshot else None,
            loaded_at=snapshot.loaded_at if snapshot else None,
            counts=counts,
            last_reload_error=reload.last_error,
            cache_stats=stats,
            last_reload_problems=reload.last_problems,
            last_reload_attempt=reload.last_attempt,
        )

    def security_events(self) -> dict[str, int]:
        """Counters of refusals that protect credentials, as ``security_<event>`` (exported as
        ``authz_security_events_total{event}``)."""
        limiter = self.sts.mfa_limiter
        mfa = self.sts.mfa
        return {
            "security_credentials_store_unavailable": self.credentials.unavailable_refusals,
            "security_mfa_store_unavailable": (mfa.unavailable_refusals if mfa else 0)
            + limiter.unavailable,
            "security_state_stale_refusals": (
                self.revocations.unavailable_refusals if self.revocations else 0
            ),
            "security_mfa_failures": limiter.failures,
            "security_mfa_lockouts": limiter.lockouts,
            "security_mfa_throttled": limiter.throttled,
        }

    def ready(self) -> bool:
        return self.holder.loaded

    # -- revocation (the verifier's hook) ----------------------------------------------------
    @staticmethod
    def session_revoked(holder: SnapshotHolder, claims: object) -> bool:
        """Per-session revocation declared in the repository (``RevokedSessionIds``), read
        from the serving snapshot, so it takes effect on reload."""
        snapshot = holder.peek()
        if snapshot is None or not isinstance(claims, SessionClaims):
            return False
        role = snapshot.repository.roles_by_arn.get(claims.role_arn)
        return role is not None and claims.session_id in role.revoked_session_ids


def _origin_context(origin: CallOrigin) -> Mapping[str, Any]:
    """Keys the server itself knows about an AssumeRole call (spec §5)."""
    return request_context({}, origin)


_clock_memo: tuple[int, str, str] = (-1, "", "")


def clock_keys(now: float | None = None) -> tuple[str, str]:
    """(``aws:CurrentTime``, ``aws:EpochTime``) for ``now`` (default: the wall clock), to the
    second; formatted once per second."""
    global _clock_memo
    second = int(time.time() if now is None else now)
    memo = _clock_memo
    if memo[0] != second:
        stamp = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        memo = _clock_memo = (second, stamp, str(second))
    return memo[1], memo[2]


def request_context(
    context: Mapping[str, Any], origin: CallOrigin | None = None
) -> dict[str, ContextValue]:
    """A caller's request context as the engine takes it, in one pass: normalised
    (``normalize_context``: lowercased keys, string or tuple values), plus the server's own
    facts: ``aws:CurrentTime`` and ``aws:EpochTime`` from the clock (AWS supplies them on every
    request) and, for a call's own ``origin``, ``aws:SecureTransport`` and ``aws:SourceIp``
    from the connection. Server values replace the caller's: callers are refused such keys
    before this (``authz.iam.context_keys``). (The decision cache keys only on keys the
    policies read, so the clock splits it only for principals whose policies read it.)"""
    out: dict[str, ContextValue] = {}
    for key, value in context.items():
        low = key.lower()
        if type(value) is str:
            out[low] = value
        else:
            out.update(normalize_context({low: value}))
    out["aws:currenttime"], out["aws:epochtime"] = clock_keys()
    if origin is not None:
        out["aws:securetransport"] = "true" if origin.secure_transport else "false"
        if origin.source_ip:
            out["aws:sourceip"] = origin.source_ip
        else:
            out.pop("aws:sourceip", None)
    return out


def _claims(identity: Identity) -> SessionClaims | None:
    return identity.session if isinstance(identity.session, SessionClaims) else None


AUDIT_TAIL_BYTES = 64 * 1024 * 1024


def _tail_lines(path: Path) -> list[str]:
    """The last ``AUDIT_TAIL_BYTES`` of the audit log, as lines (a partial first line is
    dropped)."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(max(0, size - AUDIT_TAIL_BYTES))
            data = handle.read()
    except OSError as err:
        raise ValidationError(f"cannot read the audit log: {err.strerror or err}") from err
    lines = data.decode("utf-8", errors="replace").splitlines()
    return lines[1:] if size > AUDIT_TAIL_BYTES else lines


def _assume_role_result(outcome: AssumeRoleOutcome) -> AssumeRoleResult:
    return AssumeRoleResult(
        access_key_id=outcome.access_key_id,
        secret_access_key=outcome.secret_access_key,
        session_token=outcome.session_token,
        expiration=outcome.expiration,
        assumed_role_arn=outcome.assumed_role_arn,
        assumed_role_id=outcome.assumed_role_id,
        effective_duration_seconds=outcome.duration.seconds,
        duration_capped_by=outcome.duration.capped_by,
        packed_policy_size=outcome.packed_policy_size,
        source_identity=outcome.source_identity,
        revision=outcome.revision,
    )
