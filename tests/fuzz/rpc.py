"""RPC fuzzing: random protobuf messages for every RPC of the API, built from the message
descriptors (every field, nested messages, repeated fields, oneofs, enum values in and out of
range), sent over a real channel to a real server on 127.0.0.1 (the example repository,
``tests/integration/e2e/harness.py``) as an anonymous caller, a user with no special rights
and a role session. The oracle: the status is OK or a refusal the server chose; INTERNAL,
UNKNOWN or DATA_LOSS is a crash.

Owns ``inputs`` and ``check``; one server per process, started on first use.
"""

from __future__ import annotations

import atexit
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st

from authz._gen.authz.v1 import admin_pb2, authorizer_pb2, simulator_pb2, sts_pb2
from tests.differential import pools as p
from tests.fuzz.engine import Finding
from tests.fuzz.values import document_texts, text, valid_documents

REPO = Path(__file__).resolve().parents[2] / "policies"
USER = "arn:aws:iam::111122223333:user/Carol"
ROLE_USER = "arn:aws:iam::111122223333:user/Bob"
ROLE = "arn:aws:iam::444455556666:role/foo"

# (full method path, request class, response class); Reload rebuilds, so it is drawn rarely.
METHODS = (
    (
        "/authz.v1.Authorizer/Authorize",
        authorizer_pb2.AuthorizeRequest,
        authorizer_pb2.AuthorizeResponse,
    ),
    (
        "/authz.v1.Authorizer/AuthorizeBatch",
        authorizer_pb2.AuthorizeBatchRequest,
        authorizer_pb2.AuthorizeBatchResponse,
    ),
    (
        "/authz.v1.SecurityTokenService/AssumeRole",
        sts_pb2.AssumeRoleRequest,
        sts_pb2.AssumeRoleResponse,
    ),
    (
        "/authz.v1.SecurityTokenService/GetCallerIdentity",
        sts_pb2.GetCallerIdentityRequest,
        sts_pb2.GetCallerIdentityResponse,
    ),
    (
        "/authz.v1.SecurityTokenService/GetSigningKeys",
        sts_pb2.GetSigningKeysRequest,
        sts_pb2.GetSigningKeysResponse,
    ),
    (
        "/authz.v1.PolicySimulator/SimulatePrincipalPolicy",
        simulator_pb2.SimulatePrincipalPolicyRequest,
        simulator_pb2.SimulatePrincipalPolicyResponse,
    ),
    (
        "/authz.v1.PolicySimulator/SimulateCustomPolicy",
        simulator_pb2.SimulateCustomPolicyRequest,
        simulator_pb2.SimulateCustomPolicyResponse,
    ),
    (
        "/authz.v1.PolicySimulator/ValidatePolicy",
        simulator_pb2.ValidatePolicyRequest,
        simulator_pb2.ValidatePolicyResponse,
    ),
    ("/authz.v1.PolicyAdmin/GetStatus", admin_pb2.GetStatusRequest, admin_pb2.GetStatusResponse),
    ("/authz.v1.PolicyAdmin/Reload", admin_pb2.ReloadRequest, admin_pb2.ReloadResponse),
)
_WEIGHTS = (6, 4, 5, 1, 1, 5, 6, 4, 1, 0)  # Reload: see RELOAD_EVERY
RELOAD_EVERY = 500
CRASH_CODES = (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS)
CALLERS = ("anonymous", "user", "user", "session", "session")

_ARNS = (
    USER,
    ROLE_USER,
    ROLE,
    "arn:aws:iam::444455556666:role/ci-deployer",
    "arn:aws:iam::111122223333:role/auditor",
    "arn:aws:s3:::example-reports/q1.csv",
    "arn:aws:iam::aws:policy/ReadOnlyAccess",
    "arn:aws:sts::444455556666:assumed-role/foo/s",
)


def _repeated(field: FieldDescriptor) -> bool:
    flag = getattr(field, "is_repeated", None)  # protobuf 6; ``label`` before
    if flag is not None:
        return bool(flag)
    return bool(field.label == FieldDescriptor.LABEL_REPEATED)


def _string(field: FieldDescriptor) -> st.SearchStrategy[str]:
    name = field.name
    if "polic" in name and "arn" not in name:
        return st.one_of(document_texts(), text())
    if "arn" in name or "resource" in name or "principal" in name:
        return st.one_of(st.sampled_from(_ARNS), text())
    return text()


