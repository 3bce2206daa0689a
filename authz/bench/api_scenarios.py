"""The authz API scenarios of the load generator (issue 6), and the ``authz*`` servers.

Each scenario runs against an ``authz serve`` spawned on a temporary copy of the benchmark
repository (``authz.bench.authz_server``): a user ``bench`` with the baseline harness's 10
statements, authenticated with an access key created through the product. Requests are built
with the generated protobuf classes and sent as bytes; a failed RPC raises.

    authorize-distinct   Authorize, every request different (never a decision-cache hit);
                         vs harness-decision (one pre-parsed cedarpy decision per RPC)
    authorize-repeated   Authorize cycling over 64 requests (decision-cache hits); vs echo
    authorize-batch      AuthorizeBatch of 100 distinct items; vs harness-batch (items/s)
    assume-role          AssumeRole of bench-role, a new session name each call; vs
                         harness-sts (one decision + one EdDSA sign) and moto
    caller-identity      GetCallerIdentity: the cost of the edge alone; vs echo
    mix                  70 % distinct, 20 % repeated Authorize, 10 % AssumeRole
    reload-under-load    authorize-distinct while the repository changes every
                         AUTHZ_BENCH_RELOAD_MS (500) ms; p99 vs authorize-distinct
    authorize-w1 / -w2   authorize-distinct on ``--workers 1`` / ``--workers 2``, both
                         unpinned, 32 in flight over 16 connections; w2 vs w1
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import grpc

from authz._gen.authz.v1 import authorizer_pb2, common_pb2, sts_pb2
from authz.bench import authz_server
from authz.bench.loadgen import RequestFn
from authz.bench.native import RequestFile
from authz.bench.scenarios import CALL_TIMEOUT_S, register_scenario
from authz.bench.spawn import ServerSpec, register_server

AUTHORIZE = "/authz.v1.Authorizer/Authorize"
AUTHORIZE_BATCH = "/authz.v1.Authorizer/AuthorizeBatch"
ASSUME_ROLE = "/authz.v1.SecurityTokenService/AssumeRole"
CALLER_IDENTITY = "/authz.v1.SecurityTokenService/GetCallerIdentity"
ACCOUNT = authz_server.ACCOUNT
BATCH = 100
REPEATED_POOL = 64

_SERVICES = ["s3", "dynamodb", "sqs", "sns", "kms"]
_VERBS = ["get", "put", "list", "delete", "describe"]
ACTIONS = tuple(f"{s}:{v}object" for s in _SERVICES for v in _VERBS)  # every action asked
Metadata = tuple[tuple[str, str], ...]


def _resource(service: str, i: int) -> str:
    return {
        "s3": f"arn:aws:s3:::bucket-{'ab'[i % 2]}/key-{i}",
        "dynamodb": f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/orders-{i}",
        "sqs": f"arn:aws:sqs:eu-west-1:{ACCOUNT}:jobs-{i}",
        "sns": f"arn:aws:sns:eu-west-1:{ACCOUNT}:topic-{i}",
        "kms": f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/{i}",
    }[service]


def authorize_request(i: int) -> authorizer_pb2.AuthorizeRequest:
    """Request ``i``: the harness's request shape (action, resource, source IP, TLS), with
    the index in the resource so that no two indexes ask the same question. Asked as an
    enforcement point does (``principal_arn``): only it may state the end user's source IP and
    transport (docs/security.md); the bench user holds ``authz:AuthorizeOnBehalf``."""
    service = _SERVICES[i % len(_SERVICES)]
    action = f"{service}:{_VERBS[(i // 5) % len(_VERBS)]}object"
    request = authorizer_pb2.AuthorizeRequest(
        action=action, resource=_resource(service, i), principal_arn=authz_server.USER_ARN
    )
    string = common_pb2.CONTEXT_KEY_TYPE_STRING
    request.context.add(key="aws:SourceIp", values=[f"10.0.{i % 256}.1"], type=string)
    request.context.add(key="aws:SecureTransport", values=["true"], type=string)
    return request


def _credentials() -> Metadata:
    fx = authz_server.read_fixture()
    return (
        ("x-authz-access-key-id", fx["access_key_id"]),
        ("x-authz-secret-access-key", fx["secret_access_key"]),
    )


def _raw(channel: grpc.Channel, method: str) -> grpc.UnaryUnaryMultiCallable[bytes, bytes]:
    return channel.unary_unary(method, None, None)


def _sender(channel: grpc.Channel, method: str) -> Callable[[bytes], object]:
    call, metadata = _raw(channel, method), _credentials()

    def send(body: bytes) -> object:
        return call(body, metadata=metadata, timeout=CALL_TIMEOUT_S)

    return send


def authorize_distinct(channel: grpc.Channel) -> RequestFn:
    send = _sender(channel, AUTHORIZE)

    def request(index: int) -> object:
        return send(authorize_request(index).SerializeToString())

    return request


def authorize_repeated(channel: grpc.Channel) -> RequestFn:
    send = _sender(channel, AUTHORIZE)
    pool = [authorize_request(i).SerializeToString() for i in range(REPEATED_POOL)]

    def request(index: int) -> object:
        return send(pool[index % REPEATED_POOL])

    return request


def authorize_batch(channel: grpc.Channel) -> RequestFn:
    send = _sender(channel, AUTHORIZE_BATCH)

    def request(index: int) -> object:
        items = [authorize_request(index * BATCH + j) for j in range(BATCH)]
        return send(authorizer_pb2.AuthorizeBatchRequest(items=items).SerializeToString())

    return request


def assume_role(channel: grpc.Channel) -> RequestFn:
    send = _sender(channel, ASSUME_ROLE)
    role = authz_server.read_fixture()["role_arn"]

    def request(index: int) -> object:
        body = sts_pb2.AssumeRoleRequest(role_arn=role, role_session_name=f"bench-{index}")
        return send(body.SerializeToString())

    return request


def caller_identity(channel: grpc.Channel) -> RequestFn:
    send = _sender(channel, CALLER_IDENTITY)

    def request(_index: int) -> object:
        return send(b"")

    return request


def mix(channel: grpc.Channel) -> RequestFn:
    distinct, repeated = authorize_distinct(channel), authorize_repeated(channel)
    assume = assume_role(channel)

    def request(index: int) -> object:
        slot = index % 10
        if slot == 0:
            return assume(index)
        if slot <= 2:
            return repeated(index)
        return distinct(index)

    return request


# -- the same requests for the native client (authz.bench.native) ----------------------------


def native_authorize_distinct(count: int) -> RequestFile:
    messages = [authorize_request(i).SerializeToString() for i in range(max(count, 1))]
    return RequestFile(AUTHORIZE, _credentials(), messages)


def native_authorize_repeated(_count: int) -> RequestFile:
    messages = [authorize_request(i).SerializeToString() for i in range(REPEATED_POOL)]
    return RequestFile(AUTHORIZE, _credentials(), messages)


def native_authorize_batch(count: int) -> RequestFile:
    batches = max(count // BATCH, 1)
    messages = [
        authorizer_pb2.AuthorizeBatchRequest(
            items=[authorize_request(b * BATCH + j) for j in range(BATCH)]
        ).SerializeToString()
        for b in range(batches)
    ]
    return RequestFile(AUTHORIZE_BATCH, _credentials(), messages)


def native_assume_role(count: int) -> RequestFile:
    role = authz_server.read_fixture()["role_arn"]
    messages = [
        sts_pb2.AssumeRoleRequest(role_arn=role, role_session_name=f"bench-{i}").SerializeToString()
        for i in range(max(count, 1))
    ]
    return RequestFile(ASSUME_ROLE, _credentials(), messages)


def native_caller_identity(_count: int) -> RequestFile:
    return RequestFile(CALLER_IDENTITY, _credentials(), [b""])


# -- servers --------------------------------------------------------------------------------


def _argv(port: int, *, workers: int = 1, reload: bool = False, pin: bool = False) -> list[str]:
    touch = authz_server.reload_ms() if reload else 0
    return authz_server.server_argv(port, workers=workers, touch_ms=touch, pin_workers=pin)


register_server(ServerSpec("authz", _argv, announces_port=False))
register_server(
    ServerSpec("authz-reload", functools.partial(_argv, reload=True), announces_port=False)
)
for _n in (1, 2):
    for _pinned in (False, True):  # authz-wN, authz-wN-pinned (--pin-workers)
        register_server(
            ServerSpec(
                f"authz-w{_n}" + ("-pinned" if _pinned else ""),
                functools.partial(_argv, workers=_n, pin=_pinned),
                announces_port=False,
                pin=False,
            )
        )

# -- scenarios ------------------------------------------------------------------------------

register_scenario(
    "authorize-distinct",
    authorize_distinct,
    native=native_authorize_distinct,
    spawn="authz",
    compare_to=("harness-decision",),
    description="Authorize, 10-statement principal, every request different",
)
register_scenario(
    "authorize-repeated",
    authorize_repeated,
    native=native_authorize_repeated,
    spawn="authz",
    description=f"Authorize cycling over {REPEATED_POOL} requests (decision-cache hits)",
)
register_scenario(
    "authorize-batch",
    authorize_batch,
    native=native_authorize_batch,
    spawn="authz",
    items_per_request=BATCH,
    compare_to=("harness-batch",),
    description=f"AuthorizeBatch of {BATCH} distinct items",
)
register_scenario(
    "assume-role",
    assume_role,
    native=native_assume_role,
    spawn="authz",
    compare_to=("harness-sts", "moto-assume-role"),
    description="AssumeRole with an access key, a new session name each call",
)
register_scenario(
    "caller-identity",
    caller_identity,
    native=native_caller_identity,
    spawn="authz",
    description="GetCallerIdentity: the edge alone (interceptor, authentication, protobuf)",
)
register_scenario(
    "mix",
    mix,
    spawn="authz",
    description="70% distinct / 20% repeated Authorize, 10% AssumeRole",
)
register_scenario(
    "reload-under-load",
    authorize_distinct,
    native=native_authorize_distinct,
    spawn="authz-reload",
    echo_baseline=False,
    compare_to=("authorize-distinct",),
    description="authorize-distinct while the repository changes every "
    "AUTHZ_BENCH_RELOAD_MS (500) ms",
)
register_scenario(
    "authorize-w1",
    authorize_distinct,
    native=native_authorize_distinct,
    spawn="authz-w1",
    echo_baseline=False,
    min_concurrency=32,
    min_connections=16,
    description="authorize-distinct on --workers 1 (unpinned)",
)
register_scenario(
    "authorize-w2",
    authorize_distinct,
    native=native_authorize_distinct,
    spawn="authz-w2",
    echo_baseline=False,
    min_concurrency=32,
    min_connections=16,
    compare_to=("authorize-w1",),
    description="authorize-distinct on --workers 2 (unpinned)",
)
