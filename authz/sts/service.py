"""The security token service: AssumeRole end to end, GetCallerIdentity, and what a verified
session means for a later request (its session policies, tags and context keys).

Owns the order of an AssumeRole call (spec §3.5, §6): parameter rules → tags and source
identity → MFA → authorization of ``sts:AssumeRole`` (and ``sts:TagSession`` /
``sts:SetSourceIdentity``) with the trust policy as the resource policy (a missing role of a
described account: a trust policy that allows nothing, the same answer) → the role → session
policies → duration → packed size → credentials and a signed token. Nothing that depends on the
role (or on a ``PolicyArns`` target existing) is checked before the caller is known to be
allowed: a caller that may not assume a role cannot learn whether it exists. Works on one
snapshot from start to end. Imports neither grpc nor cedarpy.

MFA (spec §5, §6.1). ``SerialNumber`` + ``TokenCode`` are verified against ``authz.sts.mfa``
for the calling IAM user (or root): MFA belongs to long-term credentials, so the device must be
the caller's own. A wrong, unknown, reused or someone else's code, a role session presenting a
code, or a server without an MFA store → ``AccessDenied`` with AWS's text. Verification runs
after the parameter checks and just before authorization, and it consumes the code (a later
refusal does not give it back). Wrong codes are limited per device and per user
(``authz.sts.mfa_limits``): past the limit, codes are refused unchecked with ``Throttling``
until the lockout window has passed. Context keys:

* long-term keys without MFA: no ``aws:MultiFactorAuthPresent`` at all (absent, as in AWS, so
  ``BoolIfExists {…: "false"}`` denies and ``Bool {…: "false"}`` does not match);
* long-term keys with a verified code: ``"true"`` and ``aws:MultiFactorAuthAge`` ``"0"``;
* session credentials: ``"true"`` + age (now − MFA time) if the session was issued with MFA,
  else ``"false"`` and no age. The caller can never supply these keys itself.

Role chaining keeps the MFA fact of the calling session: a session assumed with session
credentials carries the caller session's ``mfa_authenticated_at`` unchanged (AWS passes the MFA
context of temporary credentials down a chain — the GetSessionToken-with-MFA → AssumeRole
pattern relies on it), so the age keeps counting from the original check and
``NumericLessThan aws:MultiFactorAuthAge`` limits still bite. A chain cannot add MFA: a role
session has no MFA device.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from authz.engine.decision import Decision, EvalDecision
from authz.engine.principal import missing_role
from authz.engine.snapshot import Snapshot, authorize
from authz.errors import AccessDenied, Throttling, ValidationError
from authz.iam.model import Caller, CallerKind, ContextValue, Policy, PolicyType
from authz.iam.parse import parse_policy
from authz.repo.entities import Repository, Role
from authz.sts import assume_role as rules
from authz.sts import randomness
from authz.sts import web_identity as web
from authz.sts.mfa import MfaStore
from authz.sts.mfa_limits import AttemptLimiter, Limiter, MfaLimits
from authz.sts.tokens import (
    SessionClaims,
    TokenSigner,
    new_temporary_access_key_id,
    policy_digest,
)
from authz.sts.web_identity import WebIdentityVerifier

log = logging.getLogger("authz.sts.service")

MFA_FAILED = "MultiFactorAuthentication failed with invalid MFA one time pass code."
MFA_PRESENT, MFA_AGE = "aws:multifactorauthpresent", "aws:multifactorauthage"
_MFA_KEYS = (MFA_PRESENT, MFA_AGE)


@dataclass(frozen=True)
class AssumeRoleOutcome:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime
    assumed_role_arn: str
    assumed_role_id: str
    duration: rules.Duration
    packed_policy_size: int | None
    source_identity: str | None
    revision: str
    claims: SessionClaims


@dataclass(frozen=True)
class WebIdentityOutcome:
    """AssumeRoleWithWebIdentity: the session, and what AWS reports of the token
    (``SubjectFromWebIdentityToken``, ``Audience``, ``Provider``)."""

    session: AssumeRoleOutcome
    subject: str
    audience: str
    provider: str


def iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@lru_cache(maxsize=4096)
def _parse_session_policy(text: str) -> Policy:
    return parse_policy(text, PolicyType.SESSION, name="session-policy")


def session_policies(
    snapshot: Snapshot, inline: str | None, arns: tuple[str, ...]
) -> tuple[Policy, ...]:
    """The session policies of a session: the inline ``Policy`` and the managed ``PolicyArns``
    (resolved in this snapshot; a missing ARN is a ``ValidationError`` naming it)."""
    out: list[Policy] = []
    if inline:
        out.append(_parse_session_policy(inline))
    for arn in arns:
        managed = snapshot.repository.managed_policy(arn)
        if managed is None:
            raise ValidationError(f"Policy {arn} does not exist or is not attachable.")
        out.append(managed.policy)
    return tuple(out)


def session_context(claims: SessionClaims, now: float | None = None) -> dict[str, ContextValue]:
    """Keys a request signed with session credentials carries (spec §5, §6.2); the caller
    cannot override them. ``aws:MultiFactorAuthPresent`` is ``"true"`` with
    ``aws:MultiFactorAuthAge`` = ``now`` − MFA time (seconds, default: the wall clock) when
    the session was issued with MFA, else ``"false"`` and no age."""
    ctx: dict[str, ContextValue] = {"aws:tokenissuetime": iso(claims.issued_at)}
    if claims.mfa_authenticated_at is not None:
        current = int(time.time() if now is None else now)
        ctx[MFA_PRESENT] = "true"
        ctx[MFA_AGE] = str(max(0, current - claims.mfa_authenticated_at))
    else:
        ctx[MFA_PRESENT] = "false"
    if claims.source_identity:
        ctx["aws:sourceidentity"] = claims.source_identity
    if claims.federated_provider:
        ctx["aws:federatedprovider"] = claims.federated_provider
    return ctx


def session_binding_problem(repository: Repository, claims: SessionClaims) -> str | None:
    """Why a verified session no longer stands for its role, or None when it does.

    A session is bound to the unique id of its role, and a chained session to the role of
    every earlier link as well (claim ``src``): each must still exist at the same ARN with the
    same RoleId. A role deleted, re-created (new RoleId) or renamed (its ARN gone) ends its
    sessions, as in AWS where policies and sessions bind to the unique id. A chained token
    without ``src`` (issued before the claim existed) cannot show its chain and is refused:
    chained sessions last at most an hour, so its holder only has to assume the role again."""
    if claims.chain_depth != len(claims.source_roles):
        return "chain_unbound"
    roles = repository.roles_by_arn
    for arn, role_id in (*claims.source_roles, (claims.role_arn, claims.role_id)):
        role = roles.get(arn)
        if role is None:
            return "role_deleted"
        if role.unique_id != role_id:
            return "role_replaced"
    return None


def session_caller(claims: SessionClaims) -> Caller:
    return Caller(
        CallerKind.ASSUMED_ROLE,
        claims.session_arn,
        claims.account,
        claims.role_arn,
        claims.assumed_role_id,
    )


def decide_as_session(
    snapshot: Snapshot,
    claims: SessionClaims,
    action: str,
    resource: str,
    context: Mapping[str, ContextValue],
    *,
    resource_policy: Policy | None = None,
    now: float | None = None,
) -> Decision:
    """A request made with session credentials: role identity ∩ boundary ∩ session policies,
    session tags over role tags, the session's context keys (MFA age measured at ``now``,
    default the wall clock; never taken from the caller's context)."""
    own = session_context(claims, now)
    merged = {
        k: v for k, v in context.items() if k.lower() not in own and k.lower() not in _MFA_KEYS
    }
    merged.update(own)
    return authorize(
        snapshot,
        session_caller(claims),
        action,
        resource,
        merged,
        session_policies=session_policies(
            snapshot, claims.session_policy, claims.session_policy_arns
        ),
        session_tags=dict(claims.session_tags),
        resource_policy=resource_policy,
    )


