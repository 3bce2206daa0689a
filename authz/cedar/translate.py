"""IAM statements → Cedar policy text, one Cedar policy per statement (design note §1-§5).

``translate_policies(policies, layer, service=..., lookup=...)`` renders every statement of the
given policies as ``permit``/``forbid`` with ``@id("<layer>:<policy name>:<Sid or #index>")``,
keeping, for the service-prefix partition, only the action patterns that can match that service.
The result also carries the oracle facts, the action groups (entities), the context
representations read and the condition keys referenced. A second *validation rendering* tests the
action against ``context.iam_action`` so the schema needs a single action (§7).

Owns actions (exact names → content-hashed groups, wildcards → ``like``, ``?`` → oracle),
resources (whole-ARN ``like`` or per component, §1.3), principals and assembly. Must not import
cedarpy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from authz import deadline
from authz.cedar.condition import condition_expr, head_and_resource
from authz.cedar.emit import RES_HEAD, RES_RESOURCE, Emitter, Lookup, no_variables
from authz.cedar.oracle import ActionFact, Fact, ResourceFact
from authz.cedar.pattern import (
    STAR,
    Pattern,
    cedar_like,
    cedar_string,
    fits_cedar_like,
    has_qmark,
    has_wildcard,
    literal_text,
    parse_pattern,
    split_components,
    substitute,
    variables_of,
)
from authz.cedar.principals import BOUNDED_MARKER, entry_ids
from authz.errors import AuthzError
from authz.iam.glob import glob_match
from authz.iam.model import Effect, Policy, Statement


class TranslationError(AuthzError):
    """A statement could not be translated; the layer it belongs to fails closed."""

    code = "TranslationError"
    http_status = 500


@dataclass(frozen=True, slots=True)
class CedarStatement:
    """One IAM statement rendered as one Cedar policy."""

    policy_id: str  # the @id: "<layer>:<policy name>:<label>"
    effect: Effect
    policy: str
    label: str
    source: str | None
    statement: Statement
    action: str  # runtime action test ("" = none)
    action_validation: str
    body: tuple[str, ...]  # the other conjuncts

    def render(self, *, validation: bool = False) -> str:
        verb = "permit" if self.effect is Effect.ALLOW else "forbid"
        return f"@id({cedar_string(self.policy_id)})\n{verb} {self.scope(validation=validation)}"

    def scope(self, *, validation: bool = False) -> str:
        """The policy after its effect: ``(principal, action, resource) when { … };``."""
        action = self.action_validation if validation else self.action
        conjuncts = [c for c in (action, *self.body) if c]
        when = " &&\n  ".join(conjuncts) if conjuncts else "true"
        return f"(principal, action, resource)\nwhen {{\n  {when}\n}};"


@dataclass(frozen=True)
class Translation:
    statements: tuple[CedarStatement, ...]
    facts: Mapping[str, Fact]
    groups: Mapping[str, frozenset[str]]
    uses: frozenset[tuple[str, str]]
    flags: frozenset[str]
    keys: frozenset[str]
    diagnostics: tuple[str, ...]

    def text(self, *, validation: bool = False) -> str:
        return "\n\n".join(s.render(validation=validation) for s in self.statements)

    def entities(self) -> list[dict[str, object]]:
        return action_entities(self.groups)


def action_entities(groups: Mapping[str, frozenset[str]]) -> list[dict[str, object]]:
    """Action entities: each exact name is a member of the groups that list it."""
    parents: dict[str, list[str]] = {}
    for gid, names in sorted(groups.items()):
        for name in names:
            parents.setdefault(name, []).append(gid)
    out: list[dict[str, object]] = [
        {"uid": {"type": "Iam::Action", "id": gid}, "attrs": {}, "parents": []}
        for gid in sorted(groups)
    ]
    for name, gids in sorted(parents.items()):
        ups = [{"type": "Iam::Action", "id": g} for g in gids]
        out.append({"uid": {"type": "Iam::Action", "id": name}, "attrs": {}, "parents": ups})
    return out


def translate_policies(
    policies: Iterable[Policy],
    layer: str,
    *,
    service: str | None = None,
    lookup: Lookup = no_variables,
) -> Translation:
    """Translate for one layer; ``service`` (lowercased prefix) restricts to one partition."""
    em = Emitter(lookup=lookup)
    out: list[CedarStatement] = []
    seen: set[str] = set()
    for policy in policies:
        for st in policy.statements:
            deadline.check(f"compiling policy `{policy.name}`")
            try:
                rendered = _statement(st, policy, layer, service, em)
            except Exception as err:
                raise TranslationError(
                    f"while translating statement `{st.label}` of policy `{policy.name}`: "
                    f"{str(err).lower() or type(err).__name__}"
                ) from err
            if rendered is None:
                continue
            pid, n = rendered.policy_id, 1
            while pid in seen:
                n += 1
                pid = f"{rendered.policy_id}~{n}"
            seen.add(pid)
            out.append(_with_id(rendered, pid))
    return Translation(
        statements=tuple(out),
        facts=dict(em.facts),
        groups=dict(em.groups),
        uses=frozenset(em.uses),
        flags=frozenset(em.flags),
        keys=frozenset(em.keys),
        diagnostics=tuple(em.diagnostics()),
    )


def _with_id(st: CedarStatement, pid: str) -> CedarStatement:
    if pid == st.policy_id:
        return st
    return CedarStatement(
        pid,
        st.effect,
        st.policy,
        st.label,
        st.source,
        st.statement,
        st.action,
        st.action_validation,
        st.body,
    )


def _statement(
    st: Statement, policy: Policy, layer: str, service: str | None, em: Emitter
) -> CedarStatement | None:
    actions = _actions(st, service, em)
    if actions is None:
        return None
    body: list[str] = []
    resource = _resources(st, policy, em)
    if resource is None:
        return None
    body.append(resource)
    if policy.policy_type.has_principal:
        principal = _principal(st, em)
        if principal is None:
            return None
        body.append(principal)
    for cond in st.conditions:
        expr = condition_expr(cond, em, variables=policy.variables)
        if expr == "false":
            return None
        if expr != "true":
            body.append(expr)
    return CedarStatement(
        policy_id=f"{layer}:{policy.name}:{st.label}",
        effect=st.effect,
        policy=policy.name,
        label=st.label,
        source=policy.source,
        statement=st,
        action=actions[0],
        action_validation=actions[1],
        body=tuple(b for b in body if b),
    )


def service_may_match(pattern: str, service: str) -> bool:
    """Can an (lowercased) action pattern match some action of ``service``?"""
    if ":" not in pattern:
        return True
    return glob_match(pattern.split(":", 1)[0], service)


def _actions(st: Statement, service: str | None, em: Emitter) -> tuple[str, str] | None:
    """(runtime test, validation test); None when the statement cannot match."""
    negate = bool(st.not_actions)
    patterns = sorted({a.lower() for a in (st.not_actions or st.actions)})
    if service is not None:
        patterns = [p for p in patterns if service_may_match(p, service)]
    if not patterns:
        return ("", "") if negate else None
    # Every action asked of a ``service`` partition is ``<service>:<name>`` (the engine routes
    # an action without a colon to the unfiltered partition): ``<service>:*`` always matches.
    if "*" in patterns or (service is not None and f"{service}:*" in patterns):
        return None if negate else ("", "")
    exact = [p for p in patterns if "*" not in p and "?" not in p]
    runtime: list[str] = []
    validation: list[str] = []
    if len(exact) == 1:
        runtime.append(f"action == Iam::Action::{cedar_string(exact[0])}")
        validation.append(f"context.iam_action == {cedar_string(exact[0])}")
    elif exact:
        gid = "g:" + hashlib.sha256("\n".join(exact).encode()).hexdigest()[:12]
        em.groups[gid] = frozenset(exact)
        runtime.append(f"action in Iam::Action::{cedar_string(gid)}")
        listed = ", ".join(cedar_string(e) for e in exact)
        validation.append(f"[{listed}].contains(context.iam_action)")
    for p in patterns:
        if "?" in p or not fits_cedar_like(parse_pattern(p, variables=False, wildcards=True)):
            test = em.fact(ActionFact(p))
        elif "*" in p:
            em.flag("iam_action")
            like = cedar_like(parse_pattern(p, variables=False, wildcards=True))
            test = f"context.iam_action like {like}"
        else:
            continue
        runtime.append(test)
        validation.append(test)
    # The validation rendering's ``context.iam_action`` tests are checked against the schema
    # (where it is always declared), never evaluated: only a runtime ``like`` sends it.
    joined = (" || ".join(runtime), " || ".join(validation))
    if negate:
        return f"!({joined[0]})", f"!({joined[1]})"
    if len(runtime) == 1:
        return joined
    return f"({joined[0]})", f"({joined[1]})"


def _resources(st: Statement, policy: Policy, em: Emitter) -> str | None:
    """The resource test ("" = none); None when the statement cannot match."""
    entries = st.resources or st.not_resources
    if not entries:
        return ""  # trust policy: the role is the implicit resource
    exprs = []
    for entry in entries:
        pattern = substitute(
            parse_pattern(entry, variables=policy.variables, wildcards=True), em.lookup
        )
        if pattern is None:
            continue  # an absent variable without default: the entry matches nothing
        exprs.append(_resource(pattern, em))
    universal = "true" in exprs
    exprs = [e for e in exprs if e not in ("true", "false")]
    if st.resources:
        if universal:
            return ""
        return None if not exprs else _any(exprs)
    if universal:
        return None
    return f"!({_any(exprs)})" if exprs else ""


def _any(exprs: list[str]) -> str:
    return exprs[0] if len(exprs) == 1 else "(" + " || ".join(exprs) + ")"


def _resource(pattern: Pattern, em: Emitter) -> str:
    if pattern == (STAR,):
        return "true"
    if variables_of(pattern) or has_qmark(pattern) or not fits_cedar_like(pattern):
        em.keys.update(variables_of(pattern))
        return em.fact(ResourceFact(pattern))
    comps = split_components(pattern)
    if comps is None:
        return "false"
    if not any(has_wildcard(c) for c in comps[:5]):
        em.flag("res_arn")
        if has_wildcard(pattern):
            return f"context.res_arn like {cedar_like(pattern)}"
        return f"context.res_arn == {cedar_string(literal_text(pattern))}"
    test, reads = head_and_resource(RES_HEAD, RES_RESOURCE, comps)
    for name in reads:
        em.flag(name)
    return test


def _principal(st: Statement, em: Emitter) -> str | None:
    """Principal / NotPrincipal test ("" = anyone); None when it matches nobody."""
    if st.principal is not None:
        if st.principal.wildcard:
            return ""
        ids = entry_ids(st.principal)
        if not ids:
            return None
        em.flag("pids")
        return _member("context.pids", ids)
    if st.not_principal is not None:
        bounded = _member("context.pself", [BOUNDED_MARKER])
        if st.not_principal.wildcard:
            if st.effect is Effect.DENY:
                em.flag("pself")
                return bounded
            return None
        em.flag("pself")
        excluded = f"!{_member('context.pself', entry_ids(st.not_principal))}"
        # NotPrincipal + Deny always denies a principal with a permissions boundary, whatever
        # the element lists (spec §2.3, AWS "NotPrincipal" key points).
        return f"({excluded} || {bounded})" if st.effect is Effect.DENY else excluded
    return None  # no principal element: applies to nobody (spec §2.3)


def _member(set_expr: str, ids: list[str]) -> str:
    if len(ids) == 1:
        return f"{set_expr}.contains({cedar_string(ids[0])})"
    return f"{set_expr}.containsAny([{', '.join(cedar_string(i) for i in ids)}])"
