"""A tiny in-memory IAM account: the IAM API semantics the repository files follow (spec §7).

Owns ``IamAccount`` with ``create_role``, ``create_user``, ``create_policy``,
``put_role_policy`` and ``put_user_policy``, taking AWS API parameters as a mapping and raising
``authz.errors`` exceptions. The checks themselves are ``authz.iam.quotas`` (parameter
constraints and quotas) and ``authz.iam.parse`` (policy grammar); the repository loader calls
those directly, so both paths agree. Used by tests; the service never mutates IAM state.

A call fails with the first of, in this order:

1. ``ValidationError`` — every broken parameter constraint, in one message
   (``2 validation errors detected: …; …``);
2. ``NoSuchEntity`` (the user or role of ``Put*Policy`` does not exist) or
   ``EntityAlreadyExists`` (names are unique ignoring case);
3. ``LimitExceeded`` — a size quota (trust policy, managed policy, inline aggregate);
4. ``MalformedPolicyDocument`` — the document breaks the grammar (spec §1).

Inline policy names are unique per entity; putting a policy under an existing name replaces it
(and the replaced document no longer counts toward the aggregate quota).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from authz.errors import (
    EntityAlreadyExists,
    LimitExceeded,
    NoSuchEntity,
    ValidationError,
)
from authz.iam import quotas
from authz.iam.model import Policy, PolicyType
from authz.iam.parse import parse_policy
from authz.iam.quotas import QuotaProblem

ProblemCheck = Callable[[], list[QuotaProblem]]


@dataclass
class Entity:
    """A user or role: name as created, path, ARN, unique id, inline policies by name."""

    name: str
    path: str
    arn: str
    unique_id: str
    trust_policy: Policy | None = None
    max_session_duration: int = 3600
    inline: dict[str, tuple[str, Policy]] = field(default_factory=dict)


@dataclass(frozen=True)
class ManagedPolicy:
    name: str
    path: str
    arn: str
    policy: Policy


class IamAccount:
    """One account's users, roles and customer managed policies, in memory."""

    def __init__(self, account_id: str = "123456789012") -> None:
        self.account_id = account_id
        self.roles: dict[str, Entity] = {}
        self.users: dict[str, Entity] = {}
        self.policies: dict[str, ManagedPolicy] = {}

    # -- operations --------------------------------------------------------------------------

    def create_role(self, params: Mapping[str, Any]) -> dict[str, Any]:
        name, path = _param(params, "RoleName"), _param(params, "Path", "/")
        text = _param(params, "AssumeRolePolicyDocument")
        duration = _param(params, "MaxSessionDuration", 3600)
        problems = _collect(
            lambda: quotas.name_problems("role", name, "$.RoleName"),
            lambda: quotas.path_problems(path, "$.Path"),
            lambda: quotas.document_size_problems("trust", text, "$.AssumeRolePolicyDocument"),
            lambda: quotas.max_session_duration_problems(duration, "$.MaxSessionDuration"),
            lambda: quotas.tag_problems(_param(params, "Tags"), "$.Tags"),
        )
        _raise_validation(problems)
        self._unique(self.roles, name, f"Role with name {name} already exists.")
        _raise_limits(problems)
        trust = parse_policy(text, PolicyType.TRUST, name=f"role/{name}/trust")
        role = self._entity("role", "AROA", name, path)
        role.trust_policy, role.max_session_duration = trust, int(duration)
        self.roles[name.lower()] = role
        return {"Role": _describe(role) | {"MaxSessionDuration": role.max_session_duration}}

    def create_user(self, params: Mapping[str, Any]) -> dict[str, Any]:
        name, path = _param(params, "UserName"), _param(params, "Path", "/")
        problems = _collect(
            lambda: quotas.name_problems("user", name, "$.UserName"),
            lambda: quotas.path_problems(path, "$.Path"),
            lambda: quotas.tag_problems(_param(params, "Tags"), "$.Tags"),
        )
        _raise_validation(problems)
        self._unique(self.users, name, f"User with name {name} already exists.")
        user = self._entity("user", "AIDA", name, path)
        self.users[name.lower()] = user
        return {"User": _describe(user)}

    def create_policy(self, params: Mapping[str, Any]) -> dict[str, Any]:
        name, path = _param(params, "PolicyName"), _param(params, "Path", "/")
        text = _param(params, "PolicyDocument")
        problems = _collect(
            lambda: quotas.name_problems("policy", name, "$.PolicyName"),
            lambda: quotas.path_problems(path, "$.Path"),
            lambda: quotas.document_size_problems("managed", text, "$.PolicyDocument"),
            lambda: quotas.tag_problems(_param(params, "Tags"), "$.Tags"),
        )
        _raise_validation(problems)
        message = f"A policy called {name} already exists. Duplicate names are not allowed."
        self._unique(self.policies, name, message)
        _raise_limits(problems)
        arn = f"arn:aws:iam::{self.account_id}:policy{path}{name}"
        policy = parse_policy(text, PolicyType.MANAGED, name=arn)
        self.policies[name.lower()] = ManagedPolicy(name, path, arn, policy)
        return {"Policy": {"PolicyName": name, "Path": path, "Arn": arn}}

    def put_role_policy(self, params: Mapping[str, Any]) -> None:
        self._put_inline("role", self.roles, params)

    def put_user_policy(self, params: Mapping[str, Any]) -> None:
        self._put_inline("user", self.users, params)

    # -- helpers -----------------------------------------------------------------------------

    def _put_inline(self, kind: str, table: dict[str, Entity], params: Mapping[str, Any]) -> None:
        key = "RoleName" if kind == "role" else "UserName"
        name, policy_name = _param(params, key), _param(params, "PolicyName")
        text = _param(params, "PolicyDocument")
        _raise_validation(
            _collect(
                lambda: quotas.name_problems(kind, name, f"$.{key}"),
                lambda: quotas.name_problems("policy", policy_name, "$.PolicyName"),
                lambda: quotas.document_size_problems("inline", text, "$.PolicyDocument"),
            )
        )
        entity = table.get(name.lower())
        if entity is None:
            raise NoSuchEntity(f"The {kind} with name {name} cannot be found.")
        others = [t for n, (t, _) in entity.inline.items() if n != policy_name]
        _raise_limits(quotas.inline_aggregate_problems(kind, [*others, text], "$.PolicyDocument"))
        label = f"{kind}/{entity.name}/inline/{policy_name}"
        entity.inline[policy_name] = (text, parse_policy(text, PolicyType.IDENTITY, name=label))

    def _unique(self, table: Mapping[str, object], name: str, message: str) -> None:
        if name.lower() in table:
            raise EntityAlreadyExists(message)

    def _entity(self, kind: str, prefix: str, name: str, path: str) -> Entity:
        arn = f"arn:aws:iam::{self.account_id}:{kind}{path}{name}"
        return Entity(name, path, arn, _unique_id(prefix, arn))


