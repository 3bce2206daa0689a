"""GetContextKeysForCustomPolicy / GetContextKeysForPrincipalPolicy: the condition keys that
policies reference, as the IAM API lists them.

Owns the walk over statements' conditions (each key once, case-insensitively, in the
spelling and order of its first use) and which policies a principal's answer covers: a
user's inline and attached managed policies and those of its groups, a group's, or a role's
(its permissions policies; not the trust policy, as in AWS), plus the request's
``PolicyInputList``. Works on the snapshot handed in; imports neither grpc nor cedarpy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from authz.engine.snapshot import Snapshot
from authz.errors import NoSuchEntity, ValidationError
from authz.iam.model import Policy, PolicyType
from authz.iam.parse import parse_policy
from authz.repo.entities import Group, Repository

MAX_INPUT_POLICIES = 10


def referenced_keys(policies: Iterable[Policy]) -> list[str]:
    seen: dict[str, str] = {}
    for policy in policies:
        for statement in policy.statements:
            for condition in statement.conditions:
                seen.setdefault(condition.key_lc, condition.key)
    return list(seen.values())


def _input_policies(request: Mapping[str, Any], required: bool) -> list[Policy]:
    documents = request.get("PolicyInputList") or []
    if not isinstance(documents, list) or not all(isinstance(d, str) for d in documents):
        raise ValidationError("`PolicyInputList` must be a list of policy documents")
    if required and not documents:
        raise ValidationError(
            "1 validation error detected: Value null at 'policyInputList' failed to satisfy "
            "constraint: Member must not be null"
        )
    if len(documents) > MAX_INPUT_POLICIES:
        raise ValidationError(f"`PolicyInputList` holds at most {MAX_INPUT_POLICIES} documents")
    return [
        parse_policy(doc, PolicyType.IDENTITY, name=f"PolicyInputList.{i + 1}")
        for i, doc in enumerate(documents)
    ]


def custom_policy_keys(request: Mapping[str, Any]) -> dict[str, Any]:
    return {"ContextKeyNames": referenced_keys(_input_policies(request, required=True))}


def _managed(repository: Repository, arns: Iterable[str]) -> list[Policy]:
    found = (repository.managed_policy(arn) for arn in arns)
    return [m.policy for m in found if m is not None]


def _group(repository: Repository, account: str, name: str) -> Group | None:
    groups = repository.accounts[account].groups if account in repository.accounts else {}
    return groups.get(name) or groups.get(name.lower())


def _principal_policies(repository: Repository, arn: str) -> list[Policy]:
    user = repository.users_by_arn.get(arn)
    if user is not None:
        policies = [*user.inline, *_managed(repository, user.attached)]
        for name in user.groups:
            group = _group(repository, user.account, name)
            if group is not None:
                policies += [*group.inline, *_managed(repository, group.attached)]
        return policies
    role = repository.roles_by_arn.get(arn)
    if role is not None:
        return [*role.inline, *_managed(repository, role.attached)]
    for account in repository.accounts.values():
        for group in account.groups.values():
            if group.arn == arn:
                return [*group.inline, *_managed(repository, group.attached)]
    raise NoSuchEntity(f"the principal `{arn}` does not exist")


def principal_policy_keys(snapshot: Snapshot, request: Mapping[str, Any]) -> dict[str, Any]:
    source = request.get("PolicySourceArn")
    if not isinstance(source, str) or not source:
        raise ValidationError(
            "1 validation error detected: Value null at 'policySourceArn' failed to satisfy "
            "constraint: Member must not be null"
        )
    policies = _principal_policies(snapshot.repository, source)
    policies += _input_policies(request, required=False)
    return {"ContextKeyNames": referenced_keys(policies)}
