"""JSON policy text → validated ``Policy`` (spec §1). Raises ``MalformedPolicyDocument`` with the
AWS message, naming the document, the statement (Sid or #index) and the JSON path.

Owns the grammar checks of §1.1–§1.3. Size quotas are not checked here (authz.iam.quotas).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from authz.errors import MalformedPolicyDocument
from authz.iam import validate as v
from authz.iam.conditions import split_operator
from authz.iam.model import Condition, Effect, Policy, PolicyType, PrincipalSpec, Statement

SYNTAX = "Syntax errors in policy."
LEGACY = "The policy failed legacy parsing"
_TOP_KEYS = frozenset({"Version", "Id", "Statement"})
_STMT_KEYS = frozenset(
    {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Principal",
     "NotPrincipal", "Condition"}
)  # fmt: skip
_PRINCIPAL_KEYS = ("AWS", "Service", "Federated", "CanonicalUser")


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise MalformedPolicyDocument(SYNTAX, path=f"$.{key}")
        seen[key] = value
    return seen


def load_json(text: str, *, name: str = "") -> Any:
    """Parse JSON text, rejecting duplicate keys (spec §1.1)."""
    try:
        return json.loads(text, object_pairs_hook=_reject_duplicates)
    except MalformedPolicyDocument as err:
        raise MalformedPolicyDocument(SYNTAX, document=name, path=err.path) from err
    except (ValueError, RecursionError) as err:
        raise MalformedPolicyDocument(SYNTAX, document=name, path="$") from err


def parse_policy(
    document: str | Mapping[str, Any],
    policy_type: PolicyType,
    *,
    name: str = "",
    source: str | None = None,
) -> Policy:
    """Parse and validate one policy document (JSON text or an already-decoded object)."""
    if isinstance(document, str):
        v.check_characters(document, name)
        obj = load_json(document, name=name)
    else:
        obj = document
    return _Parser(policy_type, name, source).policy(obj)


class _Parser:
    def __init__(self, policy_type: PolicyType, name: str, source: str | None) -> None:
        self.policy_type = policy_type
        self.name = name
        self.source = source

    def fail(self, message: str, path: str, statement: str | None = None) -> MalformedPolicyDocument:
        return MalformedPolicyDocument(message, document=self.name, statement=statement, path=path)

    def policy(self, obj: Any) -> Policy:
        if not isinstance(obj, Mapping):
            raise self.fail(SYNTAX, "$")
        for key in obj:
            if key not in _TOP_KEYS:
                raise self.fail(SYNTAX, f"$.{key}")
        version = obj.get("Version")
        if version is not None and version not in ("2012-10-17", "2008-10-17"):
            raise self.fail(SYNTAX, "$.Version")
        if self.policy_type is PolicyType.MANAGED and version != "2012-10-17":
            raise self.fail("Policy document must be version 2012-10-17 or greater.", "$.Version")
        policy_id = obj.get("Id")
        if policy_id is not None and not isinstance(policy_id, str):
            raise self.fail(SYNTAX, "$.Id")
        raw = obj.get("Statement")
        if isinstance(raw, Mapping):
            raw_list: list[Any] = [raw]
        elif isinstance(raw, list) and raw:
            raw_list = raw
        else:
            raise self.fail(SYNTAX, "$.Statement")
        if any(not isinstance(s, Mapping) for s in raw_list):
            raise self.fail(SYNTAX, "$.Statement")
        single = isinstance(raw, Mapping)
        statements = [
            self.statement(s, i, "$.Statement" if single else f"$.Statement[{i}]")
            for i, s in enumerate(raw_list)
        ]
        self.check_unique_sids(statements)
        for st, path in zip(statements, self.paths(raw_list, single), strict=True):
            self.check_formats(st, path)
        return Policy(
            name=self.name,
            policy_type=self.policy_type,
            version=version,
            statements=tuple(statements),
            source=self.source,
            policy_id=policy_id,
            digest=_digest(obj, self.policy_type),
        )

    @staticmethod
    def paths(raw_list: list[Any], single: bool) -> list[str]:
        return ["$.Statement" if single else f"$.Statement[{i}]" for i in range(len(raw_list))]

    def statement(self, obj: Mapping[str, Any], index: int, path: str) -> Statement:
        sid = obj.get("Sid")
        label = sid if isinstance(sid, str) and sid else f"#{index}"
        for key in obj:
            if key not in _STMT_KEYS:
                raise self.fail(SYNTAX, f"{path}.{key}", label)
        if sid is not None and not isinstance(sid, str):
            raise self.fail(SYNTAX, f"{path}.Sid", label)
        effect = obj.get("Effect")
        if effect not in ("Allow", "Deny"):
            msg = LEGACY if isinstance(effect, str) and effect.lower() in ("allow", "deny") else SYNTAX
            raise self.fail(msg, f"{path}.Effect", label)
        if "Action" in obj and "NotAction" in obj:
            raise self.fail(SYNTAX, f"{path}.NotAction", label)
        if "Resource" in obj and "NotResource" in obj:
            raise self.fail(SYNTAX, f"{path}.NotResource", label)
        if "Principal" in obj and "NotPrincipal" in obj:
            raise self.fail(SYNTAX, f"{path}.NotPrincipal", label)
        actions = self.strings(obj.get("Action"), f"{path}.Action", label)
        not_actions = self.strings(obj.get("NotAction"), f"{path}.NotAction", label)
        resources = self.strings(obj.get("Resource"), f"{path}.Resource", label)
        not_resources = self.strings(obj.get("NotResource"), f"{path}.NotResource", label)
        principal = self.principal(obj, "Principal", path, label)
        not_principal = self.principal(obj, "NotPrincipal", path, label)
        conditions = self.conditions(obj.get("Condition"), f"{path}.Condition", label)
        return Statement(
            index=index,
            sid=sid if sid else None,
            effect=Effect(effect),
            actions=actions,
            not_actions=not_actions,
            resources=resources,
            not_resources=not_resources,
            principal=principal,
            not_principal=not_principal,
            conditions=conditions,
        )

    def strings(self, value: Any, path: str, label: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list) and all(isinstance(x, str) for x in value):
            return tuple(value)
        raise self.fail(SYNTAX, path, label)

    def principal(
        self, obj: Mapping[str, Any], element: str, path: str, label: str
    ) -> PrincipalSpec | None:
        if element not in obj:
            return None
        value = obj[element]
        where = f"{path}.{element}"
        if value == "*":
            return PrincipalSpec(wildcard=True)
        if not isinstance(value, Mapping) or not value:
            raise self.fail(SYNTAX, where, label)
        fields: dict[str, tuple[str, ...]] = {}
        for key, entries in value.items():
            if key not in _PRINCIPAL_KEYS:
                raise self.fail(SYNTAX, f"{where}.{key}", label)
            fields[key] = self.strings(entries, f"{where}.{key}", label)
        aws = fields.get("AWS", ())
        return PrincipalSpec(
            wildcard="*" in aws,
            aws=tuple(a for a in aws if a != "*"),
            service=fields.get("Service", ()),
            federated=fields.get("Federated", ()),
            canonical_user=fields.get("CanonicalUser", ()),
        )

    def conditions(self, value: Any, path: str, label: str) -> tuple[Condition, ...]:
        if value is None:
            return ()
        if not isinstance(value, Mapping):
            raise self.fail(SYNTAX, path, label)
        out: list[Condition] = []
        for operator, body in value.items():
            where = f"{path}.{operator}"
            if not isinstance(body, Mapping):
                raise self.fail(SYNTAX, where, label)
            split = split_operator(operator)
            if split is None:
                if not body:
                    continue  # an unknown operator with an empty body is tolerated (observed)
                raise self.fail(SYNTAX, where, label)
            qualifier, base, if_exists = split
            for key, raw in body.items():
                values = self.condition_values(raw, f"{where}.{key}", label)
                out.append(Condition(operator, qualifier, base, if_exists, key, values))
        return tuple(out)

    def condition_values(self, raw: Any, path: str, label: str) -> tuple[str, ...]:
        items = raw if isinstance(raw, list) else [raw]
        values = []
        for item in items:
            if isinstance(item, bool):
                values.append("true" if item else "false")
            elif isinstance(item, int | float | str):
                values.append(str(item))
            else:
                raise self.fail(SYNTAX, path, label)
        return tuple(values)

    def check_unique_sids(self, statements: list[Statement]) -> None:
        seen: set[str] = set()
        for st in statements:
            if st.sid:
                if st.sid in seen:
                    raise self.fail(
                        "Statement IDs (SID) in a single policy must be unique.",
                        f"$.Statement[{st.index}].Sid",
                        st.label,
                    )
                seen.add(st.sid)

    def check_formats(self, st: Statement, path: str) -> None:
        """Element presence per policy type and string formats (§1.2, §1.3)."""
        problem = v.statement_problem(st, self.policy_type)
        if problem is not None:
            message, element = problem
            raise self.fail(message, f"{path}.{element}" if element else path, st.label)


def _digest(obj: Any, policy_type: PolicyType) -> str:
    canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{policy_type.value}\n{canonical}".encode()).hexdigest()[:24]
