"""``aws iam get-account-authorization-details`` output → repository files.

Owns the conversion: ``UserDetailList`` → ``users/``, ``GroupDetailList`` → ``groups/``,
``RoleDetailList`` → ``roles/``, ``Policies`` → ``policies/`` (customer managed, default version)
or ``aws-managed/`` (AWS managed), ``OpenIDConnectProviderList`` (when the input has it) →
``oidc-providers/``. Policy documents may be URL-encoded JSON text (the raw API),
plain JSON text, or already-decoded objects (the AWS CLI); all become JSON objects. The input
may be one response or a list of paginated responses. Read-only fields (dates, last use,
instance profiles, counters) are dropped; unique ids (``AIDA…``/``AROA…``) are kept.

The dump has no ``MaxSessionDuration``; ``aws iam list-roles`` / ``get-role`` output fills it
(``role_durations``) or, on a re-import, the value already in the role's file; every role
left at the 3,600 s default is named in the summary.
Import is a sync of the account's ``users/``, ``groups/``, ``roles/`` and ``policies/``: files the
dump no longer has are removed; ``aws-managed/`` is shared by all accounts and only added to.
``plan_import`` computes the added/changed/removed lists without writing (a dry run).

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
from authz.repo.layout import is_document

_ACCOUNT = re.compile(r"^\d{12}$")
_SAFE_NAME = re.compile(r"^[\w+=,.@-]+$")
_KEEP_ENTITY = ("Path", "AttachedManagedPolicies", "Tags")


_SYNCED_DIRS = ("users", "groups", "roles", "policies")
DEFAULT_SESSION_DURATION = 3600


@dataclass
class ImportSummary:
    """What an import writes (or, for a dry run, would write), relative to the repository."""

    written: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    notices: list[str] = field(default_factory=list)
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "DryRun": self.dry_run,
            "Counts": self.counts,
            "Added": self.added,
            "Changed": self.changed,
            "Removed": self.removed,
            "Unchanged": self.unchanged,
            "Notices": self.notices,
            "Files": self.written,
        }


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


def role_durations(data: Any) -> dict[str, int]:
    """Role name → ``MaxSessionDuration`` from ``aws iam list-roles`` (``{"Roles": [...]}``,
    possibly a list of pages) or ``aws iam get-role`` (``{"Role": {...}}``, possibly a list)."""
    out: dict[str, int] = {}
    for page in _pages(data):
        roles = page.get("Roles", [page["Role"]] if "Role" in page else None)
        if not isinstance(roles, list) or not all(isinstance(r, Mapping) for r in roles):
            raise ValidationError("roles input must be `aws iam list-roles` or `get-role` output")
        for i, role in enumerate(roles):
            name = _name(role, "RoleName", f"Roles[{i}]")
            duration = role.get("MaxSessionDuration")
            if duration is None:
                continue
            if not isinstance(duration, int) or isinstance(duration, bool):
                msg = f"Roles[{i}]: `MaxSessionDuration` {duration!r} must be an integer"
                raise ValidationError(msg)
            out[name] = duration
    return out


def convert(
    data: Any,
    account: str,
    durations: Mapping[str, int] | None = None,
    notices: list[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Authorization details → {relative file path: document}. ``durations`` (role name →
    seconds) fills ``MaxSessionDuration``; a note per role left at 3,600 s goes to ``notices``."""
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
        files.update(_role(role, account, f"RoleDetailList[{i}]", durations or {}, notices))
    for i, policy in enumerate(_merged(pages, "Policies")):
        files.update(_managed(policy, account, f"Policies[{i}]"))
    for i, provider in enumerate(_merged(pages, "OpenIDConnectProviderList")):
        files.update(_oidc_provider(provider, account, f"OpenIDConnectProviderList[{i}]", notices))
    return files


_PROVIDER_KEYS = ("Url", "ClientIDList", "ThumbprintList", "Tags", "Jwks", "JwksUri")


def _oidc_provider(
    provider: Mapping[str, Any], account: str, where: str, notices: list[str] | None
) -> dict[str, dict[str, Any]]:
    """An ``OpenIDConnectProviderList`` entry shaped like ``aws iam
    get-open-id-connect-provider`` output (``Url`` …; ``Arn`` checked) → ``oidc-providers/``.
    An entry with only an ``Arn`` (``list-open-id-connect-providers``) has nothing to import
    and is named in the notices. Keys come from OIDC discovery unless the entry has ``Jwks`` /
    ``JwksUri``. Not synced: the authorization-details dump has no providers, so files already
    there are never removed."""
    arn = provider.get("Arn")
    url = provider.get("Url")
    if not isinstance(url, str) or not url:
        if notices is not None:
            notices.append(
                f"{where}: OIDC provider `{arn}` has no `Url` (pass "
                "`aws iam get-open-id-connect-provider` output); not imported"
            )
        return {}
    prefix = url.removeprefix("https://").rstrip("/")
    if arn is not None:
        _check_account(arn, account, where)
        expected = f"arn:aws:iam::{account}:oidc-provider/{prefix}"
        if arn != expected:
            raise ValidationError(f"{where}: `Arn` {arn} does not match `Url` {url}")
    name = re.sub(r"[^\w.-]+", "_", prefix).strip("_.") or "provider"
    doc = {key: provider[key] for key in _PROVIDER_KEYS if provider.get(key) is not None}
    return {f"accounts/{account}/oidc-providers/{name}.json": doc}


