"""The translator's working state for one partition: which context representations the emitted
Cedar reads, the oracle facts and action groups it creates, and how a context access is spelled.

Owns the request-context layout (the names below) shared by the translator, the context builder
and the schema. Must not import cedarpy.

Context layout (only what a partition references is sent):

    iam_action  String            the IAM action, lowercased
    res_arn     String            the resource ARN as requested
    res_head    String?           its first five components with their four colons,
                                  ``prefix:partition:service:region:account``
    res.resource String?          its sixth component (both absent when it is not an ARN;
                                  each sent only when a statement of the partition tests it)
    oracle      Set<String>       ids of the oracle facts that hold
    keys        Set<String>       condition keys present (for negated / IfExists / Null)
    pids        Set<String>       every identifier of the caller (Principal matching)
    pself       Set<String>       the caller's most specific identifiers (NotPrincipal)
    "<rep>.<key>"                 one representation of a condition key's value (``attribute``):
                                  ``s`` the raw single value, ``ci`` / ``mv`` / ``mvci`` / ``num``
                                  / ``date`` / ``ip`` (IPv6) / ``ip4`` (IPv4 as a Long) /
                                  ``bool`` / ``arn`` typed copies

Condition values sit at the top level (a nested record costs the native call ~30k instructions
to parse, ``benchmarks/cedar_context_instr.py``) under a name that cannot collide: every
condition attribute is ``<representation>.<key>``, no representation name contains a ``.``,
and no fixed name above starts with a representation and a ``.`` (``res`` is not one). A
policy's condition key is any string the author chose (``pids``, ``ip``, ``iam_action`` ...);
it must never read or replace the layout's own fields.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from authz.cedar.oracle import Fact, fact_id
from authz.cedar.pattern import cedar_string

# representation -> Cedar schema type of one attribute of that record
REPRESENTATIONS = {
    "s": "String",
    "ci": "String",
    "mv": "Set<String>",
    "mvci": "Set<String>",
    "num": "decimal",
    "date": "datetime",
    "ip": "ipaddr",
    "ip4": "Long",
    "bool": "Bool",
    "arn": "ArnParts",
}
ARN_FIELDS = ("prefix", "partition", "service", "region", "account", "resource")
# The resource ARN as two strings, not six components: Cedar's context parser tries every string
# against five other shapes first (~20k instructions each, benchmarks/cedar_context_instr.py).
RES_HEAD = "res_head"  # "prefix:partition:service:region:account"
RES_RESOURCE = "res.resource"  # the sixth component
RES_ATTRIBUTES = (RES_HEAD, RES_RESOURCE)
# Variables whose values are known when a principal's partition is compiled (spec §4.6).
COMPILE_TIME_KEYS = frozenset(
    {
        "aws:username",
        "aws:userid",
        "aws:principalaccount",
        "aws:principalarn",
        "aws:principaltype",
        "aws:principalorgid",
    }
)

# Global keys with a documented type (spec §5): reading one with another operator family is an
# authoring slip that IAM tolerates silently (it never matches); reported as a diagnostic.
KEY_FAMILIES = {
    "aws:securetransport": "bool",
    "aws:multifactorauthpresent": "bool",
    "aws:viaawsservice": "bool",
    "aws:principalisawsservice": "bool",
    "aws:multifactorauthage": "num",
    "aws:sourceip": "ip",
    "aws:currenttime": "date",
    "aws:tokenissuetime": "date",
}
_FAMILY_OF_REP = {
    "s": "s",
    "ci": "s",
    "num": "num",
    "date": "date",
    "ip": "ip",
    "ip4": "ip",
    "bool": "bool",
    "arn": "s",
}

Lookup = Callable[[str], "str | bool | None"]


def attribute(rep: str, key: str) -> str:
    """The context attribute holding representation ``rep`` of condition key ``key``."""
    return f"{rep}.{key}"


def is_compile_time(key: str) -> bool:
    return key in COMPILE_TIME_KEYS or key.startswith("aws:principaltag/")


def no_variables(_key: str) -> bool:
    """A lookup that knows nothing: every variable stays request-time."""
    return False


@dataclass
class Emitter:
    lookup: Lookup = no_variables
    uses: set[tuple[str, str]] = field(default_factory=set)  # (representation, key)
    # iam_action, res_arn, res_head, res.resource, oracle, pids, pself
    flags: set[str] = field(default_factory=set)
    facts: dict[str, Fact] = field(default_factory=dict)
    keys: set[str] = field(default_factory=set)  # condition keys referenced
    groups: dict[str, frozenset[str]] = field(default_factory=dict)
    families: dict[str, set[str]] = field(default_factory=dict)

    def access(self, key: str, rep: str) -> str:
        self.uses.add((rep, key))
        self.families.setdefault(key, set()).add(rep)
        return f"context[{cedar_string(attribute(rep, key))}]"

    def guard(self, key: str, rep: str) -> str:
        self.uses.add((rep, key))
        return f"context has {cedar_string(attribute(rep, key))}"

    def presence(self, key: str) -> str:
        self.uses.add(("keys", key))
        return f"context.keys.contains({cedar_string(key)})"

    def fact(self, fact: Fact) -> str:
        fid = fact_id(fact)
        self.facts[fid] = fact
        self.flags.add("oracle")
        return f"context.oracle.contains({cedar_string(fid)})"

    def flag(self, name: str) -> None:
        self.flags.add(name)

    def diagnostics(self) -> list[str]:
        """Authoring slips (design note pitfall 14): a key read by several operator families, or
        a typed global key read by the wrong family. Translated faithfully (never matches)."""
        out = []
        for key, reps in sorted(self.families.items()):
            families = sorted({_FAMILY_OF_REP[r] for r in reps if r in _FAMILY_OF_REP})
            if len(families) > 1:
                out.append(
                    f"condition key `{key}` is read by several operator families: {families}"
                )
            expected = KEY_FAMILIES.get(key)
            if expected is not None and any(f != expected for f in families):
                wrong = ", ".join(f for f in families if f != expected)
                out.append(
                    f"condition key `{key}` has type `{expected}` but is compared as `{wrong}`"
                )
        return out
