"""Combining per-layer verdicts with the IAM rules (spec §3.3-§3.8): explicit deny anywhere wins;
every SCP level must allow; resource-policy grants are direct (user / session / wildcard), role
(capped by boundary and session policies) or account (delegating to identity policies);
cross-account needs both sides; trust policies and KMS key policies must always allow, and a
direct trust-policy grant still needs the caller's boundary; root has full identity access;
anonymous and service callers only have the resource policy.

Owns the combination rules only: pure Python over ``LayerResult`` values. Must not import cedarpy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from authz.cedar.policyset import LayerResult
from authz.engine.decision import EvalDecision, Layer
from authz.iam.model import Caller, CallerKind

GrantKinds = Callable[[str], set[str]]  # matched resource statement id -> grant kinds


@dataclass
class Verdicts:
    """The evaluated layers of one request (absent layer = None / empty)."""

    scp: list[LayerResult] = field(default_factory=list)
    rcp: list[LayerResult] = field(default_factory=list)  # deny-only (RCPFullAWSAccess)
    resource: LayerResult | None = None
    identity: LayerResult | None = None
    boundary: LayerResult | None = None
    session: LayerResult | None = None
    resource_layer: Layer = Layer.RESOURCE

    def __init__(
        self,
        scp: list[LayerResult] | None = None,
        rcp: list[LayerResult] | None = None,
        resource: LayerResult | None = None,
        identity: LayerResult | None = None,
        boundary: LayerResult | None = None,
        session: LayerResult | None = None,
        resource_layer: Layer = Layer.RESOURCE,
    ) -> None:
        # explicit: mypyc compiles it (the generated one runs interpreted, ~20x slower)
        self.scp = [] if scp is None else scp
        self.rcp = [] if rcp is None else rcp
        self.resource = resource
        self.identity = identity
        self.boundary = boundary
        self.session = session
        self.resource_layer = resource_layer

    def ordered(self) -> list[tuple[Layer, LayerResult]]:
        out = [(Layer.SCP, r) for r in self.scp]
        out += [(Layer.RCP, r) for r in self.rcp]
        for layer, result in (
            (self.resource_layer, self.resource),
            (Layer.IDENTITY, self.identity),
            (Layer.BOUNDARY, self.boundary),
            (Layer.SESSION, self.session),
        ):
            if result is not None:
                out.append((layer, result))
        return out


@dataclass(frozen=True)
class Outcome:
    decision: EvalDecision
    failing_layer: Layer | None = None
    deciding: tuple[tuple[Layer, str], ...] = ()  # (layer, statement id)


def resource_policy_required(resource: str) -> bool:
    """Resources whose own policy must allow the caller (spec §3.3 step 4): KMS keys, whose key
    policy must grant (directly, or through the account principal, which then delegates to the
    account's IAM policies). Role trust policies are the other such case (``trust``)."""
    parts = resource.split(":", 5)
    return len(parts) == 6 and parts[2] == "kms" and parts[5].startswith("key/")


def combine(
    verdicts: Verdicts,
    caller: Caller,
    *,
    same_account: bool,
    trust: bool,
    kinds: GrantKinds,
    resource_must_allow: bool = False,
) -> Outcome:
    ordered = verdicts.ordered()
    for layer, result in ordered:
        if result.errors:
            return Outcome(EvalDecision.IMPLICIT_DENY, layer)
    for layer, result in ordered:
        if result.explicit_deny:
            return Outcome(
                EvalDecision.EXPLICIT_DENY, layer, tuple((layer, m) for m in result.matched)
            )
    for result in verdicts.scp:
        if not result.allowed:
            return Outcome(EvalDecision.IMPLICIT_DENY, Layer.SCP)
    return _allow_rules(
        verdicts,
        caller,
        same_account=same_account,
        trust=trust,
        kinds=kinds,
        must_allow=trust or resource_must_allow,
    )


def _allow_rules(
    v: Verdicts,
    caller: Caller,
    *,
    same_account: bool,
    trust: bool,
    kinds: GrantKinds,
    must_allow: bool,
) -> Outcome:
    res = v.resource if v.resource is not None and v.resource.allowed else None
    grants: set[str] = set()
    if res is not None:
        for sid in res.matched:
            grants |= kinds(sid)
    res_refs = tuple((v.resource_layer, m) for m in res.matched) if res is not None else ()
    if caller.kind in (CallerKind.ANONYMOUS, CallerKind.SERVICE, CallerKind.WEB_IDENTITY):
        if grants & {"direct", "service"}:
            return Outcome(EvalDecision.ALLOWED, deciding=res_refs)
        return Outcome(EvalDecision.IMPLICIT_DENY, v.resource_layer)
    if must_allow and not grants:  # the resource's own policy must name the caller
        return Outcome(EvalDecision.IMPLICIT_DENY, v.resource_layer)
    b_ok = v.boundary is None or v.boundary.allowed
    s_ok = v.session is None or v.session.allowed
    root = caller.kind is CallerKind.ROOT
    id_allow = root or (v.identity is not None and v.identity.allowed)
    caps = _refs(v, Layer.BOUNDARY, v.boundary) + _refs(v, Layer.SESSION, v.session)
    role_grant = False
    if same_account:
        if "direct" in grants and trust and not b_ok:
            # a trust policy's direct grant still needs the caller's boundary (TRUSTEDIT):
            # the boundary is the layer that refused, whatever the identity policies say
            return Outcome(EvalDecision.IMPLICIT_DENY, Layer.BOUNDARY)
        if "direct" in grants or "service" in grants:
            return Outcome(EvalDecision.ALLOWED, deciding=res_refs)
        role_grant = "role" in grants
        if role_grant and b_ok and s_ok:
            return Outcome(EvalDecision.ALLOWED, deciding=res_refs + caps)
    elif not grants:
        return Outcome(EvalDecision.IMPLICIT_DENY, v.resource_layer)
    if id_allow and b_ok and s_ok:
        refs = _refs(v, Layer.IDENTITY, v.identity) + caps + (res_refs if not same_account else ())
        return Outcome(EvalDecision.ALLOWED, deciding=refs)
    # a role grant counts as the grant (step 3b): then a cap is what refused
    granted = id_allow or role_grant
    failing = Layer.IDENTITY if not granted else Layer.BOUNDARY if not b_ok else Layer.SESSION
    return Outcome(EvalDecision.IMPLICIT_DENY, failing)


def _refs(v: Verdicts, layer: Layer, result: LayerResult | None) -> tuple[tuple[Layer, str], ...]:
    if result is None or not result.allowed:
        return ()
    return tuple((layer, m) for m in result.matched)