def _param(params: Mapping[str, Any], key: str, default: Any = None) -> Any:
    """A request parameter (absent → ``default``); its constraints are checked by quotas."""
    return params.get(key, default)


def _collect(*checks: ProblemCheck) -> list[QuotaProblem]:
    return [problem for check in checks for problem in check()]


def _raise_validation(problems: Sequence[QuotaProblem]) -> None:
    invalid = [p for p in problems if p.code == "ValidationError"]
    if invalid:
        raise ValidationError(quotas.as_error_message(invalid), path=invalid[0].path)


def _raise_limits(problems: Sequence[QuotaProblem]) -> None:
    limits = [p for p in problems if p.code == "LimitExceeded"]
    if limits:
        raise LimitExceeded(limits[0].message, path=limits[0].path)


def _unique_id(prefix: str, arn: str) -> str:
    """A stable 21-character unique id (``AROA…``/``AIDA…``) derived from the ARN."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    digest = hashlib.sha256(arn.encode()).digest()
    return prefix + "".join(alphabet[b % 32] for b in digest[:17])


def _describe(entity: Entity) -> dict[str, Any]:
    kind = "Role" if entity.unique_id.startswith("AROA") else "User"
    return {
        f"{kind}Name": entity.name,
        f"{kind}Id": entity.unique_id,
        "Arn": entity.arn,
        "Path": entity.path,
    }
