"""Principal identifiers (spec §2.3): how a ``Principal`` / ``NotPrincipal`` entry and a caller
are spelled as members of the ``context.pids`` / ``context.pself`` sets, and how a matched
resource-policy grant is classified for the combiner (direct, role, account, service).

Why sets in the context rather than an entity hierarchy: resource and trust partitions are shared
by all callers, so the caller's ancestry would have to be added to the entity store per request
(a clone of the store); a small set in the context costs about a microsecond and expresses role +
sessions, account, unique ids and NotPrincipal exactly. Must not import cedarpy.
"""

from __future__ import annotations

import re

from authz.iam.model import Caller, CallerKind, PrincipalSpec, Statement

_ACCOUNT = re.compile(r"^\d{12}$")
_ROOT = re.compile(r"^arn:[^:]+:iam::(\d{12}):root$")


def entry_ids(spec: PrincipalSpec) -> list[str]:
    """The set members an element lists (``*`` is handled by the caller)."""
    out: list[str] = []
    for entry in spec.aws:
        if _ACCOUNT.match(entry):
            out.append(f"acct:{entry}")
        elif (root := _ROOT.match(entry)) is not None:
            out.append(f"acct:{root.group(1)}")
        elif entry.startswith("arn:"):
            out.append(f"arn:{entry}")
        else:
            out.append(f"id:{entry}")
    out.extend(f"svc:{s.lower()}" for s in spec.service if s != "*")
    out.extend(f"fed:{f}" for f in spec.federated if f != "*")
    out.extend(f"cu:{c}" for c in spec.canonical_user if c != "*")
    return sorted(set(out))


def role_id(caller: Caller) -> str | None:
    if caller.unique_id and caller.unique_id.startswith("AROA"):
        return caller.unique_id.split(":", 1)[0]
    return None


# Added to ``pself`` when the caller has a permissions boundary: a resource-policy Deny with
# ``NotPrincipal`` then applies whatever the element lists (spec §2.3). Not an identifier
# spelling any policy entry can produce (those are ``arn:``, ``id:``, ``acct:``, ``svc:``...).
BOUNDED_MARKER = "bounded:"


def caller_ids(caller: Caller) -> tuple[frozenset[str], frozenset[str]]:
    """(pids, pself): every identifier of the caller, and its most specific ones."""
    kind = caller.kind
    acct = {f"acct:{caller.account}"} if caller.account else set()
    if kind is CallerKind.ANONYMOUS:
        return frozenset(), frozenset()
    if kind is CallerKind.SERVICE:
        svc = frozenset({f"svc:{caller.arn.lower()}"})
        return svc, svc
    if kind is CallerKind.WEB_IDENTITY:
        fed = frozenset({f"fed:{caller.arn}"})
        return fed, fed
    if kind is CallerKind.ROOT:
        return frozenset(acct), frozenset(acct)
    own = {f"arn:{caller.arn}"}
    if kind is CallerKind.USER and caller.unique_id:
        own.add(f"id:{caller.unique_id}")
    rid = role_id(caller)
    if kind is CallerKind.ROLE and rid:
        own.add(f"id:{rid}")
    pids = set(own) | acct
    if kind is CallerKind.ASSUMED_ROLE:
        if caller.role_arn:
            pids.add(f"arn:{caller.role_arn}")
        if rid:
            pids.add(f"id:{rid}")
    return frozenset(pids), frozenset(own)


def grant_kinds(statement: Statement, caller: Caller) -> set[str]:
    """How an applicable resource-policy Allow names the caller (spec §3.3 step 3)."""
    spec = statement.principal
    if spec is None or spec.wildcard:
        return {"direct"}  # NotPrincipal allows, and "*", behave like a wildcard grant
    pids, _ = caller_ids(caller)
    role_members = set()
    if caller.kind in (CallerKind.ASSUMED_ROLE, CallerKind.ROLE):
        role_members = {f"arn:{caller.entity_arn}"}
        rid = role_id(caller)
        if rid:
            role_members.add(f"id:{rid}")
    kinds = set()
    for member in set(entry_ids(spec)) & pids:
        if member.startswith("acct:"):
            kinds.add("account")
        elif member.startswith("svc:"):
            kinds.add("service")
        elif member in role_members:
            kinds.add("role")
        else:
            kinds.add("direct")
    return kinds
