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

import json
from collections.abc import Callable
from functools import lru_cache, wraps
from typing import Any, TypedDict

from hypothesis import strategies as hst

from tests.differential import pools as p


class _Memoized:
    """``hypothesis.strategies`` with every strategy factory memoised on its (hashable)
    arguments: the composites below ask for the same strategies on every draw, and building
    one (validation, emptiness checks) cost more than drawing from it (profiled: ~4x)."""

    def __init__(self) -> None:
        self._cache: dict[str, Callable[..., Any]] = {}

    def __getattr__(self, name: str) -> Any:
        factory = getattr(hst, name)
        if isinstance(factory, type) or not callable(factory):
            return factory
        if name not in self._cache:
            memo = lru_cache(maxsize=4096)(factory)

            @wraps(factory)
            def cached(*args: Any, **kwargs: Any) -> Any:
                try:
                    return memo(*args, **kwargs)
                except TypeError:  # an unhashable argument
                    return factory(*args, **kwargs)

            self._cache[name] = cached
        return self._cache[name]


st: Any = _Memoized()


def _memo(factory: Callable[..., Any]) -> Callable[..., Any]:
    """The same memo for this module's own composite strategy factories."""
    memo = lru_cache(maxsize=4096)(factory)

    @wraps(factory)
    def cached(*args: Any, **kwargs: Any) -> Any:
        try:
            return memo(*args, **kwargs)
        except TypeError:
            return factory(*args, **kwargs)

    return cached


Json = dict[str, Any]
Draw = hst.DrawFn


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


@_memo
@st.composite
def _condition_entry(draw: Draw, extra_keys: tuple[str, ...] = ()) -> tuple[str, str, Any]:
    """(operator name, key, value) for one key test of a Condition block."""
    if draw(st.integers(0, 9)) == 0:
        key = draw(st.sampled_from(_ALL_KEYS + extra_keys))
        return "Null", key, draw(st.sampled_from(("true", "false", True, False)))
    family = draw(st.sampled_from(tuple(sorted(_FAMILIES))))
    operators, keys, values = _FAMILIES[family]
    if family == "string":
        keys = keys + extra_keys
    base = draw(st.sampled_from(operators))
    qualifier = draw(st.sampled_from(("", "", "", "ForAllValues:", "ForAnyValue:")))
    if_exists = "IfExists" if draw(st.integers(0, 3)) == 0 else ""
    return f"{qualifier}{base}{if_exists}", draw(st.sampled_from(keys)), _one_or_list(draw, values)


@_memo
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


_PRINCIPAL_SHAPES = (
    "star",
    "aws-star",
    "aws",
    "aws",
    "aws",
    "service",
    "mixed",
    "unique-id",
    "federated",
    "canonical",
)


@_memo
@st.composite
def principal_elements(draw: Draw, partition: str = "aws") -> Any:
    """A Principal/NotPrincipal value: ``*``, ``{"AWS": "*"}``, accounts, root/user/role/
    session ARNs of the three accounts (in ``partition``), unique ids, service names,
    ``Federated`` providers, ``CanonicalUser`` ids, or a mix."""
    shape = draw(st.sampled_from(_PRINCIPAL_SHAPES))
    if shape == "star":
        return "*"
    if shape == "aws-star":
        return {"AWS": "*"}
    aws_pool = tuple(v for a in p.ACCOUNTS[:3] for v in p.principal_values(a, partition))
    element: Json = {}
    if shape in ("aws", "mixed"):
        element["AWS"] = _one_or_list(draw, aws_pool)
    if shape == "unique-id":
        element["AWS"] = _one_or_list(draw, p.USER_IDS + p.ROLE_IDS + aws_pool[:6])
    if shape in ("service", "mixed"):
        element["Service"] = _one_or_list(draw, p.SERVICES, 2)
    if shape == "federated":
        element["Federated"] = draw(st.sampled_from(p.FEDERATED))
    if shape == "canonical":
        element["CanonicalUser"] = draw(st.sampled_from(p.CANONICAL_USERS))
    if shape in ("federated", "canonical") and draw(st.booleans()):
        element["AWS"] = _one_or_list(draw, aws_pool)
    return element


