"""PolicySimulator servicer: the AWS IAM Simulate*Policy shapes ↔ AWS-shaped dicts.

Owns the mechanical conversion between the snake_case proto messages and the PascalCase
dictionaries of the IAM API (``policy_input_list`` ↔ ``PolicyInputList``), which is what
``Backend.simulate_*`` speaks, and ValidatePolicy's "invalid is a normal answer" rule.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

import grpc
from google.protobuf.json_format import MessageToDict, ParseDict
from google.protobuf.message import Message

from authz import errors
from authz._gen.authz.v1 import simulator_pb2, simulator_pb2_grpc
from authz.iam.model import PolicyType
from authz.limits import RequestLimits, check_simulation
from authz.server import callctx
from authz.server.ports import Backend
from authz.server.servicers._fields import required, required_list

M = TypeVar("M", bound=Message)

# Map fields: their keys are data (action names), not field names.
_MAP_FIELDS = frozenset({"EvalDecisionDetails", "eval_decision_details"})
_SNAKE_RE = re.compile(r"(?<!^)(?=[A-Z])")

_POLICY_TYPES = {
    simulator_pb2.POLICY_TYPE_IDENTITY: PolicyType.IDENTITY,
    simulator_pb2.POLICY_TYPE_MANAGED: PolicyType.MANAGED,
    simulator_pb2.POLICY_TYPE_TRUST: PolicyType.TRUST,
    simulator_pb2.POLICY_TYPE_RESOURCE: PolicyType.RESOURCE,
    simulator_pb2.POLICY_TYPE_BOUNDARY: PolicyType.BOUNDARY,
    simulator_pb2.POLICY_TYPE_SESSION: PolicyType.SESSION,
    simulator_pb2.POLICY_TYPE_SCP: PolicyType.SCP,
}
_POLICY_TYPES_NAMES = frozenset(simulator_pb2.PolicyType.Name(v) for v in _POLICY_TYPES)


def _pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def _snake(name: str) -> str:
    return _SNAKE_RE.sub("_", name).lower()


def _rekey(value: Any, convert: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            convert(k): (dict(v) if k in _MAP_FIELDS else _rekey(v, convert))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_rekey(v, convert) for v in value]
    return value


def to_aws(message: Message) -> dict[str, Any]:
    """A request message as the IAM API dictionary (unset fields absent)."""
    plain = MessageToDict(message, preserving_proto_field_name=True)
    return _rekey(plain, _pascal)  # type: ignore[no-any-return]


def from_aws(data: Mapping[str, Any], message: M) -> M:
    """Fill ``message`` from an IAM API dictionary; unknown keys are ignored."""
    try:
        ParseDict(_rekey(data, _snake), message, ignore_unknown_fields=True)
    except Exception as exc:
        raise errors.InternalFailure(f"backend returned a malformed simulation: {exc}") from exc
    return message


class PolicySimulatorServicer(simulator_pb2_grpc.PolicySimulatorServicer):
    def __init__(
        self,
        backend: Backend,
        *,
        limits: RequestLimits | None = None,
        max_message_bytes: int = 4 * 1024 * 1024,
    ) -> None:
        self._backend = backend
        self._limits = limits or RequestLimits()
        # results stop (IsTruncated + Marker) well before the message limit: the estimate of
        # a result's wire size is approximate
        self._response_bytes = max_message_bytes // 2

    def SimulatePrincipalPolicy(
        self, request: simulator_pb2.SimulatePrincipalPolicyRequest, context: grpc.ServicerContext
    ) -> simulator_pb2.SimulatePrincipalPolicyResponse:
        required(request.policy_source_arn, "policySourceArn")
        required_list(request.action_names, "actionNames")
        aws = to_aws(request)
        check_simulation(aws, self._limits)
        result = self._backend.simulate_principal_policy(
            callctx.require_identity(), aws, response_bytes=self._response_bytes
        )
        return from_aws(result, simulator_pb2.SimulatePrincipalPolicyResponse())

    def SimulateCustomPolicy(
        self, request: simulator_pb2.SimulateCustomPolicyRequest, context: grpc.ServicerContext
    ) -> simulator_pb2.SimulateCustomPolicyResponse:
        required_list(request.policy_input_list, "policyInputList")
        required_list(request.action_names, "actionNames")
        aws = to_aws(request)
        check_simulation(aws, self._limits)
        result = self._backend.simulate_custom_policy(
            callctx.require_identity(), aws, response_bytes=self._response_bytes
        )
        return from_aws(result, simulator_pb2.SimulateCustomPolicyResponse())

    def ValidatePolicy(
        self, request: simulator_pb2.ValidatePolicyRequest, context: grpc.ServicerContext
    ) -> simulator_pb2.ValidatePolicyResponse:
        policy_type = _POLICY_TYPES.get(request.policy_type)
        if policy_type is None:
            raise errors.ValidationError(
                "1 validation error detected: Value at 'policyType' failed to satisfy "
                f"constraint: Member must be one of {', '.join(sorted(_POLICY_TYPES_NAMES))}"
            )
        document = required(request.policy_document, "policyDocument")
        try:
            ident = callctx.require_identity()
            result = self._backend.validate_policy(ident, policy_type, document)
        except (errors.MalformedPolicyDocument, errors.ValidationError) as exc:
            return simulator_pb2.ValidatePolicyResponse(
                valid=False, error_code=exc.code, message=str(exc)
            )
        return simulator_pb2.ValidatePolicyResponse(
            valid=result.valid, error_code=result.error_code or "", message=result.message or ""
        )
