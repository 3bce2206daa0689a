"""Every ``authorize`` vector with a simulation form, as a SimulateCustomPolicy call to a real
server over gRPC (issue 13: the edge rules — NotPrincipal Deny vs boundaries, KMS key policies,
resource control policies — through every path). The caller is the example repository's
``authz-admin`` role, which holds ``iam:SimulateCustomPolicy``."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from authz._gen.authz.v1 import simulator_pb2
from authz.client import AuthzClient
from tests.cases.loader import load_cases
from tests.differential.test_simulation_enforcement import simulation_request
from tests.integration.e2e.conftest import EXAMPLE_REPO
from tests.integration.e2e.harness import E2EServer, server_factory

WIRE = {"Allow": "allowed", "ExplicitDeny": "explicitDeny", "ImplicitDeny": "implicitDeny"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2EServer]:
    root = tmp_path_factory.mktemp("simulation-vectors")
    repo = Path(shutil.copytree(EXAMPLE_REPO, root / "policies"))
    factory = server_factory(root / "run")
    start = next(factory)
    yield start(repo)
    next(factory, None)  # stops the servers


def _proto_fields(aws: dict[str, Any]) -> dict[str, Any]:
    def levels(name: str) -> list[simulator_pb2.ServiceControlPolicyLevel]:
        return [simulator_pb2.ServiceControlPolicyLevel(policy_input_list=lv) for lv in aws[name]]

    fields: dict[str, Any] = {
        "policy_input_list": aws["PolicyInputList"],
        "action_names": aws["ActionNames"],
        "resource_arns": aws["ResourceArns"],
        "caller_arn": aws["CallerArn"],
        "context_entries": [
            simulator_pb2.SimulationContextEntry(
                context_key_name=e["ContextKeyName"],
                context_key_values=e["ContextKeyValues"],
                context_key_type=e["ContextKeyType"],
            )
            for e in aws["ContextEntries"]
        ],
        "service_control_policy_levels": levels("ServiceControlPolicyLevels"),
        "resource_control_policy_levels": levels("ResourceControlPolicyLevels"),
        "permissions_boundary_policy_input_list": aws.get("PermissionsBoundaryPolicyInputList", []),
        "resource_policy": aws.get("ResourcePolicy", ""),
        "resource_owner": aws.get("ResourceOwner", ""),
        "session_policy_input_list": aws.get("SessionPolicyInputList", []),
    }
    return fields


def _simulatable(case: dict[str, Any]) -> bool:
    """Trust evaluations and anonymous callers have no simulation form, and neither has a
    context key shorter than AWS's ContextEntry minimum of 5 characters (vectors that name
    keys like the Cedar context's own fields, ``ip`` or ``pids``)."""
    request = case["request"]
    return (
        not case.get("trust")
        and request["principal"]["type"] != "anonymous"
        and all(len(key) >= 5 for key in request.get("context") or {})
    )


CASES = [c for c in load_cases("authorize") if _simulatable(c.values[0])]


@pytest.mark.parametrize("case", CASES)
def test_vector_through_grpc_simulation(server: E2EServer, case: dict[str, Any]) -> None:
    aws = simulation_request(case["policies"], case["request"])
    with AuthzClient(server.target, server.example_admin()) as client:
        response = client.simulate_custom_policy(**_proto_fields(aws))
    (result,) = response.evaluation_results
    assert result.eval_decision == WIRE[case["expected"]["decision"]], (
        case["id"],
        case["expected"]["reason"],
        json.dumps(aws)[:400],
    )
