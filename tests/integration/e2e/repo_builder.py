"""Writing a policy repository (the format of docs/architecture: ``accounts/<id>/{users,roles,
policies,resources}/*.json``, ``organization.json``) from Python dicts, for end-to-end tests.

Owns the mapping from test data to files only; it never decides anything. Every entity is
written the way a person (or ``authz import``) would write it, so the server loads it through
its real loader:

    repo = RepoBuilder()
    repo.user("111111111111", "alice", user_id="AIDA…", inline=[doc], tags={"team": "a"})
    repo.role("111111111111", "app", trust_policy=doc, role_id="AROA…", max_session_duration=7200)
    repo.scp_levels("111111111111", [[full_access], [deny_x]])
    repo.write(tmp_path / "repo")

Inline boundaries become customer managed policies named ``<entity>-boundary`` in the entity's
account (a permissions boundary is always a managed policy in IAM).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Document = Mapping[str, Any]

_POLICY_ARN = re.compile(r"^arn:aws:iam::(\d{12}):policy(/(?:.*/)?)([^/]+)$")
# An SCP level that exists but allows nothing: AWS requires every root/OU to carry at least one
# SCP, so "a level with no applicable Allow" is spelled as a policy whose only Allow matches no
# real action.
NOTHING_ALLOWED: Document = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "AllowsNothing", "Effect": "Allow", "Action": "none:None", "Resource": "*"}
    ],
}


def _tags(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _inline(prefix: str, documents: Sequence[Document]) -> list[dict[str, Any]]:
    return [
        {"PolicyName": f"{prefix}{i}", "PolicyDocument": dict(doc)}
        for i, doc in enumerate(documents)
    ]


def _file_name(name: str) -> str:
    return re.sub(r"[^\w.+=,@-]", "_", name) + ".json"


@dataclass
class RepoBuilder:
    """Collects repository documents, then ``write`` puts them on disk."""

    files: dict[str, Document] = field(default_factory=dict)
    _scp_levels: dict[str, list[list[Document]]] = field(default_factory=dict)
    org_id: str = "o-e2etest0001"

    # -- entities -----------------------------------------------------------------------
    def managed_policy(self, arn: str, document: Document) -> str:
        """A customer managed policy at ``arn`` (``arn:aws:iam::ACCT:policy/PATH/NAME``)."""
        match = _POLICY_ARN.match(arn)
        if match is None:
            raise ValueError(f"not a customer managed policy ARN: {arn}")
        account, path, name = match.groups()
        body = {"PolicyName": name, "Path": path, "Document": dict(document)}
        self.files[f"accounts/{account}/policies/{_file_name(name)}"] = body
        return arn

    def _boundary(self, account: str, owner: str, document: Document | None) -> dict[str, Any]:
        if document is None:
            return {}
        arn = self.managed_policy(f"arn:aws:iam::{account}:policy/{owner}-boundary", document)
        return {"PermissionsBoundary": {"PermissionsBoundaryArn": arn}}

    def user(
        self,
        account: str,
        name: str,
        *,
        path: str = "/",
        user_id: str | None = None,
        inline: Sequence[Document] = (),
        attached: Sequence[str] = (),
        boundary: Document | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """An IAM user; returns its ARN."""
        body: dict[str, Any] = {"UserName": name, "Path": path}
        if user_id:
            body["UserId"] = user_id
        body["UserPolicyList"] = _inline(f"{name}-inline-", inline)
        body["AttachedManagedPolicies"] = [
            {"PolicyName": a.rsplit("/", 1)[-1], "PolicyArn": a} for a in attached
        ]
        body.update(self._boundary(account, f"user-{name}", boundary))
        body["Tags"] = _tags(tags or {})
        self.files[f"accounts/{account}/users/{_file_name(name)}"] = body
        return f"arn:aws:iam::{account}:user{path}{name}"

    def role(
        self,
        account: str,
        name: str,
        *,
        trust_policy: Document,
        path: str = "/",
        role_id: str | None = None,
        max_session_duration: int = 3600,
        inline: Sequence[Document] = (),
        attached: Sequence[str] = (),
        boundary: Document | None = None,
        tags: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> str:
        """An IAM role; ``extra`` adds raw fields (``RevokedSessionIds``, ...). Returns its ARN."""
        body: dict[str, Any] = {
            "RoleName": name,
            "Path": path,
            "AssumeRolePolicyDocument": dict(trust_policy),
            "MaxSessionDuration": max_session_duration,
            "RolePolicyList": _inline(f"{name}-inline-", inline),
            "AttachedManagedPolicies": [
                {"PolicyName": a.rsplit("/", 1)[-1], "PolicyArn": a} for a in attached
            ],
            "Tags": _tags(tags or {}),
        }
        if role_id:
            body["RoleId"] = role_id
        body.update(self._boundary(account, f"role-{name}", boundary))
        body.update(extra or {})
        self.files[f"accounts/{account}/roles/{_file_name(name)}"] = body
        return f"arn:aws:iam::{account}:role{path}{name}"

    def resource(self, account: str, resource_arn: str, policy: Document | None) -> None:
        """A resource-based policy (or, with ``policy=None``, only the owning account)."""
        body: dict[str, Any] = {"ResourceArn": resource_arn}
        if policy is not None:
            body["Policy"] = dict(policy)
        self.files[f"accounts/{account}/resources/{_file_name(resource_arn)}"] = body

    def account(self, account: str) -> None:
        """Make sure the account directory exists even when it defines nothing."""
        self.files.setdefault(f"accounts/{account}/account.json", {"AccountId": account})

    def scp_levels(self, account: str, levels: Sequence[Sequence[Document]]) -> None:
        """SCPs governing ``account``, one list per level of its OU path, root first (the
        case format). An empty level allows nothing (see ``NOTHING_ALLOWED``); no levels at
        all means the account is not governed by SCPs."""
        if not levels:
            self._scp_levels.pop(account, None)
            return
        self._scp_levels[account] = [list(level) or [NOTHING_ALLOWED] for level in levels]

    # -- output -------------------------------------------------------------------------
    def organization(self) -> Document | None:
        """``organization.json``: the first level is the root, every further level a nested
        OU, the account in the deepest one. One governed account per repository (the root's
        SCPs would otherwise be shared)."""
        if not self._scp_levels:
            return None
        if len(self._scp_levels) > 1:
            raise ValueError("RepoBuilder governs one account with SCPs per repository")
        ((account, levels),) = self._scp_levels.items()
        policies: list[dict[str, Any]] = []

        def ids(depth: int) -> list[str]:
            out = []
            for i, doc in enumerate(levels[depth]):
                pid = f"p-{depth}-{i}"
                policies.append({"Id": pid, "Name": pid, "Document": dict(doc)})
                out.append(pid)
            return out

        node: dict[str, Any] | None = None
        for depth in range(len(levels) - 1, 0, -1):
            node = {
                "Id": f"ou-level-{depth}",
                "Name": f"level-{depth}",
                "PolicyIds": ids(depth),
                "Accounts": [account] if node is None else [],
                "Children": [node] if node is not None else [],
            }
        root_policies = ids(0)
        return {
            "Id": self.org_id,
            "Policies": policies,
            "Root": {
                "Id": "r-e2e",
                "Name": "Root",
                "PolicyIds": root_policies,
                "Accounts": [account] if node is None else [],
                "Children": [node] if node is not None else [],
            },
        }

    def write(self, root: Path) -> Path:
        root.mkdir(parents=True, exist_ok=True)
        documents = dict(self.files)
        org = self.organization()
        if org is not None:
            documents["organization.json"] = org
        for rel, body in documents.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(body, indent=2, sort_keys=True), encoding="utf-8")
        return root
