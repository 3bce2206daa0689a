"""One account directory → ``Account``: users, groups, roles, customer managed policies and
resource policies, with per-document problems, duplicate names (case-insensitive) and the IAM
quotas of spec §7. References to other entities are collected for the loader to resolve once
every account is known.

Imports neither cedarpy nor grpc.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath
from typing import Any

from authz import courtesy
from authz.iam import quotas
from authz.iam.glob import split_arn
from authz.iam.model import Policy, PolicyType
from authz.iam.parse import parse_policy
from authz.repo.entities import (
    Account,
    Group,
    ManagedPolicy,
    ResourcePolicy,
    Role,
    User,
    derive_unique_id,
    iam_arn,
)
from authz.repo.fields import FieldReader, Problems, parse_document
from authz.repo.layout import AccountFiles, Document
from authz.repo.memo import Built, LoadMemo
from authz.repo.oidc import OidcProvider, build_provider

_ENTITY_KEYS = ("Path", "Arn", "AttachedManagedPolicies", "PermissionsBoundary", "Tags")
_USER_KEYS = ("UserName", "UserId", "GroupList", "UserPolicyList", *_ENTITY_KEYS)
_ROLE_KEYS = (
    "RoleName", "RoleId", "AssumeRolePolicyDocument", "MaxSessionDuration", "RolePolicyList",
    "RevokeSessionsIssuedBefore", "RevokedSessionIds", *_ENTITY_KEYS,
)  # fmt: skip
_GROUP_KEYS = ("GroupName", "GroupId", "Path", "Arn", "AttachedManagedPolicies", "GroupPolicyList")


REVOKE_POLICY_NAME = "AWSRevokeOlderSessions"


def revoke_older_sessions(account: str, role: str, before: datetime, source: str) -> Policy:
    """The inline role policy AWS attaches for "revoke active sessions" (spec §6.5): Deny
    everything to sessions whose ``aws:TokenIssueTime`` is earlier than ``before`` (rounded up
    to the second, the resolution of token issue times). Long-term credentials carry no
    ``aws:TokenIssueTime`` and are not affected."""
    whole = before.astimezone(UTC).replace(microsecond=0)
    if whole < before:
        whole += timedelta(seconds=1)
    instant = whole.strftime("%Y-%m-%dT%H:%M:%SZ")
    statement = {
        "Effect": "Deny",
        "Action": ["*"],
        "Resource": ["*"],
        "Condition": {"DateLessThan": {"aws:TokenIssueTime": instant}},
    }
    document = {"Version": "2012-10-17", "Statement": [statement]}
    label = f"{account}:role/{role}/inline/{REVOKE_POLICY_NAME}"
    return parse_policy(document, PolicyType.IDENTITY, name=label, source=source)


@dataclass(frozen=True, slots=True)
class Reference:
    """A name or ARN one document uses; resolved by the loader after all accounts are read."""

    file: str
    path: str
    account: str
    kind: str  # "group" | "policy" | "boundary"
    value: str


@dataclass
class _Common:
    name: str
    path: str
    arn: str
    unique_id: str
    attached: tuple[str, ...]
    inline: tuple[Policy, ...]
    boundary: str | None
    tags: dict[str, str]


class AccountBuilder:
    """Builds one account. With a ``memo``, a document whose bytes are unchanged since the
    last load yields the entity built then (with the problems and references it reported):
    an entity is a function of its account, file path and content only."""

    def __init__(
        self, files: AccountFiles, problems: Problems, memo: LoadMemo | None = None
    ) -> None:
        self.files = files
        self.account = files.id
        self.problems = problems
        self.memo = memo
        self.references: list[Reference] = []
        self.names: dict[tuple[str, str], str] = {}  # (kind, lowercased name) -> file

    def build(self) -> Account:
        alias, tags = self.account_doc(self.files.account)
        kinds = self.files.kinds
        users = self.collect(kinds.get("users", []), "user", self.user)
        groups = self.collect(kinds.get("groups", []), "group", self.group)
        roles = self.collect(kinds.get("roles", []), "role", self.role)
        policies = self.collect(kinds.get("policies", []), "policy", self.managed)
        resources = [
            r
            for d in kinds.get("resources", [])
            if (r := self.cached("resource", d, self.resource))
        ]
        providers: dict[str, OidcProvider] = {}
        for doc in kinds.get("oidc-providers", []):
            provider = self.cached("oidc-provider", doc, self.oidc_provider)
            if provider is None:
                continue
            if provider.issuer in providers:
                msg = (f"OIDC provider `{provider.arn}` is already defined in "
                       f"{providers[provider.issuer].source}")  # fmt: skip
                self.problems.add(doc.rel, "$.Url", "EntityAlreadyExists", msg)
                continue
            providers[provider.issuer] = provider
        return Account(
            id=self.account,
            oidc_providers=providers,
            alias=alias,
            tags=tags,
            users={u.name.lower(): u for u in users},
            groups={g.name.lower(): g for g in groups},
            roles={r.name.lower(): r for r in roles},
            policies={p.arn: p for p in policies},
            resources={r.resource_arn: r for r in resources},
        )

    def collect(self, docs: list[Document], kind: str, build: Any) -> list[Any]:
        out = []
        for doc in docs:
            courtesy.pause()
            entity = self.cached(kind, doc, build)
            if entity is None:
                continue
            key = (kind, entity.name.lower())
            if key in self.names:
                msg = f"{kind} `{entity.name}` is already defined in {self.names[key]}"
                self.problems.add(doc.rel, "$", "EntityAlreadyExists", msg)
                continue
            self.names[key] = doc.rel
            out.append(entity)
        return out

    def cached(self, kind: str, doc: Document, build: Callable[[Document], Any]) -> Any:
        """``build(doc)``, or what it returned for the same content last time."""
        memo = self.memo
        if memo is None or not doc.digest:
            return build(doc)
        key = (kind, self.account, doc.rel, doc.digest.hex())
        found = memo.built(key)
        if found is None:
            problems, references = len(self.problems.items), len(self.references)
            value = build(doc)
            found = Built(
                value,
                tuple(self.problems.items[problems:]),
                tuple(self.references[references:]),
            )
            memo.keep_built(key, found)
            return value
        self.problems.items.extend(found.problems)
        self.references.extend(found.references)
        return found.value

    def account_doc(self, doc: Document | None) -> tuple[str | None, dict[str, str]]:
        if doc is None:
            return None, {}
        fields = FieldReader(self.problems, doc.rel, doc.data)
        fields.allow_only(("Alias", "AccountId", "Tags"))
        account_id = fields.obj.get("AccountId")
        if account_id is not None and str(account_id) != self.account:
            fields.bad("$.AccountId", f"`AccountId` {account_id} differs from the directory name")
        return fields.string("Alias"), fields.tags()

    def common(self, fields: FieldReader, kind: str, name_key: str, id_key: str) -> _Common | None:
        name = fields.string(name_key, PurePosixPath(fields.file).stem)
        path = fields.string("Path", "/") or "/"
        assert name is not None
        self.problems.quota(fields.file, quotas.name_problems(kind, name, f"$.{name_key}"))
        self.problems.quota(fields.file, quotas.path_problems(path, "$.Path"))
        arn = iam_arn(self.account, kind, path, name)
        given = fields.string("Arn")
        if given is not None and given != arn:
            fields.bad("$.Arn", f"`Arn` {given} does not match the computed ARN {arn}")
        unique_id = fields.string(id_key) or derive_unique_id(kind, arn)
        attached = self.attachments(fields, kind)
        boundary = self.boundary(fields)
        inline = self.inline(fields, kind, name)
        tags = fields.tags()
        self.problems.quota(fields.file, quotas.tag_problems(fields.obj.get("Tags"), "$.Tags"))
        return _Common(name, path, arn, unique_id, attached, inline, boundary, tags)

    def attachments(self, fields: FieldReader, kind: str) -> tuple[str, ...]:
        out = []
        for item in fields.objects("AttachedManagedPolicies"):
            arn = item.string("PolicyArn", required=True)
            if arn is not None:
                out.append(arn)
                self.reference(fields.file, item.at("PolicyArn"), "policy", arn)
        count = quotas.attachment_count_problems(kind, len(out), "$.AttachedManagedPolicies")
        self.problems.quota(fields.file, count)
        return tuple(out)

    def boundary(self, fields: FieldReader) -> str | None:
        child = fields.child("PermissionsBoundary")
        if child is None:
            return None
        arn = child.string("PermissionsBoundaryArn", required=True)
        if arn is not None:
            self.reference(fields.file, child.at("PermissionsBoundaryArn"), "boundary", arn)
        return arn

    def inline(self, fields: FieldReader, kind: str, entity: str) -> tuple[Policy, ...]:
        key = {"user": "UserPolicyList", "group": "GroupPolicyList", "role": "RolePolicyList"}[kind]
        out: list[Policy] = []
        texts: list[str] = []
        seen: set[str] = set()
        for item in fields.objects(key):
            name = item.string("PolicyName", required=True) or "?"
            if name.lower() in seen:
                item.bad(item.at("PolicyName"), f"inline policy `{name}` is defined twice",
                         "EntityAlreadyExists")  # fmt: skip
            seen.add(name.lower())
            label = f"{self.account}:{kind}/{entity}/inline/{name}"
            policy, text = item.policy("PolicyDocument", PolicyType.IDENTITY, label)
            texts.append(text)
            size = quotas.document_size_problems("inline", text, item.at("PolicyDocument"))
            self.problems.quota(fields.file, size)
            if policy is not None:
                out.append(policy)
        self.problems.quota(fields.file, quotas.inline_aggregate_problems(kind, texts, f"$.{key}"))
        return tuple(out)

    def reference(self, file: str, path: str, kind: str, value: str) -> None:
        self.references.append(Reference(file, path, self.account, kind, value))

    def user(self, doc: Document) -> User | None:
        fields = FieldReader(self.problems, doc.rel, doc.data)
        if not fields.ok:
            return None
        fields.allow_only(_USER_KEYS)
        common = self.common(fields, "user", "UserName", "UserId")
        if common is None:
            return None
        groups = fields.strings("GroupList")
        for i, group in enumerate(groups):
            self.reference(doc.rel, f"$.GroupList[{i}]", "group", group)
        return User(
            self.account, common.name, common.path, common.arn, common.unique_id,
            groups=tuple(groups), attached=common.attached, inline=common.inline,
            boundary=common.boundary, tags=common.tags, source=doc.rel,
        )  # fmt: skip

    def group(self, doc: Document) -> Group | None:
        fields = FieldReader(self.problems, doc.rel, doc.data)
        if not fields.ok:
            return None
        fields.allow_only(_GROUP_KEYS)
        common = self.common(fields, "group", "GroupName", "GroupId")
        if common is None:
            return None
        return Group(
            self.account, common.name, common.path, common.arn, common.unique_id,
            attached=common.attached, inline=common.inline, source=doc.rel,
        )  # fmt: skip

    def role(self, doc: Document) -> Role | None:
        fields = FieldReader(self.problems, doc.rel, doc.data)
        if not fields.ok:
            return None
        fields.allow_only(_ROLE_KEYS)
        common = self.common(fields, "role", "RoleName", "RoleId")
        if common is None:
            return None
        label = f"{self.account}:role/{common.name}/trust"
        trust, text = fields.policy("AssumeRolePolicyDocument", PolicyType.TRUST, label)
        size = quotas.document_size_problems("trust", text, "$.AssumeRolePolicyDocument")
        self.problems.quota(doc.rel, size)
        raw_duration = fields.obj.get("MaxSessionDuration", 3600)
        limits = quotas.max_session_duration_problems(raw_duration, "$.MaxSessionDuration")
        self.problems.quota(doc.rel, limits)
        duration = 3600 if limits else int(raw_duration)
        revoke = self.revoke_time(fields)
        if trust is None:
            return None
        inline = common.inline
        if revoke is not None:
            inline = (*inline, revoke_older_sessions(self.account, common.name, revoke, doc.rel))
        return Role(
            self.account, common.name, common.path, common.arn, common.unique_id,
            trust_policy=trust, max_session_duration=duration, attached=common.attached,
            inline=inline, boundary=common.boundary, tags=common.tags,
            revoke_sessions_issued_before=revoke,
            revoked_session_ids=frozenset(fields.strings("RevokedSessionIds")),
            description=str(fields.obj.get("Description", "")), source=doc.rel,
        )  # fmt: skip

    def revoke_time(self, fields: FieldReader) -> datetime | None:
        value = fields.obj.get("RevokeSessionsIssuedBefore")
        if value is None:
            return None
        try:
            when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        except ValueError:
            msg = f"`RevokeSessionsIssuedBefore` {value!r} is not an ISO 8601 time"
            fields.bad("$.RevokeSessionsIssuedBefore", msg, "ValidationError")
            return None
        return when if when.tzinfo else when.replace(tzinfo=UTC)

    def oidc_provider(self, doc: Document) -> OidcProvider | None:
        return build_provider(self.account, doc, self.problems)

    def managed(self, doc: Document) -> ManagedPolicy | None:
        fields = FieldReader(self.problems, doc.rel, doc.data)
        if not fields.ok:
            return None
        fields.allow_only(("PolicyName", "Path", "Arn", "Document"))
        name = fields.string("PolicyName", PurePosixPath(doc.rel).stem) or "?"
        path = fields.string("Path", "/") or "/"
        self.problems.quota(doc.rel, quotas.name_problems("policy", name, "$.PolicyName"))
        self.problems.quota(doc.rel, quotas.path_problems(path, "$.Path"))
        arn = iam_arn(self.account, "policy", path, name)
        given = fields.string("Arn")
        if given is not None and given != arn:
            fields.bad("$.Arn", f"`Arn` {given} does not match the computed ARN {arn}")
        policy, text = fields.policy("Document", PolicyType.MANAGED, arn)
        self.problems.quota(doc.rel, quotas.document_size_problems("managed", text, "$.Document"))
        if policy is None:
            return None
        return ManagedPolicy(arn, name, path, policy, doc.rel, self.account)

    def resource(self, doc: Document) -> ResourcePolicy | None:
        fields = FieldReader(self.problems, doc.rel, doc.data)
        if not fields.ok:
            return None
        fields.allow_only(("ResourceArn", "Policy"))
        arn = fields.string("ResourceArn", required=True)
        if arn is None:
            return None
        parts = split_arn(arn)
        if parts is None or parts[0] != "arn" or "*" in arn:
            fields.bad("$.ResourceArn", f"`{arn}` is not a resource ARN", "ValidationError")
            return None
        if parts[4] and parts[4] != self.account:
            msg = f"resource `{arn}` belongs to account {parts[4]}, not {self.account}"
            fields.bad("$.ResourceArn", msg, "ValidationError")
        if "Policy" not in fields.obj:  # declares ownership only (decides cross-account)
            return ResourcePolicy(self.account, arn, None, doc.rel)
        value = fields.obj["Policy"]
        policy, _ = parse_document(
            self.problems, doc.rel, "$.Policy", value, PolicyType.RESOURCE, arn
        )
        return None if policy is None else ResourcePolicy(self.account, arn, policy, doc.rel)
