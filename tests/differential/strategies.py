"""Hypothesis strategies for differential testing: random but valid IAM policy sets with a
request, in the shape of the ``authorize`` decision vectors (cases README).

Owns ``policies_and_requests()`` (authorize-shaped pairs for ``evaluate(request, policies)``)
and ``trust_policies_and_requests()`` (pairs whose resource policy is a role trust policy,
for ``evaluate(request, policies, trust=True)``). Both yield ``(policies, request)``.

Coverage (iam-semantics.md): Allow/Deny, Action/NotAction with ``*``/``?``, Resource and
NotResource with wildcards in ARN components 1-5 and variables in component 6 (§2), resource
policy principals of every form and NotPrincipal (§2.3), every condition operator family with
IfExists, ForAllValues/ForAnyValue, Null and policy variables (§4), contexts with present,
missing and multivalued keys, every caller kind, same and cross account, boundaries, session
policies and SCP levels (§3). Value alphabets live in ``pools`` and are small on purpose.
Generated documents are valid IAM: no partial-wildcard principals, no NotPrincipal or
Resource or NotAction in trust policies, variables only where §4.6 allows them, unique Sids.
"""

from __future__ import annotations

from typing import Any, TypedDict

from hypothesis import strategies as st

from tests.differential import pools as p

Json = dict[str, Any]
Draw = st.DrawFn


class Scope(TypedDict):
    """The action and resource pools a caller's policies draw from (``policies_of`` kwargs)."""

    actions: tuple[str, ...]
    resources: tuple[str, ...]


# family -> (base operators, keys, policy values)
_FAMILIES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[Any, ...]]] = {
    "string": (
        (
            "StringEquals",
            "StringNotEquals",
            "StringEqualsIgnoreCase",
            "StringNotEqualsIgnoreCase",
            "StringLike",
            "StringNotLike",
        ),
        p.STRING_KEYS + p.PRINCIPAL_KEYS + p.MULTI_KEYS,
        p.STRING_POLICY_VALUES + p.TAG_KEYS,
    ),
    "numeric": (
        (
            "NumericEquals",
            "NumericNotEquals",
            "NumericLessThan",
            "NumericLessThanEquals",
            "NumericGreaterThan",
            "NumericGreaterThanEquals",
        ),
        (*p.NUMERIC_KEYS, "s3:prefix"),
        (*p.NUMERIC_POLICY_VALUES, 10, 5),
    ),
    "date": (
        (
            "DateEquals",
            "DateNotEquals",
            "DateLessThan",
            "DateLessThanEquals",
            "DateGreaterThan",
            "DateGreaterThanEquals",
        ),
        p.DATE_KEYS,
        p.DATE_POLICY_VALUES,
    ),
    "bool": (("Bool",), p.BOOL_KEYS, ("true", "false", True, False)),
    "binary": (("BinaryEquals",), p.BINARY_KEYS, p.BINARY_POLICY_VALUES),
    "ip": (("IpAddress", "NotIpAddress"), p.IP_KEYS, p.IP_POLICY_VALUES),
    "arn": (
        ("ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike"),
        p.ARN_KEYS,
        p.ARN_POLICY_VALUES,
    ),
}
_ALL_KEYS = tuple(sorted({k for _, keys, _ in _FAMILIES.values() for k in keys}))
_TRUST_KEYS = ("sts:ExternalId", "sts:RoleSessionName", "sts:TransitiveTagKeys")


def _one_or_list(draw: Draw, pool: tuple[Any, ...], max_size: int = 3) -> Any:
    """A policy element value: a single scalar or an array of 1..max_size distinct ones
    (draws are few and cheap: generation, not evaluation, dominates the run time)."""
    size = draw(st.integers(0, max_size))
    if size == 0:
        return draw(st.sampled_from(pool))
    values = [draw(st.sampled_from(pool)) for _ in range(size)]
    return [v for i, v in enumerate(values) if v not in values[:i]]


