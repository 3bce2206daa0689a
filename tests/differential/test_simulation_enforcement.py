"""Simulation equals enforcement (issue 13): one set of facts, one decision.

Every public ``authorize`` vector and generated case is decided twice: by **enforcement** — the
case written out as a policy repository, a snapshot built from it and ``authorize`` asked for the
repository's own principal (tests/cases/test_repo_vectors.py ``materialize_authorize``) — and by
**simulation** — ``SimulateCustomPolicy`` given the same documents as its inputs
(``PolicyInputList`` with the group policies, ``PermissionsBoundaryPolicyInputList``,
``ResourcePolicy``, organization levels, ``CallerArn``, ``ContextEntries``). Both must give the
same decision, failing layer and deciding statements (by layer and statement label: the two
paths name the policies differently). Anonymous callers have no simulation form (a request
without ``CallerArn`` simulates the bare policy holder), so such cases are left out.

Count: ``AUTHZ_SIM_EXAMPLES``, else 10,000 under ``HYPOTHESIS_PROFILE=deep`` (``make test-deep``,
``make fuzz``) and 100 in ``make test``; the seed is the differential run's (``AUTHZ_DIFF_SEED``).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, seed, settings

from authz.engine.simulate import simulate_custom_policy, source_type
from authz.engine.snapshot import authorize, build_snapshot
from authz.errors import MalformedPolicyDocument, RepositoryError, ValidationError
from tests.cases.loader import load_cases
from tests.cases.test_repo_vectors import _SKIP_CONTEXT, materialize_authorize
from tests.differential.conftest import SEED
from tests.differential.strategies import policies_and_requests

Json = dict[str, Any]
_DEEP = os.environ.get("HYPOTHESIS_PROFILE") == "deep"
EXAMPLES = int(os.environ.get("AUTHZ_SIM_EXAMPLES") or (10_000 if _DEEP else 100))


def simulation_request(policies: Json, request: Json, facts: Json | None = None) -> Json:
    """The SimulateCustomPolicy input that states the same facts as the case; ``facts``: what
    the repository knows of the principal (its unique id, tags, organization), which a custom
    simulation can only be told through ``ContextEntries`` (they win, as in enforcement)."""
    principal = request["principal"]
    context = {k.lower(): v for k, v in (request.get("context") or {}).items()}
    # the unique id a vector gives its principal: a custom simulation learns it from aws:userid
    if principal.get("user_id"):
        context.setdefault("aws:userid", principal["user_id"])
    elif principal.get("role_id") and principal["type"] == "assumed_role":
        session = principal["arn"].rsplit("/", 1)[-1]
        context.setdefault("aws:userid", f"{principal['role_id']}:{session}")
    context.update(facts or {})
    resource = request["resource"]
    identity = list(policies.get("identity") or [])
    identity += [doc for group in policies.get("groups") or [] for doc in group]
    out: Json = {
        # an empty list is not a valid PolicyInputList: a policy granting nothing stands in
        "PolicyInputList": [json.dumps(d) for d in identity] or [_NOTHING],
        "ActionNames": [request["action"]],
        "ResourceArns": [resource["arn"]],
        "CallerArn": principal["arn"],
        "ContextEntries": [_entry(k, v) for k, v in context.items()],
        "ServiceControlPolicyLevels": [
            [json.dumps(d) for d in level] for level in policies.get("scp") or []
        ],
        "ResourceControlPolicyLevels": [
            [json.dumps(d) for d in level] for level in policies.get("rcp") or []
        ],
    }
    if policies.get("session"):  # the SessionPolicyInputList extension
        out["SessionPolicyInputList"] = [json.dumps(d) for d in policies["session"]]
    if policies.get("permissions_boundary") is not None:
        out["PermissionsBoundaryPolicyInputList"] = [json.dumps(policies["permissions_boundary"])]
    if policies.get("resource") is not None:
        out["ResourcePolicy"] = json.dumps(policies["resource"])
    if resource.get("account"):
        out["ResourceOwner"] = resource["account"]
    return out


_NOTHING = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "none:none", "Resource": "*"}],
    }
)


def _entry(key: str, value: Any) -> Json:
    many = isinstance(value, list)
    values = [str(v) for v in value] if many else [str(value)]
    return {
        "ContextKeyName": key,
        "ContextKeyValues": values,
        "ContextKeyType": "stringList" if many else "string",
    }


def _statements(pairs: list[tuple[str, str]]) -> Counter[tuple[str, str]]:
    return Counter(pairs)


def decide_both(policies: Json, request: Json) -> tuple[Json, Json] | None:
    """(enforcement, simulation) as (decision, failing layer, deciding statements), or None when
    the case has no repository or simulation form, or a document is refused by either."""
    case = {"request": request, "policies": policies}
    if request["principal"]["type"] == "anonymous":
        return None
    if not request["principal"]["arn"].startswith("arn:aws:"):
        return None  # repositories hold the aws partition only (noted in issue 13's closing)
    user_id = request["principal"].get("user_id")
    if user_id and user_id in json.dumps(policies.get("resource")):
        return None  # a policy naming the caller's unique id: CallerArn cannot state one
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        try:
            principal, context = materialize_authorize(root, case)
        except pytest.skip.Exception:
            return None
        try:
            snapshot = build_snapshot(root, git=False)
        except RepositoryError:
            return None
        context = {k: v for k, v in context.items() if k.lower() not in _SKIP_CONTEXT}
        caller = snapshot.caller(principal)
        decision = authorize(
            snapshot, caller, request["action"], request["resource"]["arn"], context
        )
        facts = {
            k: list(v) if isinstance(v, tuple) else v for k, v in snapshot.facts(caller).items()
        }
    try:
        simulated = simulate_custom_policy(simulation_request(policies, request, facts))
    except (MalformedPolicyDocument, ValidationError):
        return None
    (result,) = simulated["EvaluationResults"]
    enforced = {
        "decision": decision.decision.value,
        "layer": decision.failing_layer.value if decision.failing_layer else None,
        "statements": _statements(
            [(source_type(m.layer, m.policy), m.statement) for m in decision.matched]
        ),
    }
    simulation = {
        "decision": result["EvalDecision"],
        "layer": result["FailingLayer"],
        "statements": _statements(
            [(m["SourcePolicyType"], m["Sid"]) for m in result["MatchedStatements"]]
        ),
    }
    return enforced, simulation


@pytest.mark.parametrize("case", load_cases("authorize"))
def test_vector_simulation_equals_enforcement(case: Json) -> None:
    if case.get("trust"):
        pytest.skip("trust evaluations are AssumeRole's: covered by the assume_role vectors")
    both = decide_both(case["policies"], case["request"])
    if both is None:
        pytest.skip("no repository or simulation form for this case (see the module docstring)")
    enforced, simulated = both
    assert enforced == simulated, case["id"]
    wire = {"Allow": "allowed", "ExplicitDeny": "explicitDeny", "ImplicitDeny": "implicitDeny"}
    assert enforced["decision"] == wire[case["expected"]["decision"]]


_COMPARED: list[int] = []


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=False,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@seed(SEED)
@given(policies_and_requests())
def test_generated_simulation_equals_enforcement(pair: tuple[Json, Json]) -> None:
    policies, request = pair
    both = decide_both(policies, request)
    assume(both is not None)
    assert both is not None
    enforced, simulated = both
    _COMPARED.append(1)
    assert enforced == simulated, (
        f"AUTHZ_DIFF_SEED={SEED}: simulation and enforcement disagree on "
        f"{json.dumps({'policies': policies, 'request': request}, sort_keys=True)}"
    )
