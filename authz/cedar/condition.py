"""One IAM condition (operator, key, values) → one guarded Cedar boolean expression (spec §4,
design note §4.2). Every context access sits behind a ``has`` guard in the validator-friendly
forms: positive ``(G && P)``, negated and ``…IfExists`` ``(!present || (G && …))``. What Cedar
cannot express becomes an oracle fact (see ``authz.cedar.oracle``).

Owns operator → Cedar mapping and compile-time variable substitution in condition values. Must
not import cedarpy.
"""

from __future__ import annotations

from authz.cedar import values as val
from authz.cedar.emit import ARN_FIELDS, Emitter
from authz.cedar.oracle import ConditionFact
from authz.cedar.pattern import (
    Pattern,
    cedar_like,
    cedar_string,
    fits_cedar_like,
    has_qmark,
    has_wildcard,
    is_star,
    join_components,
    literal_text,
    parse_pattern,
    split_components,
    substitute,
    variables_of,
)
from authz.iam.conditions import OPERATORS, VARIABLE_FAMILIES, Family
from authz.iam.model import Condition

_NATIVE_QUALIFIED = frozenset(
    {"StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"}
)
_ORDER = {"LessThan": "<", "LessThanEquals": "<=", "GreaterThan": ">", "GreaterThanEquals": ">="}
_DECIMAL_METHOD = {
    "LessThan": "lessThan",
    "LessThanEquals": "lessThanOrEqual",
    "GreaterThan": "greaterThan",
    "GreaterThanEquals": "greaterThanOrEqual",
}


class _NeedsOracle(Exception):
    """A value Cedar cannot represent exactly: evaluate the whole condition in Python."""


def condition_expr(cond: Condition, em: Emitter, *, variables: bool) -> str:
    """The Cedar expression for one condition; ``"false"`` when it can never hold."""
    family, negated = OPERATORS[cond.base]
    key = cond.key_lc
    em.keys.add(key)
    wild = cond.base in ("StringLike", "StringNotLike") or family is Family.ARN
    allow_vars = variables and family in VARIABLE_FAMILIES
    parsed = [parse_pattern(v, variables=allow_vars, wildcards=wild) for v in cond.values]
    substituted = [substitute(p, em.lookup) for p in parsed]
    kept = [p for p in substituted if p is not None]
    for pattern in kept:
        em.keys.update(variables_of(pattern))
    fact = ConditionFact(cond.base, cond.qualifier, cond.if_exists, key, tuple(kept))
    if any(variables_of(p) for p in kept) or (
        wild and any(has_qmark(p) or not fits_cedar_like(p) for p in kept)
    ):
        return em.fact(fact)
    if cond.qualifier and cond.base not in _NATIVE_QUALIFIED:
        return em.fact(fact)
    if family is Family.NULL:
        return _null(key, kept, em)
    try:
        if cond.qualifier:
            return _qualified(cond, negated, kept, em)
        return _plain(cond, family, negated, kept, em)
    except _NeedsOracle:
        return em.fact(fact)


def _null(key: str, values: list[Pattern], em: Emitter) -> str:
    wanted = {val.parse_bool(literal_text(v)) for v in values} - {None}
    if wanted == {True, False}:
        return "true"
    if not wanted:
        return "false"
    present = em.presence(key)
    return f"!{present}" if True in wanted else present


def _qualified(cond: Condition, negated: bool, values: list[Pattern], em: Emitter) -> str:
    ignore_case = cond.base.endswith("IgnoreCase")
    rep = "mvci" if ignore_case else "mv"
    texts = sorted({literal_text(v).lower() if ignore_case else literal_text(v) for v in values})
    listed = "[" + ", ".join(cedar_string(t) for t in texts) + "]"
    guard, items = em.guard(cond.key_lc, rep), em.access(cond.key_lc, rep)
    if cond.qualifier == "ForAllValues":
        if negated:
            return f"!({guard} && {items}.containsAny({listed}))"
        return f"!({guard} && !({listed}.containsAll({items})))"
    test = f"!({listed}.containsAll({items}))" if negated else f"{items}.containsAny({listed})"
    if cond.if_exists:
        return f"!({guard} && !({test}))"
    return f"({guard} && {test})"