@st.composite
def _condition_entry(draw: Draw, extra_keys: tuple[str, ...] = ()) -> tuple[str, str, Any]:
    """(operator name, key, value) for one key test of a Condition block."""
    if draw(st.integers(0, 9)) == 0:
        key = draw(st.sampled_from(_ALL_KEYS + extra_keys))
        return "Null", key, draw(st.sampled_from(("true", "false", True, False)))
    family = draw(st.sampled_from(sorted(_FAMILIES)))
    operators, keys, values = _FAMILIES[family]
    if family == "string":
        keys = keys + extra_keys
    base = draw(st.sampled_from(operators))
    qualifier = draw(st.sampled_from(("", "", "", "ForAllValues:", "ForAnyValue:")))
    if_exists = "IfExists" if draw(st.integers(0, 3)) == 0 else ""
    return f"{qualifier}{base}{if_exists}", draw(st.sampled_from(keys)), _one_or_list(draw, values)


@st.composite
def conditions(draw: Draw, extra_keys: tuple[str, ...] = ()) -> Json | None:
    """A Condition block (a third of the time): 1-2 key tests; operator names are unique
    JSON keys."""
    if draw(st.integers(0, 2)) != 0:
        return None
    block: Json = {}
    for operator, key, value in draw(
        st.lists(_condition_entry(extra_keys), min_size=1, max_size=2)
    ):
        block.setdefault(operator, {})[key] = value
    return block


@st.composite
def principal_elements(draw: Draw) -> Any:
    """A Principal/NotPrincipal value: ``*``, ``{"AWS": "*"}``, accounts, root/user/role/
    session ARNs of both accounts, service names, or a mix."""
    shape = draw(st.sampled_from(("star", "aws-star", "aws", "aws", "service", "mixed")))
    if shape == "star":
        return "*"
    if shape == "aws-star":
        return {"AWS": "*"}
    aws_pool = p.principal_values(p.ACCOUNT_A) + p.principal_values(p.ACCOUNT_B)
    element: Json = {}
    if shape in ("aws", "mixed"):
        element["AWS"] = _one_or_list(draw, aws_pool)
    if shape in ("service", "mixed"):
        element["Service"] = _one_or_list(draw, p.SERVICES, 2)
    return element


@st.composite
def statements(
    draw: Draw,
    *,
    kind: str,
    actions: tuple[str, ...] = p.ACTION_PATTERNS,
    resources: tuple[str, ...] = p.RESOURCE_PATTERNS,
    extra_keys: tuple[str, ...] = (),
) -> Json:
    """One statement for a policy of ``kind``: identity (also boundary, session, SCP),
    resource, or trust."""
    statement: Json = {"Effect": draw(st.sampled_from(("Allow", "Allow", "Deny")))}
    # Trust policies name their actions (the parser rejects NotAction there).
    negate_action = kind != "trust" and draw(st.integers(0, 4)) == 0
    action_element = "NotAction" if negate_action else "Action"
    statement[action_element] = _one_or_list(draw, actions, 2)
    if kind != "trust":
        resource_element = "NotResource" if draw(st.integers(0, 4)) == 0 else "Resource"
        statement[resource_element] = _one_or_list(draw, resources, 2)
    if kind in ("resource", "trust"):
        negate = kind == "resource" and draw(st.integers(0, 5)) == 0
        statement["NotPrincipal" if negate else "Principal"] = draw(principal_elements())
    block = draw(conditions(extra_keys))
    if block is not None:
        statement["Condition"] = block
    return statement


@st.composite
def policies_of(
    draw: Draw,
    *,
    kind: str,
    managed: bool = False,
    actions: tuple[str, ...] = p.ACTION_PATTERNS,
    resources: tuple[str, ...] = p.RESOURCE_PATTERNS,
    extra_keys: tuple[str, ...] = (),
    max_statements: int = 2,
) -> Json:
    """A policy document. Managed documents (boundary, session, SCP) are always Version
    2012-10-17; inline and resource ones occasionally 2008-10-17 or without Version."""
    body = draw(
        st.lists(
            statements(kind=kind, actions=actions, resources=resources, extra_keys=extra_keys),
            min_size=1,
            max_size=max_statements,
        )
    )
    for index, statement in enumerate(body):
        if index % 2:
            statement["Sid"] = f"S{index}"
    policy: Json = {}
    version = "2012-10-17"
    if not managed:
        version = draw(st.sampled_from(("2012-10-17",) * 8 + ("2008-10-17", "")))
    if version:
        policy["Version"] = version
    policy["Statement"] = body[0] if len(body) == 1 and draw(st.booleans()) else body
    return policy


