"""The actions the AWS-compatible endpoint offers, and how each runs.

Owns the table action name → (the service its signature must be scoped to, the API version
and XML namespace, the protobuf request type, the servicer method that answers it). The
servicers are the gRPC edge's own (``authz.server.servicers``), so an action answers exactly
as its gRPC method does. Every other action is ``InvalidAction``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from authz._gen.authz.v1 import simulator_pb2, sts_pb2
from authz.errors import InvalidAction
from authz.limits import RequestLimits
from authz.server import callctx
from authz.server.ports import Backend
from authz.server.servicers.simulator import PolicySimulatorServicer
from authz.server.servicers.sts import SecurityTokenServiceServicer

STS_VERSION, STS_NAMESPACE = "2011-06-15", "https://sts.amazonaws.com/doc/2011-06-15/"
IAM_VERSION, IAM_NAMESPACE = "2010-05-08", "https://iam.amazonaws.com/doc/2010-05-08/"

Run = Callable[[Any], Any]  # a protobuf request → response, or (request_type None) dict → dict


@dataclass(frozen=True, slots=True)
class Action:
    name: str
    service: str  # the SigV4 scope's service: "sts" or "iam"
    version: str
    namespace: str
    request_type: type[Message] | None  # None: the action takes the request dictionary
    run: Run
    defaults: Mapping[str, Any] = field(default_factory=dict)  # result fields proto3 omits
    once: bool = False  # a replay is refused (the action mints credentials)
    unsigned: bool = False  # no signature is read: the request itself is the proof

    def result(self, response: Any) -> dict[str, Any]:
        """The response as the AWS result dictionary, with the defaults AWS always shows."""
        out = dict(self.defaults)
        out.update(response if isinstance(response, Mapping) else result_dict(response))
        return out


def result_dict(response: Message) -> dict[str, Any]:
    """A response message as the AWS result dictionary: PascalCase keys, map fields' keys
    kept, fields at their default left out, timestamps as RFC 3339, enums by name — what
    ``MessageToDict`` gives, read straight from the set fields (a tenth of its cost on an
    AssumeRole response). A field type it does not know goes the ``MessageToDict`` way."""
    try:
        return _fields(response)
    except _Unlisted:
        plain = MessageToDict(response, preserving_proto_field_name=True)
        return _pascal_keys(plain)  # type: ignore[no-any-return]


def _pascal_keys(value: Any, keep: bool = False) -> Any:
    if isinstance(value, Mapping):
        return {
            (k if keep else _pascal(k)): _pascal_keys(v, keep=(k == "eval_decision_details"))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_pascal_keys(v) for v in value]
    return value


class _Unlisted(Exception):
    """A field type ``_fields`` leaves to ``MessageToDict``."""


_PLAIN = frozenset({
    FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BOOL, FieldDescriptor.TYPE_INT32,
    FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32,
    FieldDescriptor.TYPE_SFIXED32,
})  # fmt: skip
_TIMESTAMP = "google.protobuf.Timestamp"


@functools.lru_cache(maxsize=512)  # one entry per field of the response types
def _pascal(name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in name.split("_"))


def _fields(message: Message) -> dict[str, Any]:
    return {_pascal(field.name): _field(field, value) for field, value in message.ListFields()}


def _field(field: FieldDescriptor, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        entry = field.message_type
        assert entry is not None
        if entry.GetOptions().map_entry:
            item = entry.fields_by_name["value"]
            return {str(k): _field(item, v) for k, v in value.items()}
        if field.is_repeated:
            return [_message(v) for v in value]
        return _message(value)
    if field.is_repeated:
        return [_scalar(field, v) for v in value]
    return _scalar(field, value)


def _message(message: Message) -> Any:
    if message.DESCRIPTOR.full_name == _TIMESTAMP:
        return message.ToJsonString()  # type: ignore[attr-defined]
    if message.DESCRIPTOR.full_name.startswith("google.protobuf."):
        raise _Unlisted  # other well-known types have JSON forms of their own
    return _fields(message)


def _scalar(field: FieldDescriptor, value: Any) -> Any:
    if field.type in _PLAIN:
        return value
    if field.type == FieldDescriptor.TYPE_ENUM:
        assert field.enum_type is not None
        found = field.enum_type.values_by_number.get(value)
        return found.name if found is not None else value
    raise _Unlisted  # 64-bit integers (strings in JSON), floats, bytes


def build_actions(
    backend: Backend,
    *,
    trusted_proxies: frozenset[str],
    limits: RequestLimits,
    max_message_bytes: int,
) -> dict[str, Action]:
    sts = SecurityTokenServiceServicer(backend, trusted_proxies)
    simulator = PolicySimulatorServicer(backend, limits=limits, max_message_bytes=max_message_bytes)
    no_context: Any = None  # the servicers read the caller's origin from the identity

    def sts_action(
        name: str,
        request_type: type[Message],
        method: Callable[..., Any],
        once: bool = False,
        unsigned: bool = False,
    ) -> Action:
        return Action(name, "sts", STS_VERSION, STS_NAMESPACE, request_type,
                      lambda request: method(request, no_context), once=once,
                      unsigned=unsigned)  # fmt: skip

    def iam_action(name: str, request_type: type[Message], method: Callable[..., Any]) -> Action:
        return Action(name, "iam", IAM_VERSION, IAM_NAMESPACE, request_type,
                      lambda request: method(request, no_context),
                      defaults={"IsTruncated": False})  # fmt: skip

    def backend_action(name: str, method: Callable[..., Any]) -> Action:
        """An IAM action without a gRPC method: the backend answers the request dictionary."""
        return Action(name, "iam", IAM_VERSION, IAM_NAMESPACE, None,
                      lambda request: method(callctx.require_identity(), request))  # fmt: skip

    actions = [
        Action(
            "DecodeAuthorizationMessage",
            "sts",
            STS_VERSION,
            STS_NAMESPACE,
            None,
            lambda request: backend.decode_authorization_message(  # type: ignore[attr-defined]
                callctx.require_identity(), request
            ),
        ),
        backend_action(
            "GetContextKeysForCustomPolicy",
            backend.context_keys_for_custom_policy,  # type: ignore[attr-defined]
        ),
        backend_action(
            "GetContextKeysForPrincipalPolicy",
            backend.context_keys_for_principal_policy,  # type: ignore[attr-defined]
        ),
        sts_action("AssumeRole", sts_pb2.AssumeRoleRequest, sts.AssumeRole, once=True),
        # as in AWS, unsigned: the web identity token is the proof (SDKs send it without a
        # signature); its replay is not refused either (a token is good until it expires)
        sts_action(
            "AssumeRoleWithWebIdentity",
            sts_pb2.AssumeRoleWithWebIdentityRequest,
            sts.AssumeRoleWithWebIdentity,
            unsigned=True,
        ),
        sts_action("GetCallerIdentity", sts_pb2.GetCallerIdentityRequest, sts.GetCallerIdentity),
        iam_action(
            "SimulatePrincipalPolicy",
            simulator_pb2.SimulatePrincipalPolicyRequest,
            simulator.SimulatePrincipalPolicy,
        ),
        iam_action(
            "SimulateCustomPolicy",
            simulator_pb2.SimulateCustomPolicyRequest,
            simulator.SimulateCustomPolicy,
        ),
    ]
    return {a.name: a for a in actions}


def find_action(actions: Mapping[str, Action], name: str | None, version: str | None) -> Action:
    action = actions.get(name or "")
    if action is None or (version is not None and version != action.version):
        shown = (name or "")[:64]
        raise InvalidAction(
            f"Could not find operation {shown} for version {(version or '')[:16]}",
            reason="invalid_action",
        )
    return action
