"""The typed Cedar request context of one partition: only the keys and representations the
partition's policies read (design note §6: every unused key costs 1-10 µs per call).

A condition key's raw value goes to ``context["s.<key>"]`` when it is single-valued; each
operator family reads its own typed copy (``num.<key>``, ``date.<key>``, ``ip.<key>`` for an
IPv6 address, ``ip4.<key>`` for an IPv4 one as its 32-bit number, ``bool.<key>``,
``arn.<key>``, ``ci.<key>``), so a key used by two families works and a value a family cannot
parse has no copy (it never matches). Multivalued values (lists, even of one element) only get
the set copies ``mv.<key>`` / ``mvci.<key>``. IPv4-mapped IPv6 addresses are sent as IPv4
(Cedar rejects them). The names are ``authz.cedar.emit.attribute``'s: no condition key can
land on a fixed field.

Owns context construction. Must not import cedarpy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from authz.cedar import values as val
from authz.cedar.emit import ARN_FIELDS, RES_HEAD, RES_RESOURCE, attribute
from authz.iam.model import ContextValue

JsonValue = object
_SCALAR_REPS = ("s", "ci", "num", "date", "ip", "ip4", "bool", "arn")


@dataclass(frozen=True, slots=True)
class ContextPlan:
    """What one partition reads from the request."""

    slots: tuple[tuple[str, str, str], ...]  # (representation, key, attribute), sorted
    keys: tuple[str, ...]  # keys whose presence is read (``context.keys``), sorted
    reads_keys: bool
    flags: frozenset[str]
    reads_head: bool  # the resource ARN's ``res_head`` / ``res.resource``
    reads_resource: bool
    reads_arn: bool

    @classmethod
    def of(cls, uses: frozenset[tuple[str, str]], flags: frozenset[str]) -> ContextPlan:
        slots = tuple((rep, key, attribute(rep, key)) for rep, key in sorted(uses) if rep != "keys")
        keys = tuple(sorted(key for rep, key in uses if rep == "keys"))
        head, resource = RES_HEAD in flags, RES_RESOURCE in flags
        return cls(slots, keys, bool(keys), flags, head, resource, head or resource)


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """The per-request inputs of every partition: the lowercased action, the resource, the
    effective (lowercased, empty-lists-dropped) condition context and the caller's ids."""

    action: str
    resource: str
    context: Mapping[str, ContextValue]
    pids: tuple[str, ...]
    pself: tuple[str, ...]

    def __init__(
        self,
        action: str,
        resource: str,
        context: Mapping[str, ContextValue],
        pids: tuple[str, ...],
        pself: tuple[str, ...],
    ) -> None:
        # explicit: mypyc compiles it (the generated one runs interpreted, ~20x slower)
        object.__setattr__(self, "action", action)
        object.__setattr__(self, "resource", resource)
        object.__setattr__(self, "context", context)
        object.__setattr__(self, "pids", pids)
        object.__setattr__(self, "pself", pself)


def build_context(plan: ContextPlan, req: RequestFacts, oracle: list[str]) -> dict[str, JsonValue]:
    out: dict[str, JsonValue] = {}
    flags = plan.flags
    if "iam_action" in flags:
        out["iam_action"] = req.action
    if "res_arn" in flags:
        out["res_arn"] = req.resource
    if plan.reads_arn:
        resource = req.resource
        parts = resource.split(":", 5)  # ``authz.iam.glob.split_arn``
        if len(parts) == 6:
            if plan.reads_head:
                out[RES_HEAD] = resource[: len(resource) - len(parts[5]) - 1]
            if plan.reads_resource:
                out[RES_RESOURCE] = parts[5]
    if "oracle" in flags:
        out["oracle"] = oracle
    if "pids" in flags:
        out["pids"] = list(req.pids)
    if "pself" in flags:
        out["pself"] = list(req.pself)
    context = req.context
    for rep, key, name in plan.slots:
        value = context.get(key)
        if value is None:
            continue
        typed = typed_copy(rep, key, value)
        if typed is not None:
            out[name] = typed
    if plan.reads_keys:
        out["keys"] = [key for key in plan.keys if context.get(key) is not None]
    return out


def typed_copy(rep: str, key: str, value: ContextValue) -> JsonValue | None:
    """One representation of a context value, or None when the family cannot read it."""
    multi = isinstance(value, tuple)
    if rep in ("mv", "mvci"):
        items = value if isinstance(value, tuple) else (value,)
        return [v.lower() for v in items] if rep == "mvci" else list(items)
    if multi or not isinstance(value, str):
        return None
    if rep == "s":
        return value
    if rep == "ci":
        return value.lower()
    return _typed_scalar(rep, value)


@lru_cache(maxsize=8192)
def _typed_scalar(rep: str, value: str) -> JsonValue | None:
    """Cached: the returned JSON is shared between requests and must not be mutated."""
    if rep == "num":
        number = val.parse_number(value)
        text = val.cedar_decimal(number) if number is not None else None
        return _extn("decimal", text)
    if rep == "date":
        stamp = val.parse_date(value)
        return _extn("datetime", val.cedar_request_datetime(stamp) if stamp is not None else None)
    if rep == "ip":  # IPv6 only: an IPv4 address travels as ``ip4``
        addr = val.parse_ip(value)
        return _extn("ip", str(addr) if addr is not None and addr.version == 6 else None)
    if rep == "ip4":
        addr = val.parse_ip(value)
        return int(addr) if addr is not None and addr.version == 4 else None
    if rep == "bool":
        return val.parse_bool(value)
    if rep == "arn":
        parts = val.parse_arn(value)
        return dict(zip(ARN_FIELDS, parts, strict=True)) if parts is not None else None
    raise ValueError(f"unknown context representation `{rep}`")


def _extn(fn: str, arg: str | None) -> JsonValue | None:
    return {"__extn": {"fn": fn, "arg": arg}} if arg is not None else None


def effective_context(context: Mapping[str, ContextValue]) -> dict[str, ContextValue]:
    """Lowercased keys. An empty list stays present: set qualifiers see an empty set, plain
    operators a multivalued value (never matches), ``Null`` a present key."""
    return {k.lower(): v for k, v in context.items()}
