"""``aws iam get-account-authorization-details`` output → repository files.

Owns the conversion: ``UserDetailList`` → ``users/``, ``GroupDetailList`` → ``groups/``,
``RoleDetailList`` → ``roles/``, ``Policies`` → ``policies/`` (customer managed, default version)
or ``aws-managed/`` (AWS managed). Policy documents may be URL-encoded JSON text (the raw API),
plain JSON text, or already-decoded objects (the AWS CLI); all become JSON objects. The input
may be one response or a list of paginated responses. Read-only fields (dates, last use,
instance profiles, counters) are dropped; unique ids (``AIDA…``/``AROA…``) are kept.

Imports neither cedarpy nor grpc. Validation of the result is ``authz.repo.load``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, unquote_plus

from authz.errors import ValidationError

_ACCOUNT = re.compile(r"^\d{12}$")
_SAFE_NAME = re.compile(r"^[\w+=,.@-]+$")
_KEEP_ENTITY = ("Path", "AttachedManagedPolicies", "Tags")


@dataclass
class ImportSummary:
    written: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"Counts": self.counts, "Files": self.written}


def decode_document(value: Any, where: str) -> Any:
    """A policy document as an object, from an object, JSON text or URL-encoded JSON text."""
    if isinstance(value, Mapping):
        return dict(value)
    if not isinstance(value, str):
        raise ValidationError(f"{where}: policy document must be a string or an object")
    for candidate in (value, unquote(value), unquote_plus(value)):
        try:
            decoded = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(decoded, dict):
            return decoded
    raise ValidationError(f"{where}: policy document is neither JSON nor URL-encoded JSON")


def _pages(data: Any) -> list[Mapping[str, Any]]:
    pages = data if isinstance(data, list) else [data]
    if not all(isinstance(p, Mapping) for p in pages):
        raise ValidationError("authorization details must be an object or a list of pages")
    return pages


def _merged(pages: list[Mapping[str, Any]], key: str) -> list[Mapping[str, Any]]:
    out: list[Mapping[str, Any]] = []
    for page in pages:
        items = page.get(key, [])
        if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
            raise ValidationError(f"`{key}` must be a list of objects")
        out.extend(items)
    return out


def _inline(items: Iterable[Mapping[str, Any]], where: str) -> list[dict[str, Any]]:
    return [
        {
            "PolicyName": item.get("PolicyName"),
            "PolicyDocument": decode_document(item.get("PolicyDocument"), f"{where}.{i}"),
        }
        for i, item in enumerate(items)
    ]


def _common(item: Mapping[str, Any], id_key: str, inline_key: str, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if item.get(id_key):
        out[id_key] = item[id_key]
    for key in _KEEP_ENTITY:
        if item.get(key):
            out[key] = item[key]
    boundary = item.get("PermissionsBoundary")
    if isinstance(boundary, Mapping) and boundary.get("PermissionsBoundaryArn"):
        out["PermissionsBoundary"] = {
            "PermissionsBoundaryType": boundary.get("PermissionsBoundaryType", "Policy"),
            "PermissionsBoundaryArn": boundary["PermissionsBoundaryArn"],
        }
    if item.get(inline_key):
        out[inline_key] = _inline(item[inline_key], f"{where}.{inline_key}")
    return out


def _check_account(arn: Any, account: str, where: str) -> None:
    if isinstance(arn, str) and arn.count(":") >= 5 and arn.split(":")[4] != account:
        raise ValidationError(f"{where}: `{arn}` is not in account {account}")


def _name(item: Mapping[str, Any], key: str, where: str) -> str:
    name = item.get(key)
    if not isinstance(name, str) or not _SAFE_NAME.match(name):
        raise ValidationError(f"{where}: `{key}` {name!r} is not a valid IAM name")
    return name


def convert(data: Any, account: str) -> dict[str, dict[str, Any]]:
    """Authorization details → {relative file path: document}."""
    if not _ACCOUNT.match(account):
        raise ValidationError(f"account id `{account}` must be 12 digits")
    pages = _pages(data)
    base = f"accounts/{account}"
    files: dict[str, dict[str, Any]] = {}
    for i, user in enumerate(_merged(pages, "UserDetailList")):
        where = f"UserDetailList[{i}]"
        name = _name(user, "UserName", where)
        _check_account(user.get("Arn"), account, where)
        doc = {"UserName": name, **_common(user, "UserId", "UserPolicyList", where)}
        if user.get("GroupList"):
            doc["GroupList"] = list(user["GroupList"])
        files[f"{base}/users/{name}.json"] = doc
    for i, group in enumerate(_merged(pages, "GroupDetailList")):
        where = f"GroupDetailList[{i}]"
        name = _name(group, "GroupName", where)
        _check_account(group.get("Arn"), account, where)
        doc = {"GroupName": name, **_common(group, "GroupId", "GroupPolicyList", where)}
        doc.pop("Tags", None)
        files[f"{base}/groups/{name}.json"] = doc
    for i, role in enumerate(_merged(pages, "RoleDetailList")):
        files.update(_role(role, account, f"RoleDetailList[{i}]"))
    for i, policy in enumerate(_merged(pages, "Policies")):
        files.update(_managed(policy, account, f"Policies[{i}]"))
    return files


def _role(role: Mapping[str, Any], account: str, where: str) -> dict[str, dict[str, Any]]:
    name = _name(role, "RoleName", where)
    _check_account(role.get("Arn"), account, where)
    trust = decode_document(
        role.get("AssumeRolePolicyDocument"), f"{where}.AssumeRolePolicyDocument"
    )
    doc: dict[str, Any] = {"RoleName": name, "AssumeRolePolicyDocument": trust}
    doc.update(_common(role, "RoleId", "RolePolicyList", where))
    if role.get("Description"):
        doc["Description"] = role["Description"]
    if role.get("MaxSessionDuration"):
        doc["MaxSessionDuration"] = role["MaxSessionDuration"]
    return {f"accounts/{account}/roles/{name}.json": doc}


def _managed(policy: Mapping[str, Any], account: str, where: str) -> dict[str, dict[str, Any]]:
    name = _name(policy, "PolicyName", where)
    arn = policy.get("Arn", "")
    versions = policy.get("PolicyVersionList") or []
    default = [v for v in versions if isinstance(v, Mapping) and v.get("IsDefaultVersion")]
    if not default:
        raise ValidationError(f"{where}: policy `{name}` has no default version")
    document = decode_document(default[0].get("Document"), f"{where}.PolicyVersionList")
    if isinstance(arn, str) and arn.startswith("arn:aws:iam::aws:policy/"):
        return {f"aws-managed/{name}.json": {"PolicyName": name, "Arn": arn, "Document": document}}
    _check_account(arn, account, where)
    doc = {"PolicyName": name, "Path": policy.get("Path", "/"), "Document": document}
    return {f"accounts/{account}/policies/{name}.json": doc}


def import_authorization_details(data: Any, account: str, out: Path) -> ImportSummary:
    """Convert and write the files under ``out`` (existing files with the same names are
    replaced; other files are left alone)."""
    files = convert(data, account)
    summary = ImportSummary()
    for rel, doc in sorted(files.items()):
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n", encoding="utf-8")
        tmp.replace(target)  # atomic: a watcher never sees a half-written file
        summary.written.append(rel)
        kind = rel.split("/")[2] if rel.startswith("accounts/") else "aws-managed"
        summary.counts[kind] = summary.counts.get(kind, 0) + 1
    return summary
