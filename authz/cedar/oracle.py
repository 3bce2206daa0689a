"""Oracle facts: the parts of IAM that Cedar cannot express, evaluated in Python per request.

The translator replaces such an element with ``context.oracle.contains("o:<hash>")`` and records
the fact here: an action pattern with ``?``, a resource pattern with ``?`` or a request-time
variable, or a whole condition (``?`` in a ``StringLike`` value, a request-time variable inside a
value, a set-qualified operator other than String(Not)Equals(IgnoreCase)). ``FactTable.holding``
returns the ids that hold for one request; the table travels with the compiled partition.

Owns the exact Python semantics of conditions (spec §4). Must not import cedarpy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from authz.cedar import values as val
from authz.cedar.pattern import (
    Pattern,
    context_lookup,
    is_star,
    literal_text,
    parse_pattern,
    split_components,
    substitute,
    to_glob,
)
from authz.iam.conditions import OPERATORS, Family
from authz.iam.model import ContextValue

Context = Mapping[str, ContextValue]


@dataclass(frozen=True, slots=True)
class ActionFact:
    pattern: str  # lowercased IAM action pattern


@dataclass(frozen=True, slots=True)
class ResourceFact:
    pattern: Pattern  # ARN pattern; may hold request-time variables


@dataclass(frozen=True, slots=True)
class ConditionFact:
    base: str
    qualifier: str
    if_exists: bool
    key: str  # lowercased
    values: tuple[Pattern, ...]  # compile-time variables already substituted


Fact = ActionFact | ResourceFact | ConditionFact


def fact_id(fact: Fact) -> str:
    return "o:" + hashlib.sha256(repr(fact).encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class Probe:
    """What a fact reads: the lowercased action, the resource ARN, the request context."""

    action: str
    resource: str
    context: Context


Matcher = Callable[[Probe], bool]


class FactTable:
    """Precompiled matchers of one partition, by fact id."""

    def __init__(self, facts: Mapping[str, Fact]) -> None:
        self.facts = dict(facts)
        self._matchers: tuple[tuple[str, Matcher], ...] = tuple(
            (fid, compile_fact(fact)) for fid, fact in sorted(self.facts.items())
        )

    def __len__(self) -> int:
        return len(self._matchers)

    def holding(self, probe: Probe) -> list[str]:
        return [fid for fid, matcher in self._matchers if matcher(probe)]


def compile_fact(fact: Fact) -> Matcher:
    if isinstance(fact, ActionFact):
        glob = to_glob(
            parse_pattern(fact.pattern, variables=False, wildcards=True), case_insensitive=True
        )
        return lambda probe: glob.matches(probe.action)
    if isinstance(fact, ResourceFact):
        pattern = fact.pattern
        return lambda probe: resource_matches(pattern, probe.resource, probe.context)
    cond = fact
    return lambda probe: condition_holds(cond, probe.context)


def arn_pattern_matches(pattern: Pattern, value: str) -> bool:
    """Spec §2.2 on a variable-free pattern: component by component, case-sensitive."""
    parts = val.parse_arn(value)
    if is_star(pattern):
        return parts is not None
    comps = split_components(pattern)
    if comps is None or parts is None:
        return False
    return all(_match(comp, part) for comp, part in zip(comps, parts, strict=True))


def _match(pattern: Pattern, value: str) -> bool:
    return to_glob(pattern).matches(value)


def resource_matches(pattern: Pattern, resource: str, context: Context) -> bool:
    resolved = substitute(pattern, context_lookup(context))
    if resolved is None:
        return False
    if is_star(resolved):
        return True
    return arn_pattern_matches(resolved, resource)


def condition_holds(cond: ConditionFact, context: Context) -> bool:
    """One (operator, key) test with the spec's rules for missing keys, IfExists, qualifiers,
    multivalued keys and unresolvable variables (§4.3-§4.6)."""
    lookup = context_lookup(context)
    resolved = [substitute(v, lookup) for v in cond.values]
    policy_values = [v for v in resolved if v is not None]
    family, negated = OPERATORS[cond.base]
    raw = context.get(cond.key)
    if family is Family.NULL:
        wanted = [val.parse_bool(literal_text(v)) for v in policy_values]
        return any(w is not None and w == (raw is None) for w in wanted)
    if raw is None:
        if cond.if_exists or cond.qualifier == "ForAllValues":
            return True
        return False if cond.qualifier == "ForAnyValue" else negated
    if cond.qualifier:
        items = raw if isinstance(raw, tuple) else (raw,)
        results = [_single(cond.base, negated, item, policy_values) for item in items]
        return all(results) if cond.qualifier == "ForAllValues" else any(results)
    if isinstance(raw, tuple):
        return False  # a plain operator never matches a multivalued key (spec §4.5)
    return _single(cond.base, negated, raw, policy_values)


def _single(base: str, negated: bool, value: str, policy_values: list[Pattern]) -> bool:
    """``value`` against the policy values: OR for positive operators, NOR for negated ones;
    a context value the family cannot read never matches."""
    family = OPERATORS[base][0]
    if not _readable(family, value):
        return False
    hit = any(value_matches(base, value, pv) for pv in policy_values)
    return not hit if negated else hit


def _readable(family: Family, value: str) -> bool:
    if family is Family.NUMERIC:
        return val.parse_number(value) is not None
    if family is Family.DATE:
        return val.parse_date(value) is not None
    if family is Family.IP:
        return val.parse_ip(value) is not None
    if family is Family.BOOL:
        return val.parse_bool(value) is not None
    if family is Family.ARN:
        return val.parse_arn(value) is not None
    return True


_NUMERIC_TESTS: dict[str, Callable[[int], bool]] = {
    "Equals": lambda c: c == 0,
    "NotEquals": lambda c: c == 0,  # negation applied by the caller
    "LessThan": lambda c: c < 0,
    "LessThanEquals": lambda c: c <= 0,
    "GreaterThan": lambda c: c > 0,
    "GreaterThanEquals": lambda c: c >= 0,
}


def _compare(base: str, prefix: str, left: object, right: object) -> bool:
    cmp = (left > right) - (left < right)  # type: ignore[operator]
    return _NUMERIC_TESTS[base[len(prefix) :]](cmp)


def value_matches(base: str, value: str, policy_value: Pattern) -> bool:
    """One context value against one (variable-free) policy value."""
    family = OPERATORS[base][0]
    text = literal_text(policy_value)
    if family is Family.STRING:
        if base.endswith("IgnoreCase"):
            return value.lower() == text.lower()
        if base in ("StringLike", "StringNotLike"):
            return _match(policy_value, value)
        return value == text
    if family is Family.ARN:
        return arn_pattern_matches(policy_value, value)
    if family is Family.BINARY:
        return val.decode_binary(text) == value
    if family is Family.BOOL:
        wanted = val.parse_bool(text)
        return wanted is not None and wanted == val.parse_bool(value)
    if family is Family.IP:
        net, addr = val.parse_network(text), val.parse_ip(value)
        return net is not None and addr is not None and addr.version == net.version and addr in net
    parse = val.parse_number if family is Family.NUMERIC else val.parse_date
    left, right = parse(value), parse(text)
    if left is None or right is None:
        return False
    return _compare(base, "Numeric" if family is Family.NUMERIC else "Date", left, right)
