"""The condition-operator table (spec §4.4): names, families, and how an operator name splits
into qualifier, base operator and ``IfExists``. Shared by the parser and the translator."""

from __future__ import annotations

from enum import StrEnum


class Family(StrEnum):
    STRING = "string"
    NUMERIC = "numeric"
    DATE = "date"
    BOOL = "bool"
    BINARY = "binary"
    IP = "ip"
    ARN = "arn"
    NULL = "null"


# base operator -> (family, negated)
OPERATORS: dict[str, tuple[Family, bool]] = {
    "StringEquals": (Family.STRING, False),
    "StringNotEquals": (Family.STRING, True),
    "StringEqualsIgnoreCase": (Family.STRING, False),
    "StringNotEqualsIgnoreCase": (Family.STRING, True),
    "StringLike": (Family.STRING, False),
    "StringNotLike": (Family.STRING, True),
    "NumericEquals": (Family.NUMERIC, False),
    "NumericNotEquals": (Family.NUMERIC, True),
    "NumericLessThan": (Family.NUMERIC, False),
    "NumericLessThanEquals": (Family.NUMERIC, False),
    "NumericGreaterThan": (Family.NUMERIC, False),
    "NumericGreaterThanEquals": (Family.NUMERIC, False),
    "DateEquals": (Family.DATE, False),
    "DateNotEquals": (Family.DATE, True),
    "DateLessThan": (Family.DATE, False),
    "DateLessThanEquals": (Family.DATE, False),
    "DateGreaterThan": (Family.DATE, False),
    "DateGreaterThanEquals": (Family.DATE, False),
    "Bool": (Family.BOOL, False),
    "BinaryEquals": (Family.BINARY, False),
    "IpAddress": (Family.IP, False),
    "NotIpAddress": (Family.IP, True),
    "ArnEquals": (Family.ARN, False),
    "ArnLike": (Family.ARN, False),
    "ArnNotEquals": (Family.ARN, True),
    "ArnNotLike": (Family.ARN, True),
    "Null": (Family.NULL, False),
}

QUALIFIERS = ("ForAllValues", "ForAnyValue")

# Operators whose values may contain policy variables (spec §4.6).
VARIABLE_FAMILIES = frozenset({Family.STRING, Family.ARN, Family.BOOL})

# Multivalued condition keys known to authz (lowercased). Plain operators never match them.
MULTIVALUED_KEYS = frozenset(
    {"aws:tagkeys", "sts:transitivetagkeys", "aws:calledvia", "aws:principalorgpaths"}
)

# Keys whose value changes with the clock: a decision reading them is never cached.
TIME_VARYING_KEYS = frozenset({"aws:currenttime", "aws:epochtime"})


def split_operator(name: str) -> tuple[str, str, bool] | None:
    """``ForAnyValue:StringLikeIfExists`` -> (``ForAnyValue``, ``StringLike``, True).

    Returns None when the name is not a known operator (qualifier, base and suffix are
    case-sensitive identifiers). ``NullIfExists`` is not an operator.
    """
    qualifier = ""
    rest = name
    if ":" in name:
        qualifier, _, rest = name.partition(":")
        if qualifier not in QUALIFIERS:
            return None
    if_exists = False
    if rest not in OPERATORS and rest.endswith("IfExists"):
        rest = rest[: -len("IfExists")]
        if_exists = True
        if rest == "Null":
            return None
    if rest not in OPERATORS:
        return None
    return qualifier, rest, if_exists


def family_of(base: str) -> Family:
    return OPERATORS[base][0]


def is_negated(base: str) -> bool:
    return OPERATORS[base][1]