def _role(
    role: Mapping[str, Any],
    account: str,
    where: str,
    durations: Mapping[str, int],
    notices: list[str] | None,
) -> dict[str, dict[str, Any]]:
    name = _name(role, "RoleName", where)
    _check_account(role.get("Arn"), account, where)
    trust = decode_document(
        role.get("AssumeRolePolicyDocument"), f"{where}.AssumeRolePolicyDocument"
    )
    doc: dict[str, Any] = {"RoleName": name, "AssumeRolePolicyDocument": trust}
    doc.update(_common(role, "RoleId", "RolePolicyList", where))
    if role.get("Description"):
        doc["Description"] = role["Description"]
    duration = role.get("MaxSessionDuration") or durations.get(name)
    if duration:
        doc["MaxSessionDuration"] = duration
    elif notices is not None:
        notices.append(
            f"role `{name}`: no MaxSessionDuration in the input; assumed "
            f"{DEFAULT_SESSION_DURATION} s (pass `aws iam list-roles` output with --roles)"
        )
    return {f"accounts/{account}/roles/{name}.json": doc}


def _policy_name(policy: Mapping[str, Any], where: str) -> str:
    """``PolicyName``, or the last ARN segment when a dump omits it (moto does)."""
    arn = policy.get("Arn")
    if policy.get("PolicyName") is None and isinstance(arn, str) and arn.count(":") >= 5:
        return _name({"PolicyName": arn.rsplit("/", 1)[-1].rsplit(":", 1)[-1]}, "PolicyName", where)
    return _name(policy, "PolicyName", where)


def _managed(policy: Mapping[str, Any], account: str, where: str) -> dict[str, dict[str, Any]]:
    name = _policy_name(policy, where)
    arn = policy.get("Arn", "")
    versions = policy.get("PolicyVersionList") or []
    default = [v for v in versions if isinstance(v, Mapping) and v.get("IsDefaultVersion")]
    if not default:
        raise ValidationError(f"{where}: policy `{name}` has no default version")
    document = decode_document(default[0].get("Document"), f"{where}.PolicyVersionList")
    if isinstance(arn, str) and arn.startswith("arn:aws:iam::aws:policy/"):
        return {f"aws-managed/{name}.json": {"PolicyName": name, "Arn": arn, "Document": document}}
    _check_account(arn, account, where)
    path = policy.get("Path")
    if not path and isinstance(arn, str) and ":policy/" in arn:  # the ARN names it too
        path = arn.split(":policy", 1)[1].rsplit("/", 1)[0] + "/"
    doc = {"PolicyName": name, "Path": path or "/", "Document": document}
    return {f"accounts/{account}/policies/{name}.json": doc}


def _existing(out: Path, account: str) -> list[str]:
    """The files a sync of ``account`` owns today (relative paths, every document suffix)."""
    found: list[str] = []
    for kind in _SYNCED_DIRS:
        folder = out / "accounts" / account / kind
        if folder.is_dir():
            found.extend(
                f"accounts/{account}/{kind}/{p.name}"
                for p in folder.iterdir()
                if p.is_file() and is_document(p.name)
            )
    return sorted(found)


def _known_durations(out: Path, account: str) -> dict[str, int]:
    """``MaxSessionDuration`` of the roles already in the repository: a re-import without
    ``--roles`` keeps what an earlier import (or a person) recorded."""
    found: dict[str, int] = {}
    folder = out / "accounts" / account / "roles"
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and isinstance(doc.get("MaxSessionDuration"), int):
            found[str(doc.get("RoleName", path.stem))] = doc["MaxSessionDuration"]
    return found


def _same(target: Path, doc: dict[str, Any]) -> bool:
    try:
        return bool(json.loads(target.read_text(encoding="utf-8")) == doc)
    except (OSError, ValueError):
        return False


def plan_import(
    data: Any, account: str, out: Path, durations: Mapping[str, int] | None = None
) -> tuple[dict[str, dict[str, Any]], ImportSummary]:
    """The files an import would write and the summary of the sync, without writing."""
    summary = ImportSummary(dry_run=True)
    known = {**_known_durations(out, account), **(durations or {})}
    files = convert(data, account, known, summary.notices)
    for rel in sorted(files):
        target = out / rel
        if not target.exists():
            summary.added.append(rel)
        elif _same(target, files[rel]):
            summary.unchanged += 1
        else:
            summary.changed.append(rel)
        kind = rel.split("/")[2] if rel.startswith("accounts/") else "aws-managed"
        summary.counts[kind] = summary.counts.get(kind, 0) + 1
    summary.removed = [rel for rel in _existing(out, account) if rel not in files]
    return files, summary


def import_authorization_details(
    data: Any,
    account: str,
    out: Path,
    durations: Mapping[str, int] | None = None,
    *,
    dry_run: bool = False,
) -> ImportSummary:
    """Sync the account's files under ``out`` with the dump: write added and changed files
    (atomically), remove the account's users/groups/roles/policies the dump no longer has.
    Files outside those folders (resources, tests, other accounts) are left alone."""
    files, summary = plan_import(data, account, out, durations)
    if dry_run:
        return summary
    summary.dry_run = False
    for rel in [*summary.added, *summary.changed]:
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(json.dumps(files[rel], indent=2, sort_keys=False) + "\n", encoding="utf-8")
        tmp.replace(target)  # atomic: a watcher never sees a half-written file
    for rel in summary.removed:
        (out / rel).unlink(missing_ok=True)
    summary.written = sorted([*summary.added, *summary.changed])
    return summary