def _plain(
    cond: Condition, family: Family, negated: bool, values: list[Pattern], em: Emitter
) -> str:
    if family is Family.IP:
        return _ip(cond, negated, values, em)
    rep, preds = _predicates(cond, family, values, em)
    key = cond.key_lc
    guard = em.guard(key, rep)
    matched = " || ".join(preds)
    if not negated and not cond.if_exists:
        return f"({guard} && ({matched}))" if preds else "false"
    if negated:
        inner = f"({guard} && !({matched}))" if preds else f"({guard})"
    else:
        inner = f"({guard} && ({matched}))" if preds else "false"
    return f"(!{em.presence(key)} || {inner})"


def _predicates(
    cond: Condition, family: Family, values: list[Pattern], em: Emitter
) -> tuple[str, list[str]]:
    """(representation, one Cedar test per usable policy value)."""
    key, base = cond.key_lc, cond.base
    if family is Family.STRING:
        if base.endswith("IgnoreCase"):
            return "ci", _equals(em.access(key, "ci"), {literal_text(v).lower() for v in values})
        if base in ("StringLike", "StringNotLike"):
            x = em.access(key, "s")
            return "s", [_like(x, v) for v in values]
        return "s", _equals(em.access(key, "s"), {literal_text(v) for v in values})
    if family is Family.BINARY:
        decoded = {d for v in values if (d := val.decode_binary(literal_text(v))) is not None}
        return "s", _equals(em.access(key, "s"), decoded)
    if family is Family.BOOL:
        wanted = {b for v in values if (b := val.parse_bool(literal_text(v))) is not None}
        x = em.access(key, "bool")
        return "bool", [f"{x} == {str(b).lower()}" for b in sorted(wanted)]
    if family is Family.ARN:
        x = em.access(key, "arn")
        return "arn", [_arn_test(x, v) for v in values]
    if family is Family.NUMERIC:
        return "num", _numeric(base, em.access(key, "num"), values)
    return "date", _dates(base, em.access(key, "date"), values)


def _ip(cond: Condition, negated: bool, values: list[Pattern], em: Emitter) -> str:
    """IpAddress / NotIpAddress. An IPv4 value travels as a ``Long`` (``ip4.<key>``, its 32-bit
    number: a network is a range of them), an IPv6 one as an ``ipaddr`` (``ip.<key>``): the
    native call parses a number for ~1/8 of what an ``ip`` extension value costs, and most
    addresses are IPv4. A value is one or the other, never both, and an address is never in
    a network of the other version (as Cedar's ``isInRange`` has it), so each version's
    networks are tested only against values of that version; a negated operator needs both
    guards (an address of either version that is in no network holds)."""
    key = cond.key_lc
    nets = [n for v in values if (n := val.parse_network(literal_text(v))) is not None]
    ranges = sorted({(int(n.network_address), int(n.broadcast_address)) for n in nets
                     if n.version == 4})  # fmt: skip
    v6 = sorted({str(n) for n in nets if n.version == 6})
    sides: list[tuple[str, list[str]]] = []
    if ranges or negated:
        x = em.access(key, "ip4") if ranges else ""
        tests = [f"{x} == {lo}" if lo == hi else f"({x} >= {lo} && {x} <= {hi})"
                 for lo, hi in ranges]  # fmt: skip
        sides.append((em.guard(key, "ip4"), tests))
    if v6 or negated:
        x = em.access(key, "ip") if v6 else ""
        sides.append((em.guard(key, "ip"), [f"{x}.isInRange(ip({cedar_string(n)}))" for n in v6]))
    positive = " || ".join(f"({g} && ({' || '.join(t)}))" for g, t in sides if t)
    if not negated and not cond.if_exists:
        return f"({positive})" if positive else "false"
    if negated:
        inner = " || ".join(f"({g} && !({' || '.join(t)}))" if t else f"({g})" for g, t in sides)
    else:
        inner = positive or "false"
    return f"(!{em.presence(key)} || ({inner}))"


