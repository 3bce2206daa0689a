"""Vector shapes (cases README) → the product's ``PolicyLayers`` / ``AuthRequest``, through the
product's own parser. Shared by the vector tests and the differential test."""

from __future__ import annotations

import json
from typing import Any

from authz.iam.model import (
    AuthRequest,
    Caller,
    CallerKind,
    Policy,
    PolicyLayers,
    PolicyType,
    normalize_context,
)
from authz.iam.parse import parse_policy


def parse(doc: Any, policy_type: PolicyType, name: str) -> Policy:
    if isinstance(doc, str):
        doc = json.loads(doc)
    if policy_type is PolicyType.RESOURCE:
        doc = _without_principal_less(doc)
    return parse_policy(doc, policy_type, name=name)


def _without_principal_less(doc: dict[str, Any]) -> dict[str, Any]:
    """A resource-policy statement without Principal/NotPrincipal applies to nobody (spec §2.3);
    the parser rejects it, so drop it here (same meaning)."""
    statements = doc.get("Statement")
    items = [statements] if isinstance(statements, dict) else list(statements or [])
    kept = [s for s in items if "Principal" in s or "NotPrincipal" in s]
    if len(kept) == len(items):
        return doc
    return {
        **doc,
        "Statement": kept
        or [
            {
                "Effect": "Deny",
                "Principal": {"AWS": "000000000000"},
                "Action": "none:none",
                "Resource": "arn:aws:none:::x",
            }
        ],
    }


def caller_of(principal: dict[str, Any]) -> Caller:
    kind = principal["type"]
    if kind == "anonymous":
        return Caller(CallerKind.ANONYMOUS)
    if kind == "service":
        return Caller(CallerKind.SERVICE, arn=principal["arn"])
    if kind == "assumed_role":
        session = principal["arn"].rsplit("/", 1)[-1]
        role_id = principal.get("role_id")
        return Caller(
            CallerKind.ASSUMED_ROLE,
            arn=principal["arn"],
            account=principal.get("account"),
            role_arn=principal.get("role_arn"),
            unique_id=f"{role_id}:{session}" if role_id else None,
        )
    return Caller(
        CallerKind(kind),
        arn=principal["arn"],
        account=principal.get("account"),
        unique_id=principal.get("user_id")
        or (principal.get("account") if kind == "root" else None),
    )


def layers_of(policies: dict[str, Any]) -> PolicyLayers:
    """The layers of a vector's policies; ``groups`` (lists of group policies, a user's only)
    join the identity layer after the user's own, named ``group<g>-<i>``."""

    def many(docs: list[Any], ptype: PolicyType, label: str) -> tuple[Policy, ...]:
        return tuple(parse(d, ptype, f"{label}{i}") for i, d in enumerate(docs or []))

    resource = policies.get("resource")
    boundary = policies.get("permissions_boundary")
    groups = tuple(
        policy
        for g, group in enumerate(policies.get("groups") or [])
        for policy in many(group, PolicyType.IDENTITY, f"group{g}-")
    )
    return PolicyLayers(
        identity=many(policies.get("identity", []), PolicyType.IDENTITY, "identity") + groups,
        resource=parse(resource, PolicyType.RESOURCE, "resource") if resource else None,
        boundary=parse(boundary, PolicyType.BOUNDARY, "boundary") if boundary else None,
        session=many(policies.get("session", []), PolicyType.SESSION, "session"),
        scp=tuple(
            many(level, PolicyType.SCP, f"scp{n}-")
            for n, level in enumerate(policies.get("scp", []))
        ),
        rcp=tuple(
            many(level, PolicyType.RCP, f"rcp{n}-")
            for n, level in enumerate(policies.get("rcp", []))
        ),
    )


def request_of(req: dict[str, Any]) -> AuthRequest:
    return AuthRequest(
        caller=caller_of(req["principal"]),
        action=req["action"],
        resource=req["resource"]["arn"],
        resource_account=req["resource"].get("account"),
        context=normalize_context(req.get("context", {})),
    )


def layers_for(policies: dict[str, Any], *, trust: bool = False) -> PolicyLayers:
    layers = layers_of({**policies, "resource": None})
    resource = policies.get("resource")
    if resource:
        ptype = PolicyType.TRUST if trust else PolicyType.RESOURCE
        name = "role/target/trust" if trust else "resource"
        layers = PolicyLayers(
            layers.identity,
            parse(resource, ptype, name),
            layers.boundary,
            layers.session,
            layers.scp,
            layers.rcp,
        )
    return layers
