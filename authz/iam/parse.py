"""JSON policy text → validated ``Policy`` (spec §1). Raises ``MalformedPolicyDocument`` with the
AWS message, naming the document, the statement (Sid or ``#index``) and the JSON path.

Owns the syntax pass of §1.1–§1.2: JSON (duplicate keys and ``NaN``/``Infinity`` rejected),
element names and value shapes, the characters a document may contain, and the ``Version``
rule of managed policies. Document-level checks and their order (§1.3–§1.4) are
``authz.iam.validate``; string formats are ``authz.iam.arn``. Size quotas are not checked here
(``authz.iam.quotas``). Whatever the input, the only exception raised is
``MalformedPolicyDocument``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from authz.errors import MalformedPolicyDocument
from authz.iam import validate as v
from authz.iam.conditions import split_operator
from authz.iam.model import Condition, Effect, Policy, PolicyType, PrincipalSpec, Statement
from authz.iam.validate import LEGACY, SYNTAX, key_path

__all__ = ["LEGACY", "SYNTAX", "load_json", "parse_policy"]

VERSION_MESSAGE = "Policy document must be version 2012-10-17 or greater."
_TOP_KEYS = frozenset({"Version", "Id", "Statement"})
_STMT_KEYS = frozenset(
    {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Principal",
     "NotPrincipal", "Condition"}
)  # fmt: skip
_PRINCIPAL_KEYS = ("AWS", "Service", "Federated", "CanonicalUser")
_BAD_CHARACTER = re.compile(r"[^\t\n\r\u0020-\u00ff]")
_STATEMENT_PATH = re.compile(r"\$\.Statement(?:\[(\d+)\])?(?=[.\[]|\Z)")


class _Object(dict[str, Any]):
    """A decoded JSON object that remembers keys it saw twice."""

    duplicates: tuple[str, ...] = ()


def _object_hook(pairs: list[tuple[str, Any]]) -> _Object:
    out = _Object()
    twice = []
    for key, value in pairs:
        if key in out:
            twice.append(key)
        out[key] = value
    if twice:
        out.duplicates = tuple(twice)
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def load_json(text: str, *, name: str = "") -> Any:
    """Parse JSON text, rejecting duplicate keys and non-JSON constants (spec §1.1)."""
    try:
        obj = json.loads(text, object_pairs_hook=_object_hook, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as err:
        raise MalformedPolicyDocument(SYNTAX, document=name, path="$") from err
    found = _find_node(obj, lambda node: isinstance(node, _Object) and node.duplicates)
    if found is not None:
        node, path = found
        where = path + key_path(getattr(node, "duplicates", ("",))[0])
        raise MalformedPolicyDocument(
            SYNTAX, document=name, statement=_label(obj, where), path=where
        )
    return obj


def parse_policy(
    document: str | Mapping[str, Any],
    policy_type: PolicyType,
    *,
    name: str = "",
    source: str | None = None,
    aws_owned: bool = False,
) -> Policy:
    """Parse and validate one policy document (JSON text or an already-decoded object).
    ``aws_owned``: an AWS managed policy, whose IAM resources may name resource types this
    validator does not know (``arn:aws:iam::aws:role-template/…``): any syntactically valid
    ARN is accepted there."""
    if isinstance(document, str):
        _check_characters(document, name)
        obj = load_json(document, name=name)
    else:
        obj = document
    return _Parser(policy_type, name, source, aws_owned).policy(obj)


def _check_characters(text: str, name: str) -> None:
    """Documents may contain only TAB, LF, CR and U+0020–U+00FF (spec §1.3). The character is
    located in a lenient decoding of the text (control characters allowed inside strings)."""
    bad = _BAD_CHARACTER.search(text)
    if bad is None:
        return
    try:
        obj = json.loads(text, strict=False)
    except (ValueError, RecursionError):
        obj = None
    found = _find_node(obj, lambda node: isinstance(node, str) and bad.group() in node)
    path = found[1] if found is not None else "$"
    message = (
        f"Policy document contains the character U+{ord(bad.group()):04X}, which is not allowed "
        "(only TAB, LF, CR and U+0020-U+00FF)."
    )
    raise MalformedPolicyDocument(message, document=name, statement=_label(obj, path), path=path)


def _find_node(obj: Any, wanted: Callable[[Any], object]) -> tuple[Any, str] | None:
    """The first node (depth first, document order, object keys included) that ``wanted``
    accepts, with its path. Iterative, so deep nesting cannot overflow the stack."""
    stack: list[tuple[Any, str]] = [(obj, "$")]
    while stack:
        node, path = stack.pop()
        if wanted(node):
            return node, path
        children: list[tuple[Any, str]] = []
        if isinstance(node, Mapping):
            for key, value in node.items():
                if isinstance(key, str) and wanted(key):
                    return key, path + key_path(key)
                children.append((value, path + key_path(str(key))))
        elif isinstance(node, list):
            children = [(value, f"{path}[{i}]") for i, value in enumerate(node)]
        stack.extend(reversed(children))
    return None


def _label(obj: Any, path: str) -> str | None:
    """The statement a path points into (its Sid or ``#index``), if any."""
    match = _STATEMENT_PATH.match(path)
    if match is None or not isinstance(obj, Mapping):
        return None
    index = int(match.group(1) or 0)
    raw = obj.get("Statement")
    statement = raw[index] if isinstance(raw, list) and index < len(raw) else raw
    sid = statement.get("Sid") if isinstance(statement, Mapping) else None
    return sid if isinstance(sid, str) and sid else f"#{index}"


class _Parser:
    def __init__(
        self, policy_type: PolicyType, name: str, source: str | None, aws_owned: bool = False
    ) -> None:
        self.policy_type = policy_type
        self.aws_owned = aws_owned
        self.name = name
        self.source = source

    def fail(
        self, message: str, path: str, statement: str | None = None
    ) -> MalformedPolicyDocument:
        return MalformedPolicyDocument(message, document=self.name, statement=statement, path=path)

    def policy(self, obj: Any) -> Policy:
        if not isinstance(obj, Mapping):
            raise self.fail(SYNTAX, "$")
        for key in obj:
            if key not in _TOP_KEYS:
                raise self.fail(SYNTAX, "$" + key_path(str(key)))
        version = obj.get("Version")
        if "Version" in obj and version not in ("2012-10-17", "2008-10-17"):
            raise self.fail(SYNTAX, "$.Version")
        policy_id = obj.get("Id")
        if "Id" in obj and not isinstance(policy_id, str):
            raise self.fail(SYNTAX, "$.Id")
        entries = [self.statement(raw, i, path) for i, raw, path in self.raw_statements(obj)]
        if self.policy_type is PolicyType.MANAGED and version != "2012-10-17":
            raise self.fail(VERSION_MESSAGE, "$.Version")
        found = v.first_problem(entries, self.policy_type, aws_owned=self.aws_owned)
        if found is not None:
            raise self.fail(found.message, found.path, found.statement)
        return Policy(
            name=self.name,
            policy_type=self.policy_type,
            version=version,
            statements=tuple(e.statement for e in entries),
            source=self.source,
            policy_id=policy_id,
            digest=_digest(obj, self.policy_type),
        )

    def raw_statements(self, obj: Mapping[str, Any]) -> list[tuple[int, Mapping[str, Any], str]]:
        raw = obj.get("Statement")
        if isinstance(raw, Mapping):
            return [(0, raw, "$.Statement")]
        if not isinstance(raw, list) or not raw:
            raise self.fail(SYNTAX, "$.Statement")
        out = []
        for i, item in enumerate(raw):
            if not isinstance(item, Mapping):
                raise self.fail(SYNTAX, f"$.Statement[{i}]", f"#{i}")
            out.append((i, item, f"$.Statement[{i}]"))
        return out

    def statement(self, obj: Mapping[str, Any], index: int, path: str) -> v.Entry:
        sid = obj.get("Sid")
        label = sid if isinstance(sid, str) and sid else f"#{index}"
        for key in obj:
            if key not in _STMT_KEYS:
                raise self.fail(SYNTAX, path + key_path(str(key)), label)
        if "Sid" in obj and not isinstance(sid, str):
            raise self.fail(SYNTAX, f"{path}.Sid", label)
        effect = obj.get("Effect")
        if not isinstance(effect, str) or effect.lower() not in ("allow", "deny"):
            raise self.fail(SYNTAX, f"{path}.Effect", label)
        for first, second in (("Action", "NotAction"), ("Resource", "NotResource"),
                              ("Principal", "NotPrincipal")):  # fmt: skip
            if first in obj and second in obj:
                raise self.fail(SYNTAX, f"{path}.{second}", label)
        statement = Statement(
            index=index,
            sid=sid if sid else None,
            effect=Effect.ALLOW if effect.lower() == "allow" else Effect.DENY,
            actions=self.strings(obj, "Action", path, label),
            not_actions=self.strings(obj, "NotAction", path, label),
            resources=self.strings(obj, "Resource", path, label),
            not_resources=self.strings(obj, "NotResource", path, label),
            principal=self.principal(obj, "Principal", path, label),
            not_principal=self.principal(obj, "NotPrincipal", path, label),
            conditions=self.conditions(obj.get("Condition"), f"{path}.Condition", label),
        )
        return v.Entry(statement, obj, path)

    def strings(
        self, obj: Mapping[str, Any], element: str, path: str, label: str
    ) -> tuple[str, ...]:
        """A string or an array of strings (absent → empty)."""
        if element not in obj:
            return ()
        value = obj[element]
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list):
            for i, item in enumerate(value):
                if not isinstance(item, str):
                    raise self.fail(SYNTAX, f"{path}.{element}[{i}]", label)
            return tuple(value)
        raise self.fail(SYNTAX, f"{path}.{element}", label)

    def principal(
        self, obj: Mapping[str, Any], element: str, path: str, label: str
    ) -> PrincipalSpec | None:
        """``"*"`` or an object of AWS/Service/Federated/CanonicalUser → strings (§1.3)."""
        if element not in obj:
            return None
        value = obj[element]
        where = f"{path}.{element}"
        if value == "*":
            return PrincipalSpec(wildcard=True)
        if not isinstance(value, Mapping) or not value:
            raise self.fail(SYNTAX, where, label)
        fields: dict[str, tuple[str, ...]] = {}
        for key in value:
            if key not in _PRINCIPAL_KEYS:
                raise self.fail(SYNTAX, where + key_path(str(key)), label)
            fields[key] = self.strings(value, key, where, label)
            if not fields[key]:
                raise self.fail(SYNTAX, f"{where}.{key}", label)
        aws = fields.get("AWS", ())
        return PrincipalSpec(
            wildcard="*" in aws,
            aws=tuple(a for a in aws if a != "*"),
            service=fields.get("Service", ()),
            federated=fields.get("Federated", ()),
            canonical_user=fields.get("CanonicalUser", ()),
        )

    def conditions(self, value: Any, path: str, label: str) -> tuple[Condition, ...]:
        """``{operator: {key: value-or-array}}``; unknown operators only with an empty body."""
        if value is None:
            return ()
        if not isinstance(value, Mapping):
            raise self.fail(SYNTAX, path, label)
        out: list[Condition] = []
        for operator, body in value.items():
            where = path + key_path(str(operator))
            if not isinstance(operator, str) or not isinstance(body, Mapping):
                raise self.fail(SYNTAX, where, label)
            parsed = []
            for key, raw in body.items():
                if not isinstance(key, str):
                    raise self.fail(SYNTAX, where + key_path(str(key)), label)
                parsed.append((key, self.condition_values(raw, where + key_path(key), label)))
            split = split_operator(operator)
            if split is None:
                if body:
                    raise self.fail(SYNTAX, where, label)
                continue  # an unknown operator with an empty body is tolerated (observed)
            qualifier, base, if_exists = split
            out += [Condition(operator, qualifier, base, if_exists, k, vs) for k, vs in parsed]
        return tuple(out)

    def condition_values(self, raw: Any, path: str, label: str) -> tuple[str, ...]:
        """Strings, booleans and numbers, alone or in an array; anything else is a syntax error."""
        values = []
        for item, where in v.items(raw, path):
            if not isinstance(item, str | bool | int | float):
                raise self.fail(SYNTAX, where, label)
            values.append(v.scalar_text(item))
        return tuple(values)


def _digest(obj: Any, policy_type: PolicyType) -> str:
    try:
        canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=repr)
    except (TypeError, ValueError, RecursionError):
        canonical = repr(obj)
    return hashlib.sha256(f"{policy_type.value}\n{canonical}".encode()).hexdigest()[:24]