def _equals(x: str, texts: set[str]) -> list[str]:
    if len(texts) > 1:
        return ["[" + ", ".join(cedar_string(t) for t in sorted(texts)) + f"].contains({x})"]
    return [f"{x} == {cedar_string(t)}" for t in texts]


def _like(x: str, pattern: Pattern) -> str:
    if has_wildcard(pattern):
        return f"{x} like {cedar_like(pattern)}"
    return f"{x} == {cedar_string(literal_text(pattern))}"


def _numeric(base: str, x: str, values: list[Pattern]) -> list[str]:
    op = base[len("Numeric") :]
    out = []
    for v in values:
        number = val.parse_number(literal_text(v))
        if number is None:
            continue  # a non-numeric policy value never matches
        text = val.cedar_decimal(number)
        if text is None:
            raise _NeedsOracle
        literal = f'decimal("{text}")'
        if op in ("Equals", "NotEquals"):
            out.append(f"{x} == {literal}")
        else:
            out.append(f"{x}.{_DECIMAL_METHOD[op]}({literal})")
    return out


def _dates(base: str, x: str, values: list[Pattern]) -> list[str]:
    op = base[len("Date") :]
    out = []
    for v in values:
        stamp = val.parse_date(literal_text(v))
        text = val.cedar_datetime(stamp) if stamp is not None else None
        if stamp is not None and text is None:
            raise _NeedsOracle  # a date Cedar's datetime cannot hold exactly (values.py)
        if text is not None:
            symbol = "==" if op in ("Equals", "NotEquals") else _ORDER[op]
            out.append(f'{x} {symbol} datetime("{text}")')
    return out


def _arn_test(x: str, pattern: Pattern) -> str:
    if is_star(pattern):
        return "true"  # any ARN (the guard already requires one)
    comps = split_components(pattern)
    if comps is None:
        return "false"
    return arn_components(x, comps)


def arn_components(x: str, comps: list[Pattern]) -> str:
    """Per-component ARN match on an ``ArnParts`` record; whole-component ``*`` is dropped."""
    tests = [_component_test(f"{x}.{name}", comp) for name, comp in _tested(comps)]
    return "(" + " && ".join(tests) + ")" if tests else "true"


def head_and_resource(head: str, resource: str, comps: list[Pattern]) -> tuple[str, list[str]]:
    """The same match on an ARN sent as two top-level attributes, ``head`` (its first five
    components with their four colons) and ``resource`` (the sixth), both or neither (not an
    ARN); returns the test and the attributes it reads. One ``like`` on the head is the
    per-component match: the head value has exactly four colons and the pattern's head
    exactly four literal ones (components hold none), so ``like`` must pair them up and no
    ``*`` can reach across a colon."""
    tests, reads = [], []
    if any(not is_star(c) for c in comps[:5]):
        attr = cedar_string(head)
        whole = join_components(comps[:5])
        tests.append(f"(context has {attr} && {_component_test(f'context[{attr}]', whole)})")
        reads.append(head)
    if not is_star(comps[5]):
        attr = cedar_string(resource)
        tests.append(f"(context has {attr} && {_component_test(f'context[{attr}]', comps[5])})")
        reads.append(resource)
    if not tests:  # any ARN
        return f"(context has {cedar_string(head)})", [head]
    return "(" + " && ".join(tests) + ")", reads


def _tested(comps: list[Pattern]) -> list[tuple[str, Pattern]]:
    return [(n, c) for n, c in zip(ARN_FIELDS, comps, strict=True) if not is_star(c)]


def _component_test(access: str, comp: Pattern) -> str:
    if has_wildcard(comp):
        return f"{access} like {cedar_like(comp)}"
    return f"{access} == {cedar_string(literal_text(comp))}"