def _scalar(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    t = field.type
    if t == FieldDescriptor.TYPE_STRING:
        return _string(field)
    if t == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=64)
    if t == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if t == FieldDescriptor.TYPE_ENUM:
        known = [v.number for v in field.enum_type.values]
        return st.one_of(st.sampled_from(known), st.integers(-5, 50))
    if t in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return st.floats(allow_nan=True, width=32)
    if t in (
        FieldDescriptor.TYPE_INT32,
        FieldDescriptor.TYPE_SINT32,
        FieldDescriptor.TYPE_SFIXED32,
    ):
        return st.one_of(
            st.sampled_from((0, 1, -1, 900, 3600, 43200, 2**31 - 1, -(2**31))),
            st.integers(-(2**31), 2**31 - 1),
        )
    if t in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32):
        return st.integers(0, 2**32 - 1)
    if t in (FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64):
        return st.integers(0, 2**64 - 1)
    return st.integers(-(2**63), 2**63 - 1)


@st.composite
def messages(draw: st.DrawFn, descriptor: Descriptor, depth: int = 0) -> dict[str, Any]:
    """A dict of field values for ``descriptor`` (each field present or not; one member of
    each oneof at most)."""
    out: dict[str, Any] = {}
    chosen_oneofs: set[str] = set()
    for field in descriptor.fields:
        if not draw(st.integers(0, 3)):  # a quarter of fields absent
            continue
        oneof = field.containing_oneof
        if oneof is not None and not oneof.name.startswith("_"):
            if oneof.name in chosen_oneofs:
                continue
            chosen_oneofs.add(oneof.name)
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if depth >= 2 or field.message_type.full_name.startswith("google."):
                continue
            inner = messages(field.message_type, depth + 1)
        else:
            inner = _scalar(field)
        if _repeated(field):
            out[field.name] = draw(st.lists(inner, max_size=4 if depth else 6))
        else:
            out[field.name] = draw(inner)
    return out


def _build(cls: type[Message], values: dict[str, Any]) -> Message:
    message = cls()
    for name, value in values.items():
        field = cls.DESCRIPTOR.fields_by_name[name]
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            sub = field.message_type._concrete_class
            if _repeated(field):
                getattr(message, name).extend(_build(sub, v) for v in value)
            else:
                getattr(message, name).CopyFrom(_build(sub, value))
        elif _repeated(field):
            getattr(message, name).extend(value)
        else:
            setattr(message, name, value)
    return message


_ACTIONS = st.sampled_from((*p.ACTIONS, "sts:AssumeRole", "s3:ListAllMyBuckets", "iam:*"))
_RESOURCES = st.sampled_from((*_ARNS, "*", *p.resource_arns("444455556666")))
_KEYS = st.sampled_from(
    (
        *p.STRING_KEYS,
        *p.NUMERIC_KEYS,
        *p.DATE_KEYS,
        *p.BOOL_KEYS,
        *p.IP_KEYS,
        "aws:SourceVpc",
        "s3:prefix",
    )
)
_DOCS = st.one_of(valid_documents().map(json.dumps), document_texts())


@st.composite
def _context_entries(draw: st.DrawFn, simulation: bool) -> list[dict[str, Any]]:
    out = []
    for _ in range(draw(st.integers(0, 3))):
        key, values = draw(_KEYS), draw(st.lists(text(), min_size=1, max_size=2))
        if simulation:
            kind = draw(
                st.sampled_from(
                    ("string", "stringList", "numeric", "boolean", "date", "ip", "binary", "")
                )
            )
            out.append(
                {"context_key_name": key, "context_key_values": values, "context_key_type": kind}
            )
        else:
            out.append({"key": key, "values": values, "type": draw(st.integers(0, 12))})
    return out


@st.composite
def _authorize(draw: st.DrawFn) -> dict[str, Any]:
    out = {
        "action": draw(_ACTIONS),
        "resource": draw(_RESOURCES),
        "context": draw(_context_entries(False)),
    }
    if draw(st.integers(0, 3)) == 0:
        out["principal_arn"] = draw(st.sampled_from(_ARNS))
    return out


@st.composite
def _simulation(draw: st.DrawFn, principal: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "action_names": draw(st.lists(_ACTIONS, min_size=1, max_size=3)),
        "resource_arns": draw(st.lists(_RESOURCES, max_size=3)),
        "context_entries": draw(_context_entries(True)),
    }
    if principal:
        out["policy_source_arn"] = draw(st.sampled_from(_ARNS))
    else:
        out["policy_input_list"] = draw(st.lists(_DOCS, min_size=1, max_size=2))
    if draw(st.booleans()):
        out["resource_policy"] = draw(_DOCS)
        out["caller_arn"] = draw(st.sampled_from(_ARNS))
    if draw(st.integers(0, 3)) == 0:
        out["permissions_boundary_policy_input_list"] = [draw(_DOCS)]
    return out


