"""Every public ``authorize`` vector, and the authorization part of every ``assume_role`` vector
(including follow-ups), through the product's parser and the Cedar ``Evaluator``."""

from __future__ import annotations

from typing import Any

import pytest

from authz.engine.evaluate import Evaluator
from authz.errors import MalformedPolicyDocument
from authz.iam.model import (
    AuthRequest,
    Caller,
    CallerKind,
    Policy,
    PolicyLayers,
    PolicyType,
    normalize_context,
)
from tests.cases.convert import caller_of, layers_for, parse, request_of
from tests.cases.loader import load_cases

# merge_sighting=1: every vector with several layers that call Cedar is decided by ONE merged
# native call (authz.cedar.merged) from its first evaluation.
EVALUATOR = Evaluator(merge_sighting=1)


@pytest.mark.parametrize("case", load_cases("authorize"))
def test_authorize_vector(case: dict[str, Any]) -> None:
    trust = bool(case.get("trust"))  # local differential cases may be trust evaluations
    request = request_of(case["request"])
    decision = EVALUATOR.evaluate(layers_for(case["policies"], trust=trust), request, trust=trust)
    assert not decision.errors
    expected = case["expected"]
    assert decision.decision.case_name == expected["decision"], expected["reason"]
    if "failing_layer" in expected:  # cases this project writes also pin why
        layer = decision.failing_layer.value if decision.failing_layer is not None else None
        assert layer == expected["failing_layer"], expected["reason"]
    if "deciding" in expected:
        assert sorted({m.ref for m in decision.matched}) == sorted(expected["deciding"])


def _assume_context(case: dict[str, Any]) -> dict[str, Any]:
    params = case["params"]
    ctx: dict[str, Any] = dict(case.get("context", {}))
    ctx["sts:RoleSessionName"] = params.get("RoleSessionName")
    for param, key in (("ExternalId", "sts:ExternalId"), ("SourceIdentity", "sts:SourceIdentity")):
        if param in params:
            ctx[key] = params[param]
    if "Tags" in params:
        for tag in params["Tags"]:
            ctx[f"aws:RequestTag/{tag['Key']}"] = tag["Value"]
        ctx["aws:TagKeys"] = [t["Key"] for t in params["Tags"]]
    if "TransitiveTagKeys" in params:
        ctx["sts:TransitiveTagKeys"] = params["TransitiveTagKeys"]
    return ctx


def _assume_actions(params: dict[str, Any]) -> list[str]:
    actions = ["sts:AssumeRole"]
    if "Tags" in params:
        actions.append("sts:TagSession")
    if "SourceIdentity" in params:
        actions.append("sts:SetSourceIdentity")
    return actions


def _assume_allowed(case: dict[str, Any]) -> bool:
    role, caller_doc = case["role"], case["caller"]
    if role is None:
        return False
    caller = caller_of(caller_doc)
    layers = PolicyLayers(
        identity=tuple(
            parse(d, PolicyType.IDENTITY, f"caller{i}")
            for i, d in enumerate(caller_doc.get("identity_policies", []))
        ),
        resource=parse(role["trust_policy"], PolicyType.TRUST, f"role/{role['name']}/trust"),
        boundary=parse(caller_doc["permissions_boundary"], PolicyType.BOUNDARY, "caller-boundary")
        if caller_doc.get("permissions_boundary")
        else None,
        session=tuple(
            parse(d, PolicyType.SESSION, f"caller-session{i}")
            for i, d in enumerate(caller_doc.get("session_policies", []))
        ),
        scp=tuple(
            tuple(parse(d, PolicyType.SCP, f"scp{n}-{i}") for i, d in enumerate(level))
            for n, level in enumerate(caller_doc.get("scp", []))
        ),
    )
    context = normalize_context(_assume_context(case))
    for action in _assume_actions(case["params"]):
        request = AuthRequest(caller, action, role["arn"], role["account"], context)
        decision = EVALUATOR.evaluate(layers, request, trust=True)
        assert not decision.errors
        if not decision.allowed:
            return False
    return True


def _session_caller(case: dict[str, Any]) -> Caller:
    role, params = case["role"], case["params"]
    name = params["RoleSessionName"]
    arn = f"arn:aws:sts::{role['account']}:assumed-role/{role['name']}/{name}"
    return Caller(
        CallerKind.ASSUMED_ROLE, arn, role["account"], role["arn"], f"{role['role_id']}:{name}"
    )


def _session_policies(case: dict[str, Any]) -> tuple[Policy, ...]:
    params, managed = case["params"], case.get("managed_policies", {})
    docs = [params["Policy"]] if "Policy" in params else []
    docs += [managed[p["arn"]] for p in params.get("PolicyArns", [])]
    return tuple(parse(d, PolicyType.SESSION, f"session{i}") for i, d in enumerate(docs))


def _followup(case: dict[str, Any], follow: dict[str, Any]) -> str:
    role, params = case["role"], case["params"]
    tags = {k.lower(): (k, v) for k, v in role.get("tags", {}).items()}
    tags.update({t["Key"].lower(): (t["Key"], t["Value"]) for t in params.get("Tags", [])})
    ctx: dict[str, Any] = {f"aws:PrincipalTag/{k}": v for k, v in tags.values()}
    if "SourceIdentity" in params:
        ctx["aws:SourceIdentity"] = params["SourceIdentity"]
    ctx.update(follow.get("context", {}))
    resource_policy = follow.get("resource_policy")
    layers = PolicyLayers(
        identity=tuple(
            parse(d, PolicyType.IDENTITY, f"role{i}")
            for i, d in enumerate(role.get("permissions_policies", []))
        ),
        resource=parse(resource_policy, PolicyType.RESOURCE, "resource")
        if resource_policy
        else None,
        boundary=parse(role["permissions_boundary"], PolicyType.BOUNDARY, "role-boundary")
        if role.get("permissions_boundary")
        else None,
        session=_session_policies(case),
    )
    request = AuthRequest(
        _session_caller(case),
        follow["action"],
        follow["resource"]["arn"],
        follow["resource"].get("account"),
        normalize_context(ctx),
    )
    decision = EVALUATOR.evaluate(layers, request)
    assert not decision.errors
    return decision.decision.case_name


@pytest.mark.parametrize("case", load_cases("assume_role"))
def test_assume_role_authorization(case: dict[str, Any]) -> None:
    expected = case["expected"]
    if expected["outcome"] == "error" and expected.get("error_code") != "AccessDenied":
        if expected.get("error_code") == "MalformedPolicyDocument":
            return
        # a parameter error: the authorization part is not what the vector checks
        return
    try:
        allowed = _assume_allowed(case)
    except MalformedPolicyDocument as err:  # pragma: no cover - the vectors are valid
        pytest.fail(f"vector policy rejected: {err}")
    assert allowed == (expected["outcome"] == "success"), expected["reason"]
    if allowed:
        for follow in case.get("followups", []):
            assert _followup(case, follow) == follow["expected"]["decision"], follow["expected"][
                "reason"
            ]