_ALLOW_ALL = {"Effect": "Allow", "Action": "*", "Resource": "*"}


@st.composite
def scp_levels(draw: Draw, scope: Scope) -> list[list[Json]]:
    """[] (no Organization, two thirds of the time) or 1-2 OU levels of 0-1 random SCPs;
    most levels also allow everything, so that SCPs rarely block by accident."""
    if draw(st.integers(0, 2)) != 0:
        return []
    levels = []
    for _ in range(draw(st.integers(1, 2))):
        level = draw(st.lists(policies_of(kind="identity", managed=True, **scope), max_size=1))
        if draw(st.integers(0, 9)) != 0:
            level.append({"Version": "2012-10-17", "Statement": [dict(_ALLOW_ALL)]})
        levels.append(level)
    return levels


@st.composite
def principals(draw: Draw, kinds: tuple[str, ...] | None = None) -> Json:
    """A caller: user, root, role session, service or anonymous, in account A or B."""
    kinds = kinds or ("user",) * 3 + ("assumed_role",) * 3 + ("root", "service", "anonymous")
    kind = draw(st.sampled_from(kinds))
    account = draw(st.sampled_from(p.ACCOUNTS))
    if kind == "user":
        name = draw(st.sampled_from(p.USERS))
        return {"type": "user", "arn": f"arn:aws:iam::{account}:user/{name}", "account": account}
    if kind == "root":
        return {"type": "root", "arn": f"arn:aws:iam::{account}:root", "account": account}
    if kind == "assumed_role":
        role, session = draw(st.sampled_from(p.ROLES)), draw(st.sampled_from(p.SESSIONS))
        principal = {
            "type": "assumed_role",
            "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
            "role_arn": f"arn:aws:iam::{account}:role/{role}",
            "account": account,
        }
        if draw(st.booleans()):
            principal["role_id"] = f"AROAEXAMPLEROLEID000{p.ROLES.index(role) + 1}"
        return principal
    if kind == "service":
        return {"type": "service", "arn": draw(st.sampled_from(p.SERVICES))}
    return {"type": "anonymous"}


_CONTEXT_VALUES: dict[str, tuple[str, ...]] = {
    "aws:PrincipalTag/team": p.STRING_VALUES,
    "aws:PrincipalTag/Team": p.STRING_VALUES,
    "s3:prefix": p.STRING_VALUES,
    "aws:username": p.STRING_VALUES,
    "s3:max-keys": p.NUMERIC_VALUES,
    "aws:CurrentTime": p.DATE_VALUES,
    "aws:SecureTransport": p.BOOL_VALUES,
    "aws:MultiFactorAuthPresent": p.BOOL_VALUES,
    "aws:SourceIp": p.IP_VALUES,
    "aws:SourceArn": p.ARN_VALUES,
    "example:blob": p.BINARY_VALUES,
}


@st.composite
def contexts(draw: Draw) -> Json:
    """A request context: a random subset of keys (absent keys are the interesting case),
    ``aws:TagKeys`` as an array of 0-3 keys, and now and then an array for a normally
    single-valued key."""
    context: Json = {}
    for key in draw(st.lists(st.sampled_from(sorted(_CONTEXT_VALUES)), max_size=4, unique=True)):
        if key.lower() in {k.lower() for k in context}:
            continue  # two spellings of one key: keep the first
        values = _CONTEXT_VALUES[key]
        if draw(st.integers(0, 9)) == 0:
            context[key] = draw(st.lists(st.sampled_from(values), min_size=1, max_size=2))
        else:
            context[key] = draw(st.sampled_from(values))
    if draw(st.booleans()):
        tag_keys = draw(st.lists(st.sampled_from(p.TAG_KEYS), max_size=3, unique=True))
        context["aws:TagKeys"] = (
            tag_keys[0] if len(tag_keys) == 1 and draw(st.booleans()) else tag_keys
        )
    return context


