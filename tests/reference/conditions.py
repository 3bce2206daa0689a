"""Reference condition evaluation (iam-semantics.md §4): every operator family, ``IfExists``,
negation, the ``ForAllValues``/``ForAnyValue`` qualifiers, ``Null`` and policy variables.

Owns ``condition_block_holds``. Rules, in one place:

* operators AND, keys under an operator AND, values of one key OR; a negated operator holds
  when the context value matches **none** of the values (NOR) (§4.1);
* absent key: positive -> false, negated -> true, ``IfExists`` -> true, ``ForAllValues`` ->
  true, ``ForAnyValue`` -> false (§4.3, §4.5);
* a plain (unqualified) operator against a multivalued (array) context value never holds;
  a qualifier treats a single value as a one-element set (§4.5);
* a context value the family cannot read (non-numeric for Numeric*, not a date, not an IP,
  not an ARN) never satisfies the test, negated or not (§4.4, [ASPEN]/[IAMSIM]);
* a value holding an unresolvable variable matches nothing (§4.6).

Imports nothing from ``authz``.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import ipaddress
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from tests.reference.context import Context, lookup, scalar
from tests.reference.matching import Pattern, arn_match, expand, glob_match, split_arn, text_of

# base operator -> (family, negated)
OPERATORS: dict[str, tuple[str, bool]] = {
    "StringEquals": ("string", False),
    "StringNotEquals": ("string", True),
    "StringEqualsIgnoreCase": ("string", False),
    "StringNotEqualsIgnoreCase": ("string", True),
    "StringLike": ("string", False),
    "StringNotLike": ("string", True),
    "NumericEquals": ("numeric", False),
    "NumericNotEquals": ("numeric", True),
    "NumericLessThan": ("numeric", False),
    "NumericLessThanEquals": ("numeric", False),
    "NumericGreaterThan": ("numeric", False),
    "NumericGreaterThanEquals": ("numeric", False),
    "DateEquals": ("date", False),
    "DateNotEquals": ("date", True),
    "DateLessThan": ("date", False),
    "DateLessThanEquals": ("date", False),
    "DateGreaterThan": ("date", False),
    "DateGreaterThanEquals": ("date", False),
    "Bool": ("bool", False),
    "BinaryEquals": ("binary", False),
    "IpAddress": ("ip", False),
    "NotIpAddress": ("ip", True),
    "ArnEquals": ("arn", False),
    "ArnLike": ("arn", False),
    "ArnNotEquals": ("arn", True),
    "ArnNotLike": ("arn", True),
    "Null": ("null", False),
}

# Families whose policy values may hold variables (§4.6).
_VARIABLE_FAMILIES = ("string", "arn", "bool")

_NUMBER = re.compile(r"\A[+-]?(\d+(\.\d*)?|\.\d+)\Z")
_EPOCH = re.compile(r"\A\d+\Z")
_ISO = re.compile(
    r"\A(\d{4})(?:-(\d{2})(?:-(\d{2})"
    r"(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?\Z"
)

# Comparators: (context value, policy value) -> bool, for the positive form of each operator.
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "Equals": lambda c, v: c == v,
    "LessThan": lambda c, v: c < v,
    "LessThanEquals": lambda c, v: c <= v,
    "GreaterThan": lambda c, v: c > v,
    "GreaterThanEquals": lambda c, v: c >= v,
}


def split_operator(name: str) -> tuple[str, str, bool]:
    """``ForAnyValue:StringLikeIfExists`` -> (``ForAnyValue``, ``StringLike``, True)."""
    qualifier, _, rest = name.rpartition(":")
    if qualifier not in ("", "ForAllValues", "ForAnyValue"):
        raise ValueError(f"unknown qualifier `{qualifier}`")
    if rest not in OPERATORS and rest.endswith("IfExists"):
        base = rest[: -len("IfExists")]
        if base in OPERATORS and base != "Null":
            return qualifier, base, True
    if rest not in OPERATORS:
        raise ValueError(f"unknown condition operator `{name}`")
    return qualifier, rest, False


def parse_number(text: str) -> Decimal | None:
    return Decimal(text) if _NUMBER.match(text) else None


def parse_date(text: str) -> Decimal | None:
    """W3C ISO-8601 profiles (``YYYY`` .. ``YYYY-MM-DDThh:mm:ss.sTZD``, UTC when no TZD) or
    epoch seconds (all digits, any length but four), as seconds since the epoch (§4.4)."""
    match = _ISO.match(text)
    if match is None:
        return Decimal(text) if _EPOCH.match(text) else None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        fields = [int(year), int(month or 1), int(day or 1)]
        fields += [int(hour or 0), int(minute or 0), int(second or 0)]
        if fields[0] < 1:
            return None  # the year 0000 is not a date (no proleptic year zero)
        if not (1 <= fields[1] <= 12 and 1 <= fields[2] <= calendar.monthrange(*fields[:2])[1]):
            return None
        if fields[3] > 23 or fields[4] > 59 or fields[5] > 59:
            return None
    except ValueError:
        return None
    seconds = Decimal(calendar.timegm((*fields, 0, 0, 0)))
    if fraction:
        seconds += Decimal("0." + fraction)
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return seconds


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """A policy range; a bare address is a single-address range; an IPv4-mapped IPv6 range
    (``::ffff:a.b.c.d/96+n``) counts as the IPv4 range ``a.b.c.d/n``."""
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    mapped = getattr(network.network_address, "ipv4_mapped", None)
    if mapped is not None and network.prefixlen >= 96:
        return ipaddress.IPv4Network((mapped, network.prefixlen - 96))
    return network


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """A request address; an IPv4-mapped IPv6 address counts as its IPv4 address."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _base64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _readable(family: str, c: str) -> bool:
    """Can the family read the context value at all? If not, the test never holds."""
    if family == "numeric":
        return parse_number(c) is not None
    if family == "date":
        return parse_date(c) is not None
    if family == "bool":
        return c.lower() in ("true", "false")
    if family == "ip":
        return _address(c) is not None
    if family == "arn":
        return split_arn(c) is not None
    return True


