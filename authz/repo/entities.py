"""The repository model: accounts, users, groups, roles, managed and resource policies, the
organization tree with its SCPs, as frozen dataclasses, and the ``Repository`` that indexes them.

Owns the shapes that ``authz.repo.load`` produces and ``authz.engine.snapshot`` reads, and the
deterministic unique ids (``AIDA…``/``AROA…``). Imports neither cedarpy nor grpc.

Case rules: names are unique case-insensitively within an account (the loader enforces it);
ARNs are compared exactly, as AWS compares the resource part of an ARN.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from authz import courtesy
from authz.iam.model import Policy
from authz.repo.policytests import PolicyTest

if TYPE_CHECKING:
    from authz.repo.oidc import OidcProvider

_ID_PREFIX = {"user": "AIDA", "role": "AROA", "group": "AGPA", "policy": "ANPA"}


def derive_unique_id(kind: str, arn: str) -> str:
    """A stable 21-character unique id for an entity, from its ARN (``AIDA`` + 17 chars)."""
    digest = hashlib.sha256(arn.encode()).digest()
    body = base64.b32encode(digest).decode().rstrip("=")[:17]
    return _ID_PREFIX[kind] + body


def iam_arn(account: str, kind: str, path: str, name: str) -> str:
    """``arn:aws:iam::ACCT:<kind><path><name>`` (path is ``/`` or ``/a/b/``)."""
    return f"arn:aws:iam::{account}:{kind}{path}{name}"


@dataclass(frozen=True, slots=True)
class ManagedPolicy:
    """A customer managed (``account`` set) or AWS managed (``account`` None) policy."""

    arn: str
    name: str
    path: str
    policy: Policy
    source: str
    account: str | None = None


@dataclass(frozen=True, slots=True)
class User:
    account: str
    name: str
    path: str
    arn: str
    unique_id: str
    groups: tuple[str, ...] = ()  # group names, as written
    attached: tuple[str, ...] = ()  # managed policy ARNs
    inline: tuple[Policy, ...] = ()
    boundary: str | None = None  # managed policy ARN
    tags: Mapping[str, str] = field(default_factory=dict)
    source: str = ""


@dataclass(frozen=True, slots=True)
class Group:
    account: str
    name: str
    path: str
    arn: str
    unique_id: str
    attached: tuple[str, ...] = ()
    inline: tuple[Policy, ...] = ()
    source: str = ""


@dataclass(frozen=True, slots=True)
class Role:
    """An IAM role. ``revoke_sessions_issued_before``: sessions whose ``aws:TokenIssueTime`` is
    earlier are denied (spec §6.5); ``revoked_session_ids`` are individually revoked sessions."""

    account: str
    name: str
    path: str
    arn: str
    unique_id: str
    trust_policy: Policy
    max_session_duration: int = 3600
    attached: tuple[str, ...] = ()
    inline: tuple[Policy, ...] = ()
    boundary: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    revoke_sessions_issued_before: datetime | None = None
    revoked_session_ids: frozenset[str] = frozenset()
    description: str = ""
    source: str = ""


@dataclass(frozen=True, slots=True)
class ResourcePolicy:
    """A resource-based policy (bucket policy, queue policy, key policy, ...). ``policy`` is
    None when the file only declares which account owns the resource."""

    account: str
    resource_arn: str
    policy: Policy | None
    source: str


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    alias: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    users: Mapping[str, User] = field(default_factory=dict)  # by lowercased name
    groups: Mapping[str, Group] = field(default_factory=dict)
    roles: Mapping[str, Role] = field(default_factory=dict)
    policies: Mapping[str, ManagedPolicy] = field(default_factory=dict)  # by ARN
    resources: Mapping[str, ResourcePolicy] = field(default_factory=dict)  # by resource ARN
    oidc_providers: Mapping[str, OidcProvider] = field(default_factory=dict)  # by issuer URL


@dataclass(frozen=True, slots=True)
class OrgUnit:
    """A node of the organization tree (the root or an OU)."""

    id: str
    name: str
    policy_ids: tuple[str, ...] = ()
    accounts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # id -> its SCP ids
    children: tuple[OrgUnit, ...] = ()


@dataclass(frozen=True, slots=True)
class Organization:
    id: str
    root: OrgUnit
    scps: Mapping[str, Policy] = field(default_factory=dict)  # by policy id
    management_account: str | None = None
    source: str = "organization.json"
    rcps: Mapping[str, Policy] = field(default_factory=dict)  # by policy id

    def contains(self, account: str) -> bool:
        return account == self.management_account or _ou_path(self.root, account) is not None

    def scp_levels(self, account: str) -> tuple[tuple[Policy, ...], ...]:
        """The SCPs at each level of the account's OU path (root first, account last); empty
        when the account is not in the organization or is the management account."""
        return self._levels(account, self.scps)

    def rcp_levels(self, account: str) -> tuple[tuple[Policy, ...], ...]:
        """The RCPs at each level of the account's OU path, like ``scp_levels``; a level with
        none attached is an empty tuple (only ``RCPFullAWSAccess``, which allows all)."""
        return self._levels(account, self.rcps) if self.rcps else ()

    def _levels(
        self, account: str, policies: Mapping[str, Policy]
    ) -> tuple[tuple[Policy, ...], ...]:
        if account == self.management_account:
            return ()
        path = _ou_path(self.root, account)
        if path is None:
            return ()
        levels = [tuple(policies[i] for i in ou.policy_ids if i in policies) for ou in path]
        account_level = tuple(policies[i] for i in path[-1].accounts[account] if i in policies)
        if account_level:  # an account entry may attach policies of its own
            levels.append(account_level)
        if policies is self.scps:
            return tuple(levels)
        return tuple(level for level in levels if level)  # RCPs: only levels that can deny


def _ou_path(node: OrgUnit, account: str) -> list[OrgUnit] | None:
    if account in node.accounts:
        return [node]
    for child in node.children:
        found = _ou_path(child, account)
        if found is not None:
            return [node, *found]
    return None


@dataclass(frozen=True)
class Repository:
    """Everything a policy repository defines, indexed for look-ups by ARN and unique id."""

    accounts: Mapping[str, Account]
    aws_managed: Mapping[str, ManagedPolicy]  # by ARN
    organization: Organization | None = None
    content_hash: str = ""
    tests: tuple[PolicyTest, ...] = ()
    users_by_arn: dict[str, User] = field(default_factory=dict, init=False)
    roles_by_arn: dict[str, Role] = field(default_factory=dict, init=False)
    by_unique_id: dict[str, User | Role] = field(default_factory=dict, init=False)
    resources_by_arn: dict[str, ResourcePolicy] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        for account in self.accounts.values():
            courtesy.pause()  # a reload of a large repository: serving first
            for user in account.users.values():
                self.users_by_arn[user.arn] = user
                self.by_unique_id[user.unique_id] = user
            for role in account.roles.values():
                self.roles_by_arn[role.arn] = role
                self.by_unique_id[role.unique_id] = role
            self.resources_by_arn.update(account.resources)

    def managed_policy(self, arn: str) -> ManagedPolicy | None:
        if arn in self.aws_managed:
            return self.aws_managed[arn]
        account = self.accounts.get(arn.split(":")[4]) if arn.count(":") >= 5 else None
        return account.policies.get(arn) if account else None

    def oidc_provider(self, account: str, issuer: str) -> OidcProvider | None:
        """The OIDC provider of ``account`` whose tokens carry ``iss`` = ``issuer``."""
        acct = self.accounts.get(account)
        return acct.oidc_providers.get(issuer) if acct else None

    def role_by_name(self, account: str, name: str) -> Role | None:
        acct = self.accounts.get(account)
        return acct.roles.get(name.lower()) if acct else None

    def resource_policy(self, resource_arn: str) -> ResourcePolicy | None:
        """The resource policy for an ARN: exact match, else the S3 bucket of an object."""
        found = self.resources_by_arn.get(resource_arn)
        if found is not None:
            return found
        if resource_arn.startswith("arn:aws:s3:::") and "/" in resource_arn:
            return self.resource_policy(resource_arn.split("/", 1)[0])
        return None

    @property
    def counts(self) -> dict[str, int]:
        accts = self.accounts.values()
        return {
            "accounts": len(self.accounts),
            "users": sum(len(a.users) for a in accts),
            "groups": sum(len(a.groups) for a in accts),
            "roles": sum(len(a.roles) for a in accts),
            "managed_policies": sum(len(a.policies) for a in accts) + len(self.aws_managed),
            "resource_policies": sum(len(a.resources) for a in accts),
            "scps": len(self.organization.scps) if self.organization else 0,
            "oidc_providers": sum(len(a.oidc_providers) for a in accts),
        }
