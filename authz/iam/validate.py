"""Document-level validation after the syntax pass (spec §1.2–§1.4): which
``MalformedPolicyDocument`` message wins, for which statement, at which JSON path.

Called by ``authz.iam.parse`` with the statements it built (and the raw objects they came from).
The checks run in the order AWS was observed to use [MOTO-VAL], each over the whole document
before the next starts:

1. legacy parsing: wrong-case ``Effect``, unparseable ``Date*`` condition values, and the legacy
   shape check of resources ("The policy failed legacy parsing");
2. ``Sid``: ASCII letters and digits only (IAM policies, see below), then unique;
3. every statement has ``Action``/``NotAction``;
4. the resource-format problem (only one is reported: the last in AWS's scan order, which goes
   over every ``Resource`` element and then every ``NotResource``, array entries in descending
   string order);
5. action formats (vendor prefix, one colon);
6. policy-type rules: identity-like policies need resources and must not name a principal;
   trust policies allow only STS actions, no ``Resource``, no ``NotPrincipal`` and need a
   principal; then principal values (trust and resource policies).

Decisions where the spec is silent:

* The ``Sid`` character rule applies to the policy types IAM stores (identity, managed,
  boundary, trust, session); resource policies of other services and SCPs accept any string.
* Condition dates: W3C ISO-8601 profiles, epoch seconds, and what AWS was observed to accept
  beyond them (a lone year, hours without minutes, ``+hh`` offsets). Negative offsets (``-05:00``)
  and ``hh:mmZ`` are accepted as well.
* A policy variable in a ``Date*`` value is rejected (it is not a date); in Numeric, IP,
  Binary and Null values it is accepted and kept as literal text, which evaluation treats as
  an unparseable value (AWS evaluates such values rather than rejecting the document).
* Principal messages: a bad entry is "Invalid principal in policy" (the spec's text; AWS
  appends ``: "AWS":"<entry>"``, which our JSON path carries instead); a trust statement
  without a principal gets the same message (AWS adds "…a statement with no principals!").
* A resource-policy statement without ``Principal``/``NotPrincipal`` is accepted and applies
  to nobody (public vector eval-016, observed in iam-simulate), although S3 itself rejects
  such a bucket policy ("Missing required field Principal").
* ``NotPrincipal`` is allowed in resource policies with either effect; identity-like policies
  reject it like ``Principal``; trust policies reject it ("Has prohibited field NotPrincipal.").
* Trust policies: only ``Action`` (``NotAction`` is rejected with the trust-action message);
  each action must be an STS action (ignoring case) or an ``sts:`` wildcard matching one;
  ``"*"`` is rejected.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from authz.iam import arn
from authz.iam.conditions import Family, family_of, split_operator
from authz.iam.model import PolicyType, Statement

SYNTAX = "Syntax errors in policy."
LEGACY = "The policy failed legacy parsing"
SID_CHARACTERS = (
    "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular "
    "expression [0-9A-Za-z]*"
)
SID_UNIQUE = "Statement IDs (SID) in a single policy must be unique."
NO_ACTIONS = "Policy statement must contain actions."
NO_RESOURCES = "Policy statement must contain resources."
NO_PRINCIPAL_ALLOWED = "Policy document should not specify a principal."
INVALID_PRINCIPAL = "Invalid principal in policy"
IAM_POLICY_TYPES = frozenset(
    {PolicyType.IDENTITY, PolicyType.MANAGED, PolicyType.BOUNDARY, PolicyType.TRUST,
     PolicyType.SESSION}
)  # fmt: skip
_SID = re.compile(r"[0-9A-Za-z]*")
_MAX_EPOCH = 9223372036854775807
_TIME_ZONE = re.compile(r"(z|[+-]\d\d(?::?\d\d)?)\Z")


@dataclass(frozen=True)
class Entry:
    """One statement, the raw object it was built from, and its JSON path."""

    statement: Statement
    raw: Mapping[str, Any]
    path: str


@dataclass(frozen=True)
class Finding:
    """The problem to report: AWS message, statement label (Sid or ``#index``), JSON path."""

    message: str
    statement: str
    path: str


def first_problem(
    entries: Sequence[Entry], policy_type: PolicyType, *, aws_owned: bool = False
) -> Finding | None:
    """The problem AWS would report for this document, or None when it is valid.
    ``aws_owned``: IAM resource types unknown to us are accepted (AWS managed policies)."""
    legacy, resource = _resource_scan(entries, aws_owned)
    steps: tuple[Callable[[], Finding | None], ...] = (
        lambda: _legacy_statement(entries),
        lambda: legacy,
        lambda: _sid_problem(entries, policy_type),
        lambda: _missing_actions(entries),
        lambda: resource,
        lambda: _action_format(entries),
        lambda: _type_problem(entries, policy_type),
    )
    for step in steps:
        found = step()
        if found is not None:
            return found
    return None


def scalar_text(value: object) -> str:
    """A condition value as text: JSON booleans become ``true``/``false``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def items(value: Any, path: str) -> list[tuple[Any, str]]:
    """A string-or-array element as (value, JSON path) pairs."""
    if isinstance(value, list):
        return [(item, f"{path}[{i}]") for i, item in enumerate(value)]
    return [(value, path)]


def date_value_ok(value: str) -> bool:
    """A ``Date*`` condition value: ISO 8601 (W3C profiles, leniently) or epoch seconds."""
    try:
        if "t" in value.lower() or "-" in value:
            return _iso_date_ok(value.lower())
        return 0 <= int(value) <= _MAX_EPOCH
    except ValueError:
        return False


def _iso_date_ok(text: str) -> bool:
    date, _, time = text.partition("t")
    negative = date.startswith("-")
    fields = (date[1:] if negative else date).split("-")
    year = int(("-" if negative else "") + fields[0])
    ok = -292275054 <= year <= 292278993 and len(fields) < 4
    if len(fields) > 1:
        ok = ok and 1 <= int(fields[1]) <= 12
    if len(fields) > 2:
        ok = ok and 1 <= int(fields[2]) <= 31
    return ok and _time_ok(time)


def _time_ok(time: str) -> bool:
    zone = _TIME_ZONE.search(time) if time else None
    if zone is not None:
        offset = zone.group(1).lstrip("+-").replace(":", "")
        if offset != "z" and not (int(offset[:2]) <= 23 and int(offset[2:] or "0") <= 59):
            return False
        time = time[: zone.start()]
    parts = time.split(":")
    if len(parts) > 3:
        return False
    ok = parts[0] == "" or 0 <= int(parts[0]) <= 23
    if len(parts) > 1:
        ok = ok and 0 <= int(parts[1]) <= 59
    if len(parts) > 2:
        seconds, dot, fraction = parts[2].partition(".")
        ok = ok and 0 <= int(seconds) <= 59
        ok = ok and (not dot or 0 <= int(fraction) <= 999999999)
    return ok


def _legacy_statement(entries: Sequence[Entry]) -> Finding | None:
    """Wrong-case ``Effect`` and unparseable dates, statement by statement."""
    for e in entries:
        label = e.statement.label
        if e.raw.get("Effect") not in ("Allow", "Deny"):
            return Finding(LEGACY, label, f"{e.path}.Effect")
        block = e.raw.get("Condition") or {}
        for operator, body in block.items():
            split = split_operator(operator)
            if split is None or family_of(split[1]) is not Family.DATE:
                continue
            for key, value in body.items():
                where = f"{e.path}.Condition{key_path(operator)}{key_path(key)}"
                for item, path in items(value, where):
                    if not date_value_ok(scalar_text(item)):
                        return Finding(LEGACY, label, path)
    return None


def key_path(key: str) -> str:
    """A member of a JSON object in a path: ``.Name`` or ``['odd key']``."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        return f".{key}"
    return "['" + key.replace("\\", "\\\\").replace("'", "\\'") + "']"


def _resource_scan(
    entries: Sequence[Entry], aws_owned: bool = False
) -> tuple[Finding | None, Finding | None]:
    """(legacy-parsing problem, resource-format problem) of all resources, in AWS's order."""
    error: Finding | None = None
    for key in ("Resource", "NotResource"):
        for e in entries:
            if key not in e.raw:
                continue
            pairs = items(e.raw[key], f"{e.path}.{key}")
            for value, path in sorted(pairs, key=lambda pair: str(pair[0]), reverse=True):
                message = arn.resource_error(value, any_iam_type=aws_owned)
                if message is not None:
                    error = Finding(message, e.statement.label, path)
            if error is None:
                for value, path in pairs:
                    if not arn.legacy_resource_ok(value):
                        return Finding(LEGACY, e.statement.label, path), None
    return None, error


def _sid_problem(entries: Sequence[Entry], policy_type: PolicyType) -> Finding | None:
    if policy_type in IAM_POLICY_TYPES:
        for e in entries:
            sid = e.statement.sid
            if sid is not None and not _SID.fullmatch(sid):
                return Finding(SID_CHARACTERS, e.statement.label, f"{e.path}.Sid")
    seen: set[str] = set()
    for e in entries:
        sid = e.statement.sid
        if sid is not None:
            if sid in seen:
                return Finding(SID_UNIQUE, e.statement.label, f"{e.path}.Sid")
            seen.add(sid)
    return None


def _missing_actions(entries: Sequence[Entry]) -> Finding | None:
    for e in entries:
        if not e.statement.actions and not e.statement.not_actions:
            element = "NotAction" if "NotAction" in e.raw else "Action"
            return Finding(NO_ACTIONS, e.statement.label, f"{e.path}.{element}")
    return None


def _action_format(entries: Sequence[Entry]) -> Finding | None:
    for key in ("Action", "NotAction"):
        for e in entries:
            for value, path in items(e.raw.get(key, []), f"{e.path}.{key}"):
                message = arn.action_error(value)
                if message is not None:
                    return Finding(message, e.statement.label, path)
    return None


def _type_problem(entries: Sequence[Entry], policy_type: PolicyType) -> Finding | None:
    if policy_type is PolicyType.TRUST:
        return _trust_problem(entries) or _principal_problem(entries, policy_type)
    if policy_type is PolicyType.RESOURCE:
        return _principal_problem(entries, policy_type)
    if policy_type is PolicyType.RCP:
        return _rcp_problem(entries)
    for e in entries:
        if not e.statement.resources and not e.statement.not_resources:
            element = "NotResource" if "NotResource" in e.raw else "Resource"
            return Finding(NO_RESOURCES, e.statement.label, f"{e.path}.{element}")
    for e in entries:
        for element in ("Principal", "NotPrincipal"):
            if element in e.raw:
                return Finding(NO_PRINCIPAL_ALLOWED, e.statement.label, f"{e.path}.{element}")
    return None


def _rcp_problem(entries: Sequence[Entry]) -> Finding | None:
    """Resource control policies: every statement names resources and ``"Principal": "*"``
    (conditions narrow it); ``NotPrincipal`` is not supported (AWS Organizations RCP syntax)."""
    for e in entries:
        if not e.statement.resources and not e.statement.not_resources:
            element = "NotResource" if "NotResource" in e.raw else "Resource"
            return Finding(NO_RESOURCES, e.statement.label, f"{e.path}.{element}")
    for e in entries:
        if "NotPrincipal" in e.raw:
            message = "Has prohibited field NotPrincipal."
            return Finding(message, e.statement.label, f"{e.path}.NotPrincipal")
        if e.raw.get("Principal") != "*":
            message = 'Resource control policies must specify `"Principal": "*"`.'
            return Finding(message, e.statement.label, f"{e.path}.Principal")
    return None


def _trust_problem(entries: Sequence[Entry]) -> Finding | None:
    for e in entries:
        if "NotAction" in e.raw:
            return Finding(arn.TRUST_ACTION_MESSAGE, e.statement.label, f"{e.path}.NotAction")
        for value, path in items(e.raw.get("Action", []), f"{e.path}.Action"):
            if not arn.trust_action_ok(value):
                return Finding(arn.TRUST_ACTION_MESSAGE, e.statement.label, path)
    for e in entries:
        for element in ("Resource", "NotResource"):
            if element in e.raw:
                message = "Has prohibited field Resource."
                return Finding(message, e.statement.label, f"{e.path}.{element}")
    for e in entries:
        if "NotPrincipal" in e.raw:
            message = "Has prohibited field NotPrincipal."
            return Finding(message, e.statement.label, f"{e.path}.NotPrincipal")
    return None


def _principal_problem(entries: Sequence[Entry], policy_type: PolicyType) -> Finding | None:
    """Principal entries of resource-based policies; trust statements need a principal."""
    for e in entries:
        label = e.statement.label
        if "Principal" not in e.raw and "NotPrincipal" not in e.raw:
            if policy_type is PolicyType.TRUST:
                return Finding(INVALID_PRINCIPAL, label, f"{e.path}.Principal")
            continue  # a resource-policy statement without a principal applies to nobody
        for element in ("Principal", "NotPrincipal"):
            value = e.raw.get(element, "*")
            if not isinstance(value, Mapping):
                continue
            for kind, entries_ in value.items():
                for entry, path in items(entries_, f"{e.path}.{element}.{kind}"):
                    if not arn.principal_entry_ok(kind, entry):
                        return Finding(INVALID_PRINCIPAL, label, path)
    return None