def _caller_policies(draw: Draw, principal: Json, scope: Scope) -> Json:
    """Identity, boundary, session and SCP layers that fit the caller's kind."""
    kind = principal["type"]
    entity = kind in ("user", "assumed_role")
    identity_docs = policies_of(kind="identity", **scope)
    managed_docs = policies_of(kind="identity", managed=True, **scope)
    return {
        "identity": draw(st.lists(identity_docs, max_size=2)) if entity else [],
        "permissions_boundary": draw(st.none() | managed_docs) if entity else None,
        "session": draw(st.lists(managed_docs, max_size=1)) if kind == "assumed_role" else [],
        "scp": draw(scp_levels(scope)) if kind in ("user", "root", "assumed_role") else [],
    }


@st.composite
def policies_and_requests(draw: Draw) -> tuple[Json, Json]:
    """``(policies, request)`` in the ``authorize`` vector shape, for ``evaluate``."""
    principal = draw(principals())
    own = principal.get("account", p.ACCOUNT_A)
    account = draw(
        st.sampled_from((own, own, own, p.ACCOUNT_B if own == p.ACCOUNT_A else p.ACCOUNT_A))
    )
    action = draw(st.sampled_from(p.ACTIONS * 4 + p.EXTRA_ACTIONS))
    request = {
        "principal": principal,
        "action": action,
        "resource": {"arn": draw(st.sampled_from(p.resource_arns(account))), "account": account},
        "context": draw(contexts()),
    }
    # The request's own action and resource join the pools so that statements hit often.
    scope: Scope = {
        "actions": p.ACTION_PATTERNS + (action,) * 15,
        "resources": p.RESOURCE_PATTERNS + (request["resource"]["arn"],) * 20,
    }
    policies = _caller_policies(draw, principal, scope)
    policies["resource"] = draw(st.none() | policies_of(kind="resource", **scope))
    return _ordered(policies), request


# Trust policies name the STS actions one by one (the parser rejects other trust actions).
_TRUST_ACTIONS = ("sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity")
_ROLE_ARN = f"arn:aws:iam::{p.ACCOUNT_A}:role/target"
_ROLE_PATTERNS = (
    "*",
    _ROLE_ARN,
    "arn:aws:iam::*:role/*",
    f"arn:aws:iam::{p.ACCOUNT_A}:role/t*",
    f"arn:aws:iam::{p.ACCOUNT_A}:role/other",
    "arn:aws:s3:::bucket-a/*",
)


@st.composite
def trust_policies_and_requests(draw: Draw) -> tuple[Json, Json]:
    """``(policies, request)`` for ``evaluate(..., trust=True)``: a call of sts:AssumeRole
    (or sts:TagSession / sts:SetSourceIdentity) on a role in account A whose trust policy is
    ``policies["resource"]`` (no Resource element, no NotPrincipal; §1.2, §3.5)."""
    principal = draw(principals(("user", "user", "assumed_role", "assumed_role", "service")))
    context = draw(contexts())
    context["sts:RoleSessionName"] = draw(st.sampled_from(p.USERS + p.SESSIONS))
    if draw(st.booleans()):
        context["sts:ExternalId"] = draw(st.sampled_from(("ext-1", "ext-2")))
    if draw(st.booleans()):
        context["sts:TransitiveTagKeys"] = draw(st.lists(st.sampled_from(p.TAG_KEYS), max_size=2))
    request = {
        "principal": principal,
        "action": draw(st.sampled_from(_TRUST_ACTIONS)),
        "resource": {"arn": _ROLE_ARN, "account": p.ACCOUNT_A},
        "context": context,
    }
    scope: Scope = {
        "actions": (*_TRUST_ACTIONS, "sts:*", "sts:Assume*", "*", "s3:*"),
        "resources": _ROLE_PATTERNS,
    }
    policies = _caller_policies(draw, principal, scope)
    policies["resource"] = draw(
        policies_of(kind="trust", actions=_TRUST_ACTIONS, extra_keys=_TRUST_KEYS)
    )
    return _ordered(policies), request


def _ordered(policies: Json) -> Json:
    keys = ("identity", "resource", "permissions_boundary", "session", "scp")
    return {key: policies[key] for key in keys}