@_memo
@st.composite
def statements(
    draw: Draw,
    *,
    kind: str,
    actions: tuple[str, ...] = p.ACTION_PATTERNS,
    resources: tuple[str, ...] = p.RESOURCE_PATTERNS,
    extra_keys: tuple[str, ...] = (),
    partition: str = "aws",
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
        statement["NotPrincipal" if negate else "Principal"] = draw(principal_elements(partition))
    block = draw(conditions(extra_keys))
    if block is not None:
        statement["Condition"] = block
    return statement


@_memo
@st.composite
def policies_of(
    draw: Draw,
    *,
    kind: str,
    managed: bool = False,
    actions: tuple[str, ...] = p.ACTION_PATTERNS,
    resources: tuple[str, ...] = p.RESOURCE_PATTERNS,
    extra_keys: tuple[str, ...] = (),
    max_statements: int = 4,
    partition: str = "aws",
) -> Json:
    """A policy document. Managed documents (boundary, session, SCP) are always Version
    2012-10-17; inline and resource ones occasionally 2008-10-17 or without Version."""
    body = draw(
        st.lists(
            statements(
                kind=kind,
                actions=actions,
                resources=resources,
                extra_keys=extra_keys,
                partition=partition,
            ),
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


@_memo
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


@_memo
@st.composite
def principals(draw: Draw, kinds: tuple[str, ...] | None = None, partition: str = "aws") -> Json:
    """A caller: user (now and then with its unique id), root, role session, service or
    anonymous, in account A, B or C, in ``partition``."""
    kinds = kinds or ("user",) * 3 + ("assumed_role",) * 3 + ("root", "service", "anonymous")
    kind = draw(st.sampled_from(kinds))
    account = draw(st.sampled_from(p.ACCOUNTS))
    arn = f"arn:{partition}"
    if kind == "user":
        name = draw(st.sampled_from(p.USERS))
        user = {"type": "user", "arn": f"{arn}:iam::{account}:user/{name}", "account": account}
        if draw(st.booleans()):
            user["user_id"] = p.USER_IDS[p.USERS.index(name)]
        return user
    if kind == "root":
        return {"type": "root", "arn": f"{arn}:iam::{account}:root", "account": account}
    if kind == "assumed_role":
        role, session = draw(st.sampled_from(p.ROLES)), draw(st.sampled_from(p.SESSIONS))
        principal = {
            "type": "assumed_role",
            "arn": f"{arn}:sts::{account}:assumed-role/{role}/{session}",
            "role_arn": f"{arn}:iam::{account}:role/{role}",
            "account": account,
        }
        if draw(st.booleans()):
            principal["role_id"] = p.ROLE_IDS[p.ROLES.index(role)]
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
    "aws:PrincipalOrgID": p.ORG_IDS,
    "aws:RequestTag/team": p.STRING_VALUES,
    "aws:ResourceTag/env": p.STRING_VALUES,
    "aws:ResourceTag/team": p.STRING_VALUES,
    "aws:MultiFactorAuthAge": p.MFA_AGE_VALUES,
    "aws:EpochTime": p.EPOCH_VALUES,
    "aws:TokenIssueTime": p.DATE_VALUES,
}


@_memo
@st.composite
def contexts(draw: Draw) -> Json:
    """A request context: a random subset of keys (absent keys are the interesting case),
    ``aws:TagKeys`` as an array of 0-3 keys, and now and then an array for a normally
    single-valued key."""
    context: Json = {}
    for key in draw(
        st.lists(st.sampled_from(tuple(sorted(_CONTEXT_VALUES))), max_size=5, unique=True)
    ):
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
    groups: list[list[Json]] = []
    if kind == "user" and draw(st.integers(0, 2)) == 0:  # group policies: users only
        groups = draw(st.lists(st.lists(identity_docs, min_size=1, max_size=2), max_size=2))
    return {
        "identity": draw(st.lists(identity_docs, max_size=4)) if entity else [],
        "groups": groups,
        "permissions_boundary": draw(st.none() | managed_docs) if entity else None,
        "session": draw(st.lists(managed_docs, max_size=1)) if kind == "assumed_role" else [],
        "scp": draw(scp_levels(scope)) if kind in ("user", "root", "assumed_role") else [],
    }


@_memo
@st.composite
def policies_and_requests(draw: Draw) -> tuple[Json, Json]:
    """``(policies, request)`` in the ``authorize`` vector shape, for ``evaluate``."""
    partition = draw(st.sampled_from(p.PARTITIONS))
    principal = draw(principals(partition=partition))
    own = principal.get("account", p.ACCOUNT_A)
    others = tuple(a for a in p.ACCOUNTS[:3] if a != own)
    account = draw(st.sampled_from((own, own, own, *others)))
    action = draw(st.sampled_from(p.ACTIONS * 4 + p.EXTRA_ACTIONS))
    arn = draw(st.sampled_from(p.resource_arns(account, partition)))
    request = {
        "principal": principal,
        "action": action,
        "resource": {"arn": arn, "account": account},
        "context": draw(contexts()),
    }
    # The request's own action and resource join the pools so that statements hit often.
    scope: Scope = {
        "actions": p.ACTION_PATTERNS + (action,) * 15,
        "resources": p.RESOURCE_PATTERNS + (request["resource"]["arn"],) * 20,
    }
    policies = _caller_policies(draw, principal, scope)
    resource_docs = policies_of(kind="resource", partition=partition, **scope)
    policies["resource"] = draw(st.none() | resource_docs)
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


@_memo
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
    keys = ("identity", "groups", "resource", "permissions_boundary", "session", "scp")
    return {key: policies[key] for key in keys if key != "groups" or policies[key]}


# --- several requests against one policy set (as cedar-drt's generators do) -------------


@_memo
@st.composite
def _more_requests(draw: Draw, request_json: str, trust: bool) -> list[Json]:
    """1-3 further requests of the same caller: another action and context, and (authorize)
    another resource of the same account and partition."""
    first = json.loads(request_json)
    out = []
    for _ in range(draw(st.integers(1, 3))):
        request = dict(first)
        if trust:
            context = draw(contexts())
            context["sts:RoleSessionName"] = draw(st.sampled_from(p.USERS + p.SESSIONS))
            if draw(st.booleans()):
                context["sts:ExternalId"] = draw(st.sampled_from(("ext-1", "ext-2")))
            request["action"] = draw(st.sampled_from(_TRUST_ACTIONS))
        else:
            context = draw(contexts())
            account = first["resource"]["account"]
            partition = first["resource"]["arn"].split(":")[1]
            arn = draw(st.sampled_from(p.resource_arns(account, partition)))
            request["action"] = draw(st.sampled_from(p.ACTIONS * 4 + p.EXTRA_ACTIONS))
            request["resource"] = {"arn": arn, "account": account}
        request["context"] = context
        out.append(request)
    return out


@st.composite
def policy_sets_and_requests(draw: Draw, trust: bool = False) -> tuple[Json, list[Json]]:
    """``(policies, requests)``: one generated policy set (the expensive part to draw) and
    2-4 requests against it — the first as ``policies_and_requests`` (or the trust variant)
    draws it, the others varying action, resource and context."""
    base = trust_policies_and_requests() if trust else policies_and_requests()
    policies, request = draw(base)
    more = draw(_more_requests(json.dumps(request, sort_keys=True), trust))
    return policies, [request, *more]