@st.composite
def _assume_role(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {
        "role_arn": draw(st.sampled_from(_ARNS)),
        "role_session_name": draw(st.sampled_from(("fuzz", "s-1", "a@b.c", "x" * 64))),
    }
    if draw(st.booleans()):
        out["duration_seconds"] = draw(st.sampled_from((900, 3600, 43200, 899, 0)))
    if draw(st.integers(0, 2)) == 0:
        out["policy"] = draw(_DOCS)
    if draw(st.integers(0, 2)) == 0:
        out["tags"] = [{"key": draw(text()), "value": draw(text())}]
    return out


def _valid(index: int) -> st.SearchStrategy[dict[str, Any]]:
    """A well-formed request for method ``index`` (empty for the field-less ones)."""
    name = METHODS[index][0].rsplit("/", 1)[1]
    if name == "Authorize":
        return _authorize()
    if name == "AuthorizeBatch":
        return st.lists(_authorize(), min_size=1, max_size=4).map(lambda i: {"items": i})
    if name == "AssumeRole":
        return _assume_role()
    if name == "SimulatePrincipalPolicy":
        return _simulation(True)
    if name == "SimulateCustomPolicy":
        return _simulation(False)
    if name == "ValidatePolicy":
        return st.fixed_dictionaries({"policy_type": st.integers(1, 7), "policy_document": _DOCS})
    return st.just({})


@st.composite
def _one_input(draw: st.DrawFn) -> tuple[int, str, dict[str, Any]]:
    """A well-formed request, the same with some fields replaced by random values, or a
    random message outright."""
    index = draw(st.sampled_from([i for i, w in enumerate(_WEIGHTS) for _ in range(w)]))
    caller = draw(st.sampled_from(CALLERS))
    mode = draw(st.sampled_from(("valid", "valid", "mixed", "mixed", "random")))
    noise = draw(messages(METHODS[index][1].DESCRIPTOR))
    if mode == "random":
        return index, caller, noise
    values = dict(draw(_valid(index)))
    if mode == "mixed" and noise:
        for key in draw(st.sets(st.sampled_from(sorted(noise)), min_size=1, max_size=2)):
            values[key] = noise[key]
            oneof = METHODS[index][1].DESCRIPTOR.fields_by_name[key].containing_oneof
            if oneof is not None:  # one member of a oneof at a time
                for other in oneof.fields:
                    if other.name != key:
                        values.pop(other.name, None)
    return index, caller, values


def inputs() -> st.SearchStrategy[tuple[int, str, dict[str, Any]]]:
    """(method index, caller, field values)."""
    return _one_input()


@dataclass
class _Server:
    env: Any
    channel: grpc.Channel
    metadata: dict[str, tuple[tuple[str, str], ...]]
    calls: int = 0


_SERVER: list[_Server] = []


def start() -> None:
    _server()


def _server() -> _Server:
    if _SERVER:
        return _SERVER[0]
    from tests.integration.e2e.harness import start_server

    workdir = Path(tempfile.mkdtemp(prefix="authz-fuzz-rpc-"))
    env = start_server(workdir, REPO)
    user = env.access_key(USER)
    bob = env.access_key(ROLE_USER)
    _, session = env.assume(bob, ROLE, "fuzz")
    channel = grpc.insecure_channel(env.target)
    metadata = {"anonymous": (), "user": user.metadata(), "session": session.metadata()}
    server = _Server(env, channel, metadata)
    _SERVER.append(server)
    atexit.register(close)
    return server


def close() -> None:
    while _SERVER:
        server = _SERVER.pop()
        server.channel.close()
        server.env.close()


def call(index: int, caller: str, request: Message) -> grpc.StatusCode:
    server = _server()
    path, _, response_cls = METHODS[index]
    stub = server.channel.unary_unary(
        path,
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=response_cls.FromString,
    )
    try:
        stub(request, metadata=server.metadata[caller], timeout=30)
    except grpc.RpcError as err:
        return err.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def check(value: tuple[int, str, dict[str, Any]]) -> Finding | None:
    index, caller, values = value
    request = _build(METHODS[index][1], values)
    server = _server()
    server.calls += 1
    if server.calls % RELOAD_EVERY == 0:  # Reload now and then (it has no fields to fuzz)
        reload_index = len(METHODS) - 1
        code = call(reload_index, caller, admin_pb2.ReloadRequest())
        if code in CRASH_CODES:
            return Finding("crash", f"Reload as {caller}: {code.name}")
    code = call(index, caller, request)
    if code in CRASH_CODES:
        detail = f"{METHODS[index][0]} as {caller}: {code.name}"
        return Finding(
            "crash",
            detail,
            {"method": METHODS[index][0], "caller": caller, "request": json.loads(_json(request))},
        )
    return None


def _json(message: Message) -> str:
    from google.protobuf.json_format import MessageToJson

    return MessageToJson(message, preserving_proto_field_name=True)
