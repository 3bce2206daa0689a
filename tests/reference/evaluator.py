"""The reference IAM evaluator: the slow, plain-Python test oracle for the Cedar path.

Written straight from ``docs/design/iam-semantics.md`` and working on raw JSON
dicts in the shape of the ``authorize`` decision vectors (cases README). It must import
neither ``cedarpy`` nor the product's parser (``authz.iam.parse``): it is an independent
second implementation. Owns ``evaluate`` and ``RefDecision``.

Sections implemented here: statement applicability §3.1, principals and NotPrincipal §2.3,
the same-account algorithm §3.3 (direct / role / account grants, root, anonymous and service
callers, sts:GetCallerIdentity), cross-account §3.4, the role-trust rules §3.3 step 4 and
§3.5 (``trust=True``; KMS key policies likewise must allow), session policies §3.6,
boundaries §3.7 and SCP levels §3.8. Matching (§2.1, §2.2) lives in ``matching``, conditions
(§4) in ``conditions``, the request context (§4.6, §5) in ``context``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.reference.conditions import condition_block_holds
from tests.reference.context import Context, build_context
from tests.reference.matching import action_match, as_list, resource_match

Json = Mapping[str, Any]

ALLOW_EFFECT, DENY_EFFECT = "Allow", "Deny"
ACCOUNT_CALLERS = ("user", "root", "assumed_role")

# How a resource-policy principal matched (§3.3 step 3): "direct" grants outright (same
# account), "role" is capped by the session's boundary/session policy, "account" only
# delegates to the account's identity policies.
DIRECT, ROLE, ACCOUNT = "direct", "role", "account"
_RANK = {DIRECT: 3, ROLE: 2, ACCOUNT: 1}


@dataclass(frozen=True, slots=True)
class RefDecision:
    """``decision`` is ``Allow``, ``ExplicitDeny`` or ``ImplicitDeny`` (vector spelling);
    ``layer`` names the layer that decided a deny (``scp``, ``resource``, ``trust``,
    ``identity``, ``boundary``, ``session``), None for Allow. ``deciding`` names the
    statements that decided, sorted, as ``layer:policy:statement`` (``Sid`` or ``#index``):
    for an explicit deny every applicable Deny of the first denying layer (SCP levels, then
    the resource/trust policy, identity, boundary, session); for an allow every applicable
    Allow of the layers that granted (see ``evaluate``); nothing for an implicit deny. Policy
    names follow the vector convention ``identity<i>``, ``group<g>-<i>`` (the policies
    of the user's groups, ``policies["groups"]``: one list per group), ``resource``
    (``role/target/trust`` for trust evaluations), ``boundary``, ``session<i>``,
    ``scp<level>-<i>``."""

    decision: str
    layer: str | None = None
    deciding: tuple[str, ...] = field(default=(), compare=False)  # equality: the outcome

    @property
    def allowed(self) -> bool:
        return self.decision == "Allow"


ALLOW = RefDecision("Allow")


def _explicit(layer: str, refs: Iterable[str]) -> RefDecision:
    return RefDecision("ExplicitDeny", layer, tuple(sorted(set(refs))))


def _implicit(layer: str) -> RefDecision:
    return RefDecision("ImplicitDeny", layer)


@dataclass(frozen=True, slots=True)
class _Request:
    principal: Json
    action: str
    resource: str
    context: Context


def statements(policy: Json) -> list[Json]:
    return [s for s in as_list(policy["Statement"]) if isinstance(s, Mapping)]


# --- principals (§2.3) ------------------------------------------------------------------


def _aws_entry_grant(entry: str, principal: Json) -> str | None:
    """One ``AWS`` principal entry against the caller."""
    if entry == "*":
        return DIRECT
    if principal["type"] not in ACCOUNT_CALLERS:
        return None
    account, arn = principal["account"], principal["arn"]
    partition = arn.split(":")[1]
    if entry in (account, f"arn:{partition}:iam::{account}:root"):
        return ACCOUNT
    if entry == arn:  # the user ARN or the session ARN (no wildcards, case-sensitive)
        return DIRECT
    if principal["type"] == "user" and entry == principal.get("user_id"):
        return DIRECT
    if principal["type"] == "assumed_role" and entry in (
        principal["role_arn"],
        principal.get("role_id"),
    ):
        return ROLE
    return None


def _principal_grant(element: object, principal: Json) -> str | None:
    """The strongest way a ``Principal`` element matches the caller (OR over entries)."""
    if element == "*":
        return DIRECT
    if not isinstance(element, Mapping):
        return None
    kinds = [_aws_entry_grant(str(e), principal) for e in as_list(element.get("AWS", []))]
    if principal["type"] == "service" and principal["arn"] in as_list(element.get("Service", [])):
        kinds.append(DIRECT)
    found = [k for k in kinds if k is not None]
    return max(found, key=_RANK.__getitem__) if found else None


def _listed(element: object, principal: Json) -> bool:
    """``NotPrincipal`` (Decision §2.3): the caller is listed when ``*`` is, or when its own
    most specific identifier is (user / session ARN, root ARN or account id, service name). A
    user's unique id (``AIDA…``) names the same user as its ARN (§2.3: IAM stores the unique id
    for a named user), so it lists the user too; a role's id (``AROA…``) names the role, not
    one session of it."""
    if element == "*":
        return True
    if not isinstance(element, Mapping):
        return False
    aws = [str(e) for e in as_list(element.get("AWS", []))]
    kind = principal["type"]
    if "*" in aws:
        return True
    if kind == "user":
        return principal["arn"] in aws or (principal.get("user_id") or "") in aws
    if kind == "assumed_role":
        return principal["arn"] in aws
    if kind == "root":
        return principal["arn"] in aws or principal["account"] in aws
    if kind == "service":
        return principal["arn"] in as_list(element.get("Service", []))
    return False


def _statement_principal(statement: Json, principal: Json, bounded: bool) -> str | None:
    """How a resource-policy statement's principal part matches; a statement with neither
    ``Principal`` nor ``NotPrincipal`` matches nobody. ``NotPrincipal`` acts like ``*``; with
    ``Deny`` it applies to every caller that has a permissions boundary (``bounded``), whatever
    it lists (§2.3; AWS "NotPrincipal": "will always deny any IAM principal that has a
    permissions boundary policy attached, regardless of the values specified")."""
    if "Principal" in statement:
        return _principal_grant(statement["Principal"], principal)
    if "NotPrincipal" in statement:
        if bounded and statement["Effect"] == DENY_EFFECT:
            return DIRECT
        return None if _listed(statement["NotPrincipal"], principal) else DIRECT
    return None


# --- statement applicability (§3.1) ---------------------------------------------------


def _in_scope(statement: Json, request: _Request, version: str | None) -> bool:
    """Action, resource and Condition parts of a statement (not the principal)."""
    if "Action" in statement:
        action_ok = any(action_match(str(p), request.action) for p in as_list(statement["Action"]))
    else:
        patterns = as_list(statement.get("NotAction", []))
        action_ok = not any(action_match(str(p), request.action) for p in patterns)
    if not action_ok:
        return False
    if "Resource" in statement or "NotResource" in statement:
        listed = as_list(statement.get("Resource", statement.get("NotResource")))
        hit = any(
            resource_match(str(p), request.resource, request.context, version) for p in listed
        )
        if hit != ("Resource" in statement):
            return False
    # No resource element: a trust policy, whose resource is implicitly the role (§3.1).
    return condition_block_holds(statement.get("Condition"), request.context, version)


Named = tuple[str, Json]  # (policy name in decisions, policy document)


def _label(statement: Json, index: int) -> str:
    sid = statement.get("Sid")
    return sid if isinstance(sid, str) and sid else f"#{index}"


def _applicable(layer: str, policies: Iterable[Named], request: _Request, effect: str) -> list[str]:
    """The refs of the applicable ``effect`` statements of identity-style policies (no
    principal part)."""
    refs = []
    for name, policy in policies:
        version = policy.get("Version")
        for index, statement in enumerate(statements(policy)):
            if statement["Effect"] == effect and _in_scope(statement, request, version):
                refs.append(f"{layer}:{name}:{_label(statement, index)}")
    return refs


def _resource_grants(
    layer: str, named: Named | None, request: _Request, effect: str, bounded: bool = False
) -> list[tuple[str, str]]:
    """(principal-match kind, ref) of each applicable ``effect`` statement of a resource
    policy (``bounded``: the caller has a permissions boundary)."""
    if named is None:
        return []
    name, policy = named
    version = policy.get("Version")
    out = []
    for index, statement in enumerate(statements(policy)):
        if statement["Effect"] != effect:
            continue
        kind = _statement_principal(statement, request.principal, bounded)
        if kind is not None and _in_scope(statement, request, version):
            out.append((kind, f"{layer}:{name}:{_label(statement, index)}"))
    return out


# --- the algorithm (§3.3 - §3.8) ------------------------------------------------------


def _allow(*refs: Iterable[str]) -> RefDecision:
    return RefDecision("Allow", None, tuple(sorted({r for group in refs for r in group})))


def evaluate(request: Json, policies: Json, trust: bool = False) -> RefDecision:
    """Decide one ``authorize``-shaped request against ``authorize``-shaped policies.

    With ``trust=True`` the resource policy is a role trust policy (§3.3 step 4, §3.5): it
    must itself allow the caller; an account grant also needs an identity Allow; a direct
    grant still needs the caller's permissions boundary to allow.

    The statements an Allow names: the resource policy's applicable Allows when it grants on
    its own (a direct or service grant, same account, and every grant of an anonymous or
    service caller); with a role grant, those and the boundary's and session policies'
    applicable Allows; otherwise the identity policies' applicable Allows, the caps' Allows
    and, cross-account, the resource policy's Allows.
    """
    principal = request["principal"]
    resource = request["resource"]
    req = _Request(
        principal=principal,
        action=request["action"],
        resource=resource["arn"],
        context=build_context(principal, request.get("context") or {}),
    )
    kind = principal["type"]
    resource_layer = "trust" if trust else "resource"
    resource_doc = policies.get("resource")
    resource_name = "role/target/trust" if trust else "resource"
    resource_policy = (resource_name, resource_doc) if resource_doc is not None else None

    if kind in ACCOUNT_CALLERS and req.action.lower() == "sts:getcalleridentity":
        return ALLOW  # §3.3 step 0: callers with account credentials; denies are ignored

    # §3.8 (RCPs): the resource account's resource control policies cap every caller; each
    # level also holds RCPFullAWSAccess (it cannot be detached), so only a Deny decides.
    rcp_levels = [
        [(f"rcp{n}-{i}", d) for i, d in enumerate(level)]
        for n, level in enumerate(policies.get("rcp") or [])
    ]
    rcp_denies = [
        r
        for level in rcp_levels
        for named in level
        for _, r in _resource_grants("rcp", named, req, DENY_EFFECT)
    ]

    if kind in ("anonymous", "service"):  # only a resource policy can speak for them
        if rcp_denies:
            return _explicit("rcp", rcp_denies)
        denies = _resource_grants(resource_layer, resource_policy, req, DENY_EFFECT)
        if denies:
            return _explicit(resource_layer, [ref for _, ref in denies])
        allows = _resource_grants(resource_layer, resource_policy, req, ALLOW_EFFECT)
        if allows:
            return _allow(ref for _, ref in allows)
        return _implicit(resource_layer)
    if kind not in ACCOUNT_CALLERS:
        raise ValueError(f"unknown principal type `{kind}`")

    # Root has no identity policies, boundary or session; it may do anything its account can.
    identity: list[Named] = []
    boundary: list[Named] = []
    session: list[Named] = []
    if kind != "root":
        identity = [(f"identity{i}", d) for i, d in enumerate(policies.get("identity") or [])]
        if policies.get("permissions_boundary") is not None:
            boundary = [("boundary", policies["permissions_boundary"])]
    if kind == "user":  # §3.3 step 4: a user's identity policies include its groups'
        for g, group in enumerate(policies.get("groups") or []):
            identity += [(f"group{g}-{i}", d) for i, d in enumerate(group)]
    if kind == "assumed_role":
        session = [(f"session{i}", d) for i, d in enumerate(policies.get("session") or [])]
    scp_levels = [
        [(f"scp{n}-{i}", d) for i, d in enumerate(level)]
        for n, level in enumerate(policies.get("scp") or [])
    ]

    # Step 1: an applicable Deny anywhere; the first denying layer (each SCP level is one).
    deny_checks = [("scp", _applicable("scp", level, req, DENY_EFFECT)) for level in scp_levels]
    deny_checks += [("rcp", rcp_denies)]
    deny_checks += [
        (
            resource_layer,
            [
                r
                for _, r in _resource_grants(
                    resource_layer, resource_policy, req, DENY_EFFECT, bool(boundary)
                )
            ],
        ),
        ("identity", _applicable("identity", identity, req, DENY_EFFECT)),
        ("boundary", _applicable("boundary", boundary, req, DENY_EFFECT)),
        ("session", _applicable("session", session, req, DENY_EFFECT)),
    ]
    for layer, denied in deny_checks:
        if denied:
            return _explicit(layer, denied)

    # Step 2: every SCP level must allow (§3.8).
    if not all(_applicable("scp", level, req, ALLOW_EFFECT) for level in scp_levels):
        return _implicit("scp")

    found = _resource_grants(resource_layer, resource_policy, req, ALLOW_EFFECT)
    grants = {k for k, _ in found}
    grant_refs = [ref for _, ref in found]
    identity_refs = _applicable("identity", identity, req, ALLOW_EFFECT)
    identity_allows = kind == "root" or bool(identity_refs)
    boundary_refs = _applicable("boundary", boundary, req, ALLOW_EFFECT)
    session_refs = _applicable("session", session, req, ALLOW_EFFECT)
    caps = (
        ("boundary", not boundary or bool(boundary_refs)),
        ("session", not session or bool(session_refs)),
    )
    cap_refs = boundary_refs + session_refs
    owner = resource.get("account")
    if owner is not None and owner != principal["account"]:
        # §3.4: the resource account must grant (any form) and the caller's account must
        # allow on its own (identity ∩ boundary ∩ session).
        if not grants:
            return _implicit(resource_layer)
        return _capped(identity_allows, caps, identity_refs, cap_refs, grant_refs)

    if DIRECT in grants:  # §3.3 step 3a
        if trust and not caps[0][1]:
            return _implicit("boundary")  # [TRUSTEDIT]
        return _allow(grant_refs)
    if (trust or _key_policy_required(req.resource)) and not grants:
        # §3.3 step 4 special case: a trust policy / KMS key policy must name the caller
        return _implicit(resource_layer)
    if ROLE in grants and all(allows for _, allows in caps):  # §3.3 step 3b
        return _allow(grant_refs, cap_refs)
    # §3.3 steps 3c/4: an identity Allow, then the caps.
    return _capped(identity_allows or ROLE in grants, caps, identity_refs, cap_refs, ())


def _key_policy_required(resource: str) -> bool:
    """KMS keys (§3.3 step 4): the key policy must allow; IAM policies alone never do."""
    parts = resource.split(":", 5)
    return len(parts) == 6 and parts[2] == "kms" and parts[5].startswith("key/")


def _capped(
    granted: bool,
    caps: tuple[tuple[str, bool], ...],
    *refs: Iterable[str],
) -> RefDecision:
    """Steps 4-7: something must grant, then the boundary and session policies must allow."""
    if not granted:
        return _implicit("identity")
    for layer, allows in caps:
        if not allows:
            return _implicit(layer)
    return _allow(*refs)