def _value_matches(base: str, family: str, c: str, v: Pattern) -> bool:
    """Does context value ``c`` match one policy value ``v`` under the positive form of
    ``base``? ``c`` is readable by the family."""
    text = text_of(v)
    if family == "string":
        if base.endswith("Like"):
            return glob_match(v, c)
        if base.endswith("IgnoreCase"):
            return c.lower() == text.lower()
        return c == text
    if family in ("numeric", "date"):
        parse = parse_number if family == "numeric" else parse_date
        cv, pv = parse(c), parse(text)
        suffix = base.removeprefix("Numeric").removeprefix("Date").replace("NotEquals", "Equals")
        return cv is not None and pv is not None and _COMPARE[suffix](cv, pv)
    if family == "bool":
        return c.lower() == text.lower()
    if family == "binary":
        return _base64(text) == c.encode("utf-8")
    if family == "ip":
        address, network = _address(c), _network(text)
        if address is None or network is None or network.version != address.version:
            return False
        return address in network
    if family == "arn":
        return arn_match(v, c)
    raise AssertionError(family)


def _single_holds(base: str, c: str, values: list[Pattern | None]) -> bool:
    """One context value against all policy values: OR, or NOR when negated (§4.1).
    A value with an unresolvable variable (None) matches nothing."""
    family, negated = OPERATORS[base]
    if not _readable(family, c):
        return False
    matched = any(v is not None and _value_matches(base, family, c, v) for v in values)
    return not matched if negated else matched


def _null_holds(present: bool, raw_values: list[object]) -> bool:
    """``Null``: ``true`` means the key is absent, ``false`` that it is present (§4.4)."""
    wanted = [scalar(v).lower() for v in raw_values]
    return ("true" in wanted and not present) or ("false" in wanted and present)


def key_holds(operator: str, key: str, raw: object, context: Context, version: str | None) -> bool:
    """One (operator, key) pair of a Condition block."""
    qualifier, base, if_exists = split_operator(operator)
    raw_values = raw if isinstance(raw, list) else [raw]
    value = lookup(context, key)
    if base == "Null":
        return _null_holds(value is not None, raw_values)
    if value is None:
        if if_exists or qualifier == "ForAllValues":
            return True
        if qualifier == "ForAnyValue":
            return False
        return OPERATORS[base][1]
    family = OPERATORS[base][0]
    values: list[Pattern | None] = [
        expand(scalar(v), context, version if family in _VARIABLE_FAMILIES else None)
        for v in raw_values
    ]
    if qualifier == "":
        return isinstance(value, str) and _single_holds(base, value, values)
    members = [value] if isinstance(value, str) else value
    if qualifier == "ForAllValues":
        return all(_single_holds(base, c, values) for c in members)
    return any(_single_holds(base, c, values) for c in members)


def condition_block_holds(
    block: Mapping[str, Mapping[str, object]] | None, context: Context, version: str | None
) -> bool:
    """A statement's whole ``Condition`` element: every operator, every key (§4.1)."""
    if not block:
        return True
    return all(
        key_holds(operator, key, raw, context, version)
        for operator, body in block.items()
        for key, raw in body.items()
    )
