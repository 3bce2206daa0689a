"""Typed field access on decoded repository documents, collecting problems instead of raising.

Owns the small vocabulary the loader uses to read one AWS-shaped object (``FieldReader``) and the
conversion of a policy document (object or JSON text) into a ``Policy`` with the problem located
by file + JSON path. Imports neither cedarpy nor grpc.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from authz.errors import MalformedPolicyDocument, Problem
from authz.iam.model import Policy, PolicyType
from authz.iam.parse import parse_policy
from authz.iam.quotas import QuotaProblem

# Fields AWS returns that the repository accepts and ignores.
AWS_NOISE = frozenset(
    {"CreateDate", "UpdateDate", "Description", "VersionId", "DefaultVersionId",
     "AttachmentCount", "IsAttachable", "PermissionsBoundaryUsageCount", "RoleLastUsed",
     "InstanceProfileList", "IsDefaultVersion", "PolicyId"}
)  # fmt: skip


class Problems:
    """An append-only list of problems with helpers to add them."""

    def __init__(self, initial: Iterable[Problem] = ()) -> None:
        self.items: list[Problem] = list(initial)

    def add(self, file: str, path: str, code: str, message: str) -> None:
        self.items.append(Problem(file, path, code, message))

    def quota(self, file: str, found: Iterable[QuotaProblem]) -> None:
        for qp in found:
            self.items.append(Problem(file, qp.path, qp.code, qp.message))

    def sorted(self) -> list[Problem]:
        unique = set(self.items)
        return sorted(unique, key=lambda p: (p.file, p.path, p.code, p.message))


class FieldReader:
    """Reads fields of one object at ``base`` (a JSON path) in ``file``, reporting bad types."""

    def __init__(self, problems: Problems, file: str, obj: Any, base: str = "$") -> None:
        self.problems = problems
        self.file = file
        self.base = base
        self.ok = isinstance(obj, Mapping)
        self.obj: Mapping[str, Any] = obj if isinstance(obj, Mapping) else {}
        if not self.ok:
            self.bad(base, "expected an object")

    def at(self, key: str | int) -> str:
        return f"{self.base}[{key}]" if isinstance(key, int) else f"{self.base}.{key}"

    def bad(self, path: str, message: str, code: str = "invalid_field") -> None:
        self.problems.add(self.file, path, code, message)

    def allow_only(self, keys: Iterable[str]) -> None:
        allowed = set(keys) | AWS_NOISE
        for key in self.obj:
            if key not in allowed:
                self.bad(self.at(key), f"unknown field `{key}`", "unknown_field")

    def string(self, key: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self.obj.get(key)
        if value is None:
            if required:
                self.bad(self.at(key), f"missing required field `{key}`", "missing_field")
            return default
        if not isinstance(value, str) or not value:
            self.bad(self.at(key), f"`{key}` must be a non-empty string")
            return default
        return value

    def strings(self, key: str) -> list[str]:
        value = self.obj.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.bad(self.at(key), f"`{key}` must be a list of strings")
            return []
        return list(value)

    def objects(self, key: str) -> list[FieldReader]:
        value = self.obj.get(key, [])
        if not isinstance(value, list):
            self.bad(self.at(key), f"`{key}` must be a list")
            return []
        path = self.at(key)
        return [
            FieldReader(self.problems, self.file, v, f"{path}[{i}]") for i, v in enumerate(value)
        ]

    def child(self, key: str) -> FieldReader | None:
        if self.obj.get(key) is None:
            return None
        return FieldReader(self.problems, self.file, self.obj[key], self.at(key))

    def tags(self, key: str = "Tags") -> dict[str, str]:
        """AWS ``[{Key, Value}]`` or a plain ``{key: value}`` mapping; bad entries are skipped
        here and reported by ``quotas.tag_problems``."""
        value = self.obj.get(key)
        if isinstance(value, Mapping):
            return {str(k): v for k, v in value.items() if isinstance(v, str)}
        out: dict[str, str] = {}
        for item in value if isinstance(value, list) else []:
            if isinstance(item, Mapping) and isinstance(item.get("Key"), str):
                tag_value = item.get("Value", "")
                if isinstance(tag_value, str):
                    out[item["Key"]] = tag_value
        return out

    def policy(
        self, key: str, policy_type: PolicyType, name: str, *, aws_owned: bool = False
    ) -> tuple[Policy | None, str]:
        """Parse the policy document at ``key``; returns (policy or None, its JSON text)."""
        value = self.obj.get(key)
        path = self.at(key)
        if value is None:
            self.bad(path, f"missing required field `{key}`", "missing_field")
            return None, ""
        return parse_document(
            self.problems, self.file, path, value, policy_type, name, aws_owned=aws_owned
        )


def parse_document(
    problems: Problems,
    file: str,
    path: str,
    value: Any,
    policy_type: PolicyType,
    name: str,
    *,
    aws_owned: bool = False,
) -> tuple[Policy | None, str]:
    """Parse a policy given as an object or JSON text; report ``MalformedPolicyDocument``."""
    text = value if isinstance(value, str) else json.dumps(value)
    if not isinstance(value, str | Mapping):
        problems.add(file, path, "MalformedPolicyDocument", "Syntax errors in policy.")
        return None, text
    try:
        policy = parse_policy(value, policy_type, name=name, source=file, aws_owned=aws_owned)
        return policy, text
    except MalformedPolicyDocument as err:
        where = path + err.path[1:] if err.path.startswith("$") else path
        prefix = f"statement `{err.statement}`: " if err.statement is not None else ""
        problems.add(file, where, err.code, prefix + err.message)
        return None, text
