"""Invariants of the reference evaluator on generated inputs, and reach of the generators.

Runs ``strategies`` through ``tests.reference`` only (no Cedar): properties that must hold
whatever the policies are (determinism, explicit Deny wins, adding an Allow never removes
one, dropping caps never removes an Allow, callers without an account ignore caller-side
policies), plus a check that the generators reach every decision/layer outcome, so that the
differential tests exercise all of §3.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import Phase, find, given, settings

from tests.differential.strategies import policies_and_requests, trust_policies_and_requests
from tests.reference.evaluator import RefDecision, evaluate

Json = dict[str, Any]
SANITY = settings(max_examples=300)

ALLOW_ALL = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
DENY_ALL = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}],
}
PUBLIC_DENY = {"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}
TRUST_DENY = {"Effect": "Deny", "Principal": "*", "Action": ["sts:AssumeRole", "sts:TagSession"]}


def _with(policies: Json, **layers: Any) -> Json:
    out = copy.deepcopy(policies)
    out.update(layers)
    return out


def _exempt(request: Json) -> bool:
    """sts:GetCallerIdentity by a caller with an account needs no permission (§3.3 step 0)."""
    authenticated = request["principal"]["type"] in ("user", "root", "assumed_role")
    return authenticated and str(request["action"]).lower() == "sts:getcalleridentity"


def _add_resource_statement(policies: Json, statement: Json) -> Json:
    resource = copy.deepcopy(policies["resource"]) or {"Version": "2012-10-17", "Statement": []}
    body = resource["Statement"]
    resource["Statement"] = [*(body if isinstance(body, list) else [body]), statement]
    return _with(policies, resource=resource)


def _without_denies(policies: Json) -> Json:
    def strip(policy: Json | None) -> Json | None:
        if policy is None:
            return None
        body = policy["Statement"]
        kept = [s for s in (body if isinstance(body, list) else [body]) if s["Effect"] != "Deny"]
        return {**policy, "Statement": kept}

    return {
        "identity": [strip(p) for p in policies["identity"]],
        "resource": strip(policies["resource"]),
        "permissions_boundary": strip(policies["permissions_boundary"]),
        "session": [strip(p) for p in policies["session"]],
        "scp": [[strip(p) for p in level] for level in policies["scp"]],
    }


def _check_common(policies: Json, request: Json, trust: bool) -> RefDecision:
    before = copy.deepcopy((policies, request))
    decision = evaluate(request, policies, trust=trust)
    assert (policies, request) == before, "evaluate must not mutate its inputs"
    assert evaluate(copy.deepcopy(request), copy.deepcopy(policies), trust=trust) == decision
    assert decision.decision in ("Allow", "ExplicitDeny", "ImplicitDeny")
    assert (decision.layer is None) == decision.allowed

    kind = request["principal"]["type"]
    if kind in ("user", "assumed_role"):
        more = _with(policies, identity=[*policies["identity"], ALLOW_ALL])
        widened = evaluate(request, more, trust=trust)
        assert widened != RefDecision("ImplicitDeny", "identity")
        if decision.decision != "ImplicitDeny":
            assert widened == decision, "an extra identity Allow changed a final decision"
        denied = evaluate(request, _with(policies, identity=[DENY_ALL]), trust=trust)
        assert denied.allowed if _exempt(request) else denied.decision == "ExplicitDeny"
    if kind in ("anonymous", "service"):
        noisy = _with(
            policies, identity=[DENY_ALL], permissions_boundary=DENY_ALL, scp=[[DENY_ALL]]
        )
        assert evaluate(request, noisy, trust=trust) == decision
    else:
        denied = evaluate(request, _with(policies, scp=[[DENY_ALL], *policies["scp"]]), trust=trust)
        assert denied.allowed if _exempt(request) else denied == RefDecision("ExplicitDeny", "scp")
    if decision.allowed:
        relaxed = _with(policies, scp=[], permissions_boundary=None, session=[])
        assert evaluate(request, relaxed, trust=trust).allowed
    assert evaluate(request, _without_denies(policies), trust=trust).decision != "ExplicitDeny"
    return decision


@SANITY
@given(policies_and_requests())
def test_reference_invariants(pair: tuple[Json, Json]) -> None:
    policies, request = pair
    _check_common(policies, request, trust=False)
    public_deny = evaluate(request, _add_resource_statement(policies, PUBLIC_DENY))
    assert public_deny.allowed if _exempt(request) else public_deny.decision == "ExplicitDeny"
    principal = request["principal"]
    same_account = principal.get("account") == request["resource"]["account"]
    if principal["type"] in ("user", "assumed_role") and same_account:
        alone = {"identity": [ALLOW_ALL], "resource": None, "permissions_boundary": None}
        assert evaluate(request, {**alone, "session": [], "scp": []}).allowed


@SANITY
@given(trust_policies_and_requests())
def test_reference_trust_invariants(pair: tuple[Json, Json]) -> None:
    policies, request = pair
    decision = _check_common(policies, request, trust=True)
    if decision.allowed:  # a trust policy must itself allow the caller (§3.3 step 4)
        assert evaluate(request, _with(policies, resource=None), trust=True).layer == "trust"
    denied = evaluate(request, _add_resource_statement(policies, TRUST_DENY), trust=True)
    if request["action"] != "sts:SetSourceIdentity":
        assert denied.decision == "ExplicitDeny"
        assert denied.layer in ("scp", "trust")


OUTCOMES = [
    ("Allow", None),
    ("ExplicitDeny", "scp"),
    ("ExplicitDeny", "resource"),
    ("ExplicitDeny", "identity"),
    ("ExplicitDeny", "boundary"),
    ("ExplicitDeny", "session"),
    ("ImplicitDeny", "scp"),
    ("ImplicitDeny", "resource"),
    ("ImplicitDeny", "identity"),
    ("ImplicitDeny", "boundary"),
    ("ImplicitDeny", "session"),
]
REACH = settings(max_examples=5000, phases=[Phase.generate], database=None, derandomize=True)


@pytest.mark.parametrize(("decision", "layer"), OUTCOMES)
def test_generator_reaches_outcome(decision: str, layer: str | None) -> None:
    wanted = RefDecision(decision, layer)
    find(policies_and_requests(), lambda pair: evaluate(pair[1], pair[0]) == wanted, settings=REACH)


@pytest.mark.parametrize(
    ("decision", "layer"), [("Allow", None), ("ExplicitDeny", "trust"), ("ImplicitDeny", "trust")]
)
def test_trust_generator_reaches_outcome(decision: str, layer: str | None) -> None:
    wanted = RefDecision(decision, layer)
    find(
        trust_policies_and_requests(),
        lambda pair: evaluate(pair[1], pair[0], trust=True) == wanted,
        settings=REACH,
    )
