"""Reference authorization of ``sts:AssumeRole`` calls (iam-semantics.md §3.5, §6.6; cases
README "kind = assume_role"), on top of ``evaluator.evaluate(..., trust=True)``.

Owns ``authorize_assume_role`` (the trust evaluation of one call) and ``followup_inputs``
(the request a follow-up makes as the new role session). Only authorization: no parameter
validation, no credentials. Imports nothing from ``authz``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tests.reference.evaluator import ALLOW, RefDecision, evaluate

Json = Mapping[str, Any]


def caller_principal(caller: Json) -> dict[str, Any]:
    """The vector's ``caller`` as an ``authorize`` principal object."""
    fields = ("type", "arn", "account", "user_id", "role_arn", "role_id")
    return {k: caller[k] for k in fields if caller.get(k) is not None}


def trust_context(case: Json) -> dict[str, Any]:
    """What the call implies (README), overridden by the vector's own ``context``."""
    params, caller = case["params"], case["caller"]
    context: dict[str, Any] = {}
    for tag_key, value in {**caller.get("tags", {}), **caller.get("transitive_tags", {})}.items():
        context[f"aws:PrincipalTag/{tag_key}"] = value
    if caller.get("source_identity"):
        context["aws:SourceIdentity"] = caller["source_identity"]
    if "RoleSessionName" in params:
        context["sts:RoleSessionName"] = params["RoleSessionName"]
    if "ExternalId" in params:
        context["sts:ExternalId"] = params["ExternalId"]
    if "SourceIdentity" in params:
        context["sts:SourceIdentity"] = params["SourceIdentity"]
    if params.get("Tags"):
        for tag in params["Tags"]:
            context[f"aws:RequestTag/{tag['Key']}"] = tag["Value"]
        context["aws:TagKeys"] = [tag["Key"] for tag in params["Tags"]]
    if "TransitiveTagKeys" in params:
        context["sts:TransitiveTagKeys"] = list(params["TransitiveTagKeys"])
    return {**context, **(case.get("context") or {})}


def required_actions(params: Json) -> list[str]:
    """sts:AssumeRole, plus sts:TagSession with Tags and sts:SetSourceIdentity with a
    SourceIdentity (§3.5)."""
    actions = ["sts:AssumeRole"]
    if params.get("Tags"):
        actions.append("sts:TagSession")
    if "SourceIdentity" in params:
        actions.append("sts:SetSourceIdentity")
    return actions


def authorize_assume_role(case: Json) -> RefDecision:
    """Is the caller of an ``assume_role`` vector authorized? A missing role denies."""
    role = case.get("role")
    if role is None:
        return RefDecision("ImplicitDeny", "trust")
    caller = case["caller"]
    policies = {
        "identity": caller.get("identity_policies") or [],
        "resource": role["trust_policy"],
        "permissions_boundary": caller.get("permissions_boundary"),
        "session": caller.get("session_policies") or [],
        "scp": caller.get("scp") or [],
    }
    context = trust_context(case)
    for action in required_actions(case["params"]):
        request = {
            "principal": caller_principal(caller),
            "action": action,
            "resource": {"arn": role["arn"], "account": role["account"]},
            "context": context,
        }
        decision = evaluate(request, policies, trust=True)
        if not decision.allowed:
            return decision
    return ALLOW


def session_principal(case: Json) -> dict[str, Any]:
    """The role session a successful call creates (§6.2; the role path is not in the ARN)."""
    role, params = case["role"], case["params"]
    partition = role["arn"].split(":")[1]
    session = params["RoleSessionName"]
    return {
        "type": "assumed_role",
        "arn": f"arn:{partition}:sts::{role['account']}:assumed-role/{role['name']}/{session}",
        "role_arn": role["arn"],
        "account": role["account"],
        "role_id": role["role_id"],
    }


def _session_tags(case: Json) -> dict[str, str]:
    """Role tags, then inherited transitive tags, then the call's Tags; keys compare
    case-insensitively and the later source wins (§6.1 Tags, §6.6)."""
    merged: dict[str, tuple[str, str]] = {}
    sources = [
        case["role"].get("tags") or {},
        case["caller"].get("transitive_tags") or {},
        {t["Key"]: t["Value"] for t in case["params"].get("Tags") or []},
    ]
    for source in sources:
        for key, value in source.items():
            merged[key.lower()] = (key, value)
    return dict(merged.values())


def _session_policies(case: Json) -> list[Any]:
    params = case["params"]
    documents = [json.loads(params["Policy"])] if "Policy" in params else []
    managed = case.get("managed_policies") or {}
    documents += [managed[ref["arn"]] for ref in params.get("PolicyArns") or []]
    return documents


def followup_inputs(case: Json, followup: Json) -> tuple[dict[str, Any], dict[str, Any]]:
    """(request, policies) for one follow-up, evaluated as the new session (README)."""
    role = case["role"]
    context: dict[str, Any] = {
        f"aws:PrincipalTag/{key}": value for key, value in _session_tags(case).items()
    }
    source_identity = case["params"].get("SourceIdentity") or case["caller"].get("source_identity")
    if source_identity:
        context["aws:SourceIdentity"] = source_identity
    context.update(followup.get("context") or {})
    request = {
        "principal": session_principal(case),
        "action": followup["action"],
        "resource": followup["resource"],
        "context": context,
    }
    policies = {
        "identity": role.get("permissions_policies") or [],
        "resource": followup.get("resource_policy"),
        "permissions_boundary": role.get("permissions_boundary"),
        "session": _session_policies(case),
        "scp": [],
    }
    return request, policies