class StsService:
    """AssumeRole and GetCallerIdentity on the snapshot the caller hands in."""

    def __init__(
        self,
        signer: TokenSigner,
        issuer: str,
        ttl: rules.TtlPolicy,
        clock: Callable[[], float] = time.time,
        mfa: MfaStore | None = None,
        mfa_limits: MfaLimits | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        web_identity: WebIdentityVerifier | None = None,
        mfa_limiter: Limiter | None = None,
    ) -> None:
        self.web_identity = web_identity or WebIdentityVerifier(clock=clock)
        self._signer = signer
        self._issuer = issuer
        self._ttl = ttl
        self._clock = clock
        self._mfa = mfa
        self._mfa_limiter: Limiter = mfa_limiter or AttemptLimiter(
            mfa_limits or MfaLimits(), monotonic
        )

    @property
    def mfa_limiter(self) -> Limiter:
        """Failed-code counters and lockouts (the state database's when one is wired in,
        shared by every node; else this process's)."""
        return self._mfa_limiter

    @property
    def mfa(self) -> MfaStore | None:
        """The MFA store, or None when MFA is not configured (codes are then refused)."""
        return self._mfa

    def assume_role(
        self,
        snapshot: Snapshot,
        caller: Caller,
        session: SessionClaims | None,
        params: rules.AssumeRoleParams,
        context: Mapping[str, ContextValue],
    ) -> AssumeRoleOutcome:
        rules.validate_params(params)
        inherited = dict(session.session_tags) if session else {}
        transitive = {k: inherited[k] for k in (session.transitive_tag_keys if session else ())
                      if k in inherited}  # fmt: skip
        tags = rules.session_tags(params.tags, params.transitive_tag_keys, transitive)
        source = rules.source_identity(
            params.source_identity, session.source_identity if session else None
        )
        mfa_at = self._verify_mfa(caller, session, params)
        self._authorize(snapshot, caller, session, params, context, mfa_at)
        # Only now, with the caller known to be allowed, may an answer depend on the role or on
        # the session policies' targets existing (no existence oracle: docs/security.md).
        role = snapshot.repository.roles_by_arn.get(params.role_arn)
        assert role is not None  # _authorize denies a role that does not exist
        session_policies(snapshot, params.policy, params.policy_arns)
        chaining = caller.kind is CallerKind.ASSUMED_ROLE
        duration = rules.session_duration(
            params.duration_seconds, role.max_session_duration, chaining, self._ttl
        )
        packed = None
        if params.policy or params.policy_arns or params.tags:
            packed = rules.packed_policy_size(params.policy, params.policy_arns, dict(params.tags))
        if mfa_at is None and session is not None:
            mfa_at = session.mfa_authenticated_at  # role chaining keeps the caller's MFA fact
        return self._issue(snapshot, role, params, tags, source, duration, packed, session, mfa_at)

    def assume_role_with_web_identity(
        self,
        snapshot: Snapshot,
        params: web.WebIdentityParams,
        context: Mapping[str, ContextValue],
    ) -> WebIdentityOutcome:
        """No caller credentials: the token is the proof (``authz.sts.web_identity``). The trust
        policy alone decides (the caller has no identity policies), with the token's facts as
        its context; then the session is issued like an AssumeRole session (no chaining)."""
        web.validate_params(params)
        account, _ = rules.role_arn_parts(params.role_arn)
        provider, token = self.web_identity.verify(
            snapshot.repository, account, params.web_identity_token, params.provider_id
        )
        tags = web.claim_tags(token)
        ctx = web.trust_context(provider, token, params.role_session_name, tags)
        ctx.update({k.lower(): v for k, v in context.items() if k.lower() not in ctx})
        caller = web.web_identity_caller(provider)
        repo = snapshot.repository
        for action in (web.ACTION, "sts:TagSession") if tags.tags else (web.ACTION,):
            if params.role_arn not in repo.roles_by_arn:
                decision = Decision(EvalDecision.IMPLICIT_DENY)  # no existence oracle
            else:
                decision = authorize(snapshot, caller, action, params.role_arn, ctx)
            if not decision.allowed:
                raise AccessDenied(web.DENIED, decision=decision)
        role = repo.roles_by_arn[params.role_arn]
        shared = params.assume_role_params(tuple(tags.tags.items()), tags.transitive_keys)
        session_policies(snapshot, params.policy, params.policy_arns)
        duration = rules.session_duration(
            params.duration_seconds, role.max_session_duration, False, self._ttl
        )
        packed = None
        if params.policy or params.policy_arns or tags.tags:
            packed = rules.packed_policy_size(params.policy, params.policy_arns, tags.tags)
        outcome = self._issue(snapshot, role, shared, tags, None, duration, packed, None,
                              federated_provider=provider.arn)  # fmt: skip
        return WebIdentityOutcome(outcome, token.subject, token.audience, provider.key_prefix)

    def _verify_mfa(
        self, caller: Caller, session: SessionClaims | None, params: rules.AssumeRoleParams
    ) -> int | None:
        """The MFA time (now) when the call carried a valid code for the caller's own device;
        None when it carried none; ``AccessDenied`` (AWS text) otherwise."""
        if params.serial_number is None or params.token_code is None:
            return None  # validate_params refuses one without the other
        now = int(self._clock())
        long_term = session is None and caller.kind in (CallerKind.USER, CallerKind.ROOT)
        if self._mfa is None or not long_term:
            raise AccessDenied(MFA_FAILED, reason="mfa")
        keys = [("device", params.serial_number, caller.arn), ("user", caller.arn)]
        wait = self._mfa_limiter.begin(keys)
        if wait > 0:  # refused unchecked: guesses during a lockout learn nothing
            raise Throttling(
                "Rate exceeded: too many failed MFA codes for this user or device; try again "
                f"in {math.ceil(wait)} seconds.",
                reason="mfa_locked",
            )
        verified = self._mfa.verify(params.serial_number, caller.arn, params.token_code)
        if self._mfa_limiter.record(keys, verified):
            log.warning(
                "MFA locked for %s (device %s) after %d failed codes",
                caller.arn, params.serial_number, self._mfa_limiter.limits.max_failures,
            )  # fmt: skip
        if not verified:
            raise AccessDenied(MFA_FAILED, reason="mfa")
        return now

    def _authorize(
        self,
        snapshot: Snapshot,
        caller: Caller,
        session: SessionClaims | None,
        params: rules.AssumeRoleParams,
        context: Mapping[str, ContextValue],
        mfa_at: int | None = None,
    ) -> None:
        ctx = dict(trust_context(params))
        if mfa_at is not None:  # long-term keys + a verified code, checked just now
            ctx[MFA_PRESENT] = "true"
            ctx[MFA_AGE] = str(max(0, int(self._clock()) - mfa_at))
        ctx.update(
            {k.lower(): v for k, v in context.items() if k.lower() not in ctx
             and k.lower() not in _MFA_KEYS}
        )  # fmt: skip
        actions = ["sts:AssumeRole"]
        if params.tags:
            actions.append("sts:TagSession")
        if params.source_identity:
            actions.append("sts:SetSourceIdentity")
        repo = snapshot.repository
        for action in actions:
            if params.role_arn not in repo.roles_by_arn and not missing_role(
                repo, action, params.role_arn
            ):  # a role of an account this repository does not describe
                decision = Decision(EvalDecision.IMPLICIT_DENY)
            elif session is not None:
                decision = decide_as_session(
                    snapshot, session, action, params.role_arn, ctx, now=self._clock()
                )
            else:
                decision = authorize(snapshot, caller, action, params.role_arn, ctx)
            if not decision.allowed:
                # The refused operation is AssumeRole, also when sts:TagSession or
                # sts:SetSourceIdentity was the missing permission (spec §6.4).
                message = decision.denial_message(
                    caller.arn, "sts:AssumeRole", params.role_arn, reason_action=action
                )
                raise AccessDenied(message, decision=decision)

    def _issue(
        self,
        snapshot: Snapshot,
        role: Role,
        params: rules.AssumeRoleParams,
        tags: rules.SessionTags,
        source: str | None,
        duration: rules.Duration,
        packed: int | None,
        session: SessionClaims | None,
        mfa_at: int | None = None,
        *,
        federated_provider: str | None = None,
    ) -> AssumeRoleOutcome:
        now = int(self._clock())
        session_arn = (
            f"arn:aws:sts::{role.account}:assumed-role/{role.name}/{params.role_session_name}"
        )
        claims = SessionClaims(
            issuer=self._issuer,
            session_arn=session_arn,
            role_arn=role.arn,
            account=role.account,
            issued_at=now,
            expires_at=now + duration.seconds,
            session_id=randomness.token_hex(16),
            assumed_role_id=f"{role.unique_id}:{params.role_session_name}",
            access_key_id=new_temporary_access_key_id(),
            source_identity=source,
            session_tags=tags.tags,
            transitive_tag_keys=tags.transitive_keys,
            session_policy=params.policy,
            session_policy_digest=policy_digest(params.policy) if params.policy else None,
            session_policy_arns=params.policy_arns,
            chain_depth=(session.chain_depth + 1) if session else 0,
            policy_revision=snapshot.revision,
            mfa_authenticated_at=mfa_at,
            source_roles=(*session.source_roles, (session.role_arn, session.role_id))
            if session
            else (),
            federated_provider=federated_provider,
        )
        token, secret = self._signer.issue(claims)  # the secret is derived, never stored
        return AssumeRoleOutcome(
            access_key_id=claims.access_key_id,
            secret_access_key=secret,
            session_token=token,
            expiration=datetime.fromtimestamp(claims.expires_at, UTC),
            assumed_role_arn=session_arn,
            assumed_role_id=claims.assumed_role_id,
            duration=duration,
            packed_policy_size=packed,
            source_identity=source,
            revision=snapshot.revision,
            claims=claims,
        )


def trust_context(params: rules.AssumeRoleParams) -> dict[str, ContextValue]:
    """The keys an AssumeRole call itself implies (spec §5; cases README)."""
    ctx: dict[str, ContextValue] = {"sts:rolesessionname": params.role_session_name}
    if params.external_id is not None:
        ctx["sts:externalid"] = params.external_id
    if params.source_identity is not None:
        ctx["sts:sourceidentity"] = params.source_identity
    if params.tags:
        for key, value in params.tags:
            ctx[f"aws:requesttag/{key.lower()}"] = value
        ctx["aws:tagkeys"] = tuple(k for k, _ in params.tags)
    if params.transitive_tag_keys:
        ctx["sts:transitivetagkeys"] = tuple(params.transitive_tag_keys)
    return ctx


def caller_identity(caller: Caller) -> dict[str, str]:
    """GetCallerIdentity (spec §6.3): no permission needed."""
    user_id = caller.account if caller.kind is CallerKind.ROOT else caller.unique_id
    return {"UserId": user_id or caller.arn, "Account": caller.account or "", "Arn": caller.arn}
