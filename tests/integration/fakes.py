"""A fake ``Backend`` for the gRPC edge tests: fixed principals, scripted answers, injectable
failures and a controllable slow call. The lead's end-to-end tests use the real backend."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from authz import errors
from authz.engine.decision import Decision, EvalDecision, Layer, MatchedStatement
from authz.iam.model import Caller, CallerKind, PolicyType
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
    Revocation,
    StatusResult,
    ValidatePolicyResult,
)

ACCOUNT = "111122223333"
ALICE_ARN = f"arn:aws:iam::{ACCOUNT}:user/alice"
ENFORCER_ARN = f"arn:aws:iam::{ACCOUNT}:user/enforcer"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/app"
ALICE_KEY = ("AKIAALICE0000000001", "alice-secret-DO-NOT-LOG")
ENFORCER_KEY = ("AKIAENFORCER0000001", "enforcer-secret-DO-NOT-LOG")
SESSION_KEY = ("ASIAFAKE0000000001", "session-secret-DO-NOT-LOG")  # every fake session's
PEER_SAN = "spiffe://test/enforcer"
SLOW_ACTION = "test:Slow"
SLEEP_ACTION = "test:Sleep"  # takes ``FakeBackend.sleep_seconds`` (I/O-like: the GIL is free)
REVISION = "rev-1"


def _user(arn: str, key_id: str) -> Identity:
    caller = Caller(kind=CallerKind.USER, arn=arn, account=ACCOUNT, unique_id="AIDA" + arn[-5:])
    return Identity(caller=caller, method=AuthMethod.ACCESS_KEY, access_key_id=key_id)


@dataclass
class FakeBackend:
    is_ready: bool = True
    failures: dict[str, Exception] = field(default_factory=dict)
    tokens: dict[str, tuple[Identity, datetime]] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    repeatable_actions: set[str] = field(default_factory=set)  # AuthorizeResult.repeatable
    slow_started: threading.Event = field(default_factory=threading.Event)
    slow_release: threading.Event = field(default_factory=threading.Event)
    revision: str = REVISION
    ready_calls: int = 0
    sleep_seconds: float = 0.02
    record_calls: bool = True

    def _enter(self, name: str, arg: Any = None) -> None:
        if self.record_calls:
            self.calls.append((name, arg))
        failure = self.failures.get(name)
        if failure is not None:
            raise failure

    # -- authentication --------------------------------------------------------------------
    def authenticate_access_key(self, key_id: str, secret: str) -> Identity:
        self._enter("authenticate_access_key")
        for arn, (kid, sec) in ((ALICE_ARN, ALICE_KEY), (ENFORCER_ARN, ENFORCER_KEY)):
            if key_id == kid and secret == sec:
                return _user(arn, kid)
        raise errors.InvalidClientTokenId()

    def authenticate_session_token(self, token: str) -> Identity:
        self._enter("authenticate_session_token")
        found = self.tokens.get(token)
        if found is None:
            raise errors.InvalidClientTokenId()
        identity, expiration = found
        if expiration <= datetime.now(UTC):
            raise errors.ExpiredToken()
        return identity

    def signing_credentials(
        self, access_key_id: str, session_token: str | None
    ) -> tuple[str, Callable[[], Identity]]:
        """For signed calls: the secret to verify with, then the caller (the injected failures
        of ``authenticate_access_key`` / ``authenticate_session_token`` apply)."""
        if session_token is not None:
            identity = self.authenticate_session_token(session_token)
            if access_key_id != SESSION_KEY[0]:
                raise errors.InvalidClientTokenId()
            return SESSION_KEY[1], lambda: identity
        self._enter("authenticate_access_key")
        for arn, (kid, sec) in ((ALICE_ARN, ALICE_KEY), (ENFORCER_ARN, ENFORCER_KEY)):
            if access_key_id == kid:
                return sec, lambda arn=arn, kid=kid: _user(arn, kid)  # type: ignore[misc]
        raise errors.InvalidClientTokenId()

    def authenticate_peer(self, sans: Sequence[str]) -> Identity:
        self._enter("authenticate_peer", tuple(sans))
        raise errors.InvalidClientTokenId("unknown peer certificate")

    def resolve_principal(self, principal_arn: str) -> Identity:
        self._enter("resolve_principal", principal_arn)
        if principal_arn == ALICE_ARN:
            return _user(ALICE_ARN, ALICE_KEY[0])
        raise errors.NoSuchEntity(f"the principal `{principal_arn}` does not exist")

    # -- sts ---------------------------------------------------------------------------------
    def issue_token(self, lifetime: timedelta = timedelta(hours=1)) -> tuple[str, datetime]:
        token = "eyJhbGciOiJFZERTQSJ9.fake" + uuid.uuid4().hex + ".sig"
        session = f"arn:aws:sts::{ACCOUNT}:assumed-role/app/s1"
        caller = Caller(CallerKind.ASSUMED_ROLE, session, ACCOUNT, ROLE_ARN, "AROAAPP:s1")
        expiration = datetime.now(UTC) + lifetime
        self.tokens[token] = (Identity(caller, AuthMethod.SESSION_TOKEN, {"sid": "s1"}), expiration)
        return token, expiration

    def assume_role(
        self, identity: Identity, params: AssumeRoleParams, origin: CallOrigin
    ) -> AssumeRoleResult:
        self._enter("assume_role", params)
        if params.role_arn != ROLE_ARN:
            raise errors.AccessDenied(
                f"User: {identity.caller.arn} is not authorized to perform: sts:AssumeRole "
                f"on resource: {params.role_arn}"
            )
        duration = min(params.duration_seconds or 3600, 3600)
        token, expiration = self.issue_token(timedelta(seconds=duration))
        return AssumeRoleResult(
            access_key_id=SESSION_KEY[0],
            secret_access_key=SESSION_KEY[1],
            session_token=token,
            expiration=expiration,
            assumed_role_arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/app/{params.role_session_name}",
            assumed_role_id=f"AROAAPP:{params.role_session_name}",
            effective_duration_seconds=duration,
            duration_capped_by="role_max_session_duration" if duration == 3600 else None,
            packed_policy_size=12 if params.policy else None,
            source_identity=params.source_identity,
            revision=self.revision,
        )

    def get_caller_identity(self, identity: Identity) -> CallerIdentityResult:
        self._enter("get_caller_identity")
        caller = identity.caller
        return CallerIdentityResult(caller.unique_id or "", caller.account or "", caller.arn)

    def signing_keys_jwks(self) -> str:
        self._enter("signing_keys_jwks")
        return '{"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k1", "x": "AAAA"}]}'

    # -- authorizer ------------------------------------------------------------------------
    def authorize(self, identity: Identity, params: AuthorizeParams) -> AuthorizeResult:
        self._enter("authorize", (identity.caller.arn, params))
        if params.action == SLOW_ACTION:
            self.slow_started.set()
            self.slow_release.wait(5)
        if params.action == SLEEP_ACTION:
            time.sleep(self.sleep_seconds)
        if params.action == "s3:GetObject":
            matched = (MatchedStatement("user/alice/read", Layer.IDENTITY, "Read", "Allow", "f"),)
            decision = Decision(EvalDecision.ALLOWED, matched, revision=self.revision)
        elif params.action == "s3:DeleteObject":
            matched = (MatchedStatement("scp/guard", Layer.SCP, "NoDelete", "Deny"),)
            decision = Decision(EvalDecision.EXPLICIT_DENY, matched, Layer.SCP, revision="rev-1")
        else:
            decision = Decision(
                EvalDecision.IMPLICIT_DENY,
                failing_layer=Layer.IDENTITY,
                missing_context=tuple(k for k in ("aws:sourceip",) if k not in params.context),
                revision=self.revision,
            )
        return AuthorizeResult(decision, params.action in self.repeatable_actions)

    def authorize_batch(
        self, identity: Identity, params_list: Sequence[AuthorizeParams]
    ) -> list[AuthorizeResult]:
        return [self.authorize(identity, params) for params in params_list]

    def current_revision(self) -> str | None:
        return self.revision

    # -- simulator ---------------------------------------------------------------------------
    def _simulate(self, name: str, request: Mapping[str, Any]) -> Mapping[str, Any]:
        self._enter(name, dict(request))
        results = [
            {
                "EvalActionName": action,
                "EvalResourceName": resource,
                "EvalDecision": "allowed" if action.endswith("Get") else "implicitDeny",
                "MatchedStatements": [{"SourcePolicyId": "PolicyInputList.1", "StatementId": "A"}],
                "MissingContextValues": [],
                "EvalDecisionDetails": {"s3:Get": "allowed"},
                "SomeFutureField": 1,
            }
            for action in request["ActionNames"]
            for resource in request.get("ResourceArns", ["*"])
        ]
        return {"EvaluationResults": results, "IsTruncated": False}

    def simulate_principal_policy(
        self, identity: Identity, request: Mapping[str, Any], *, response_bytes: int | None = None
    ) -> Mapping[str, Any]:
        return self._simulate("simulate_principal_policy", request)

    def simulate_custom_policy(
        self, identity: Identity, request: Mapping[str, Any], *, response_bytes: int | None = None
    ) -> Mapping[str, Any]:
        return self._simulate("simulate_custom_policy", request)

    def validate_policy(
        self, identity: Identity, policy_type: PolicyType, document: str
    ) -> ValidatePolicyResult:
        self._enter("validate_policy", (policy_type, document))
        if "Statement" not in document:
            raise errors.MalformedPolicyDocument("missing `Statement`", document="input")
        return ValidatePolicyResult(valid=True)

    # -- admin -------------------------------------------------------------------------------
    def reload(self, identity: Identity, *, force: bool = False) -> ReloadResult:
        self._enter("reload")
        self.revision = "rev-2"
        self.is_ready = True
        return ReloadResult(revision=self.revision, changed=True)

    def preview_reload(
        self, identity: Identity, *, source: str, max_requests: int, max_seconds: float
    ) -> PreviewResult:
        self._enter("preview_reload")
        return PreviewResult(None, ())

    def revoke_session(
        self,
        identity: Identity,
        *,
        session_id: str | None,
        access_key_id: str | None,
        reason: str,
        expires_at: int | None,
    ) -> Revocation:
        self._enter("revoke_session")
        kind = "session_id" if session_id else "access_key_id"
        value = session_id or access_key_id or ""
        return Revocation(kind, value, expires_at or 2_000_000_000, 1_700_000_000, reason)

    def status(self, identity: Identity | None) -> StatusResult:
        self._enter("status")
        return StatusResult(
            revision=self.revision,
            loaded_at=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
            counts={"roles": 3, "users": 2},
            cache_stats={"decision_hits": 7, "decision_misses": 1},
        )

    def ready(self) -> bool:
        self.ready_calls += 1
        return self.is_ready

    def give_way_to(
        self,
        in_flight: Callable[[], int],
        wait_at_most: Callable[[Callable[[], int], float], bool] | None = None,
    ) -> None:
        self.in_flight = in_flight


def worker_factory(port: int) -> tuple[FakeBackend, Any]:
    """For ``run_workers`` (picklable through ``functools.partial``)."""
    from authz.server import ServerConfig

    return FakeBackend(), ServerConfig(
        listen=f"127.0.0.1:{port}", metrics_listen=None, shutdown_grace_seconds=2.0
    )
