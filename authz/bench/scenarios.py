"""The scenario registry: what one request of a benchmark is.

Owns the plug-in point of the load generator and the built-in scenarios. A gRPC scenario is
a *factory*: given one ``grpc.Channel`` (one connection) it returns a callable that performs
one RPC for a request index and raises (``grpc.RpcError`` on failure). The load generator
calls the factory once per connection and the returned callable from many threads.

    register_scenario("authorize-distinct", make_authorize, spawn="authz",
                      description="Authorize, a different request each call")

Factories must be module-level functions (or ``functools.partial`` of them) so that they
pickle by reference into ``--client-procs`` worker processes. A non-gRPC scenario (moto over
HTTP) supplies ``connector`` instead: given the target it returns a picklable
``ConnectionFactory`` (see ``loadgen``).

Built-ins: ``echo`` (grpc.health.v1 Health/Check, the baseline of every run),
``harness-decision``, ``harness-batch``, ``harness-sts`` (the minimal servers in
``benchmarks/harness/``) and ``moto-assume-role`` (``authz.bench.moto``). Request bodies are
sent as raw bytes (no protobuf work on the client for these).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc

from authz.bench.loadgen import ConnectionFactory, RequestFn, check_loopback
from authz.bench.native import RequestFile

__all__ = [
    "ECHO",
    "GrpcConnector",
    "Scenario",
    "ScenarioFactory",
    "get_scenario",
    "register_scenario",
    "scenario_names",
]

ScenarioFactory = Callable[[grpc.Channel], RequestFn]
# The native client's form of a scenario: given how many requests a run may send, the request
# file to send (pre-serialized messages, distinct where the scenario is; see authz.bench.native).
NativeRequests = Callable[[int], RequestFile]
CALL_TIMEOUT_S = 10.0

# The harness contract (duplicated in benchmarks/harness/*.py, which import nothing from authz).
HEALTH_CHECK = "/grpc.health.v1.Health/Check"
HARNESS_DECIDE = "/authz.bench.Harness/Decide"
HARNESS_DECIDE_BATCH = "/authz.bench.Harness/DecideBatch"
HARNESS_ASSUME_ROLE = "/authz.bench.Harness/AssumeRole"
ECHO = "echo"


@dataclass(frozen=True)
class Scenario:
    """One registered scenario. ``spawn`` names the server ``--spawn`` starts by default;
    ``echo_baseline`` says whether the gRPC health check is measured on the same server;
    ``compare_to`` names scenarios whose throughput this one is reported against."""

    name: str
    factory: ScenarioFactory | None = None
    connector: Callable[[str], ConnectionFactory] | None = None
    spawn: str | None = None
    items_per_request: int = 1
    echo_baseline: bool = True
    compare_to: tuple[str, ...] = ()
    description: str = ""
    min_concurrency: int = 0  # the run uses at least this many requests in flight
    min_connections: int = 0  # ... and connections (e.g. to reach several server workers)
    native: NativeRequests | None = None  # the scenario for the C client (--client native)

    def connection_factory(self, target: str) -> ConnectionFactory:
        """The picklable per-connection factory the load generator runs."""
        if self.connector is not None:
            return self.connector(target)
        if self.factory is None:
            raise ValueError(f"scenario `{self.name}` has neither a factory nor a connector")
        return GrpcConnector(target=target, factory=self.factory)


_REGISTRY: dict[str, Scenario] = {}


def register_scenario(
    name: str,
    factory: ScenarioFactory | None = None,
    *,
    connector: Callable[[str], ConnectionFactory] | None = None,
    spawn: str | None = None,
    items_per_request: int = 1,
    echo_baseline: bool = True,
    compare_to: tuple[str, ...] = (),
    description: str = "",
    replace: bool = False,
    min_concurrency: int = 0,
    min_connections: int = 0,
    native: NativeRequests | None = None,
) -> Scenario:
    """Add a scenario under ``name``; refuses a duplicate unless ``replace``."""
    if name in _REGISTRY and not replace:
        raise ValueError(f"scenario `{name}` is already registered")
    if (factory is None) == (connector is None):
        raise ValueError(f"scenario `{name}`: give exactly one of factory or connector")
    scenario = Scenario(
        name=name,
        factory=factory,
        connector=connector,
        spawn=spawn,
        items_per_request=items_per_request,
        echo_baseline=echo_baseline,
        compare_to=compare_to,
        description=description,
        min_concurrency=min_concurrency,
        min_connections=min_connections,
        native=native,
    )
    _REGISTRY[name] = scenario
    return scenario


def get_scenario(name: str) -> Scenario:
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise KeyError(f"unknown scenario `{name}` (known: {known})") from None


def scenario_names() -> list[str]:
    return list(_REGISTRY)  # registration order: echo, harnesses, then plug-ins


# -- gRPC connections ---------------------------------------------------------------------------


class GrpcConnection:
    """One channel (its own TCP connection) and the scenario's request callable."""

    def __init__(self, target: str, factory: ScenarioFactory, index: int) -> None:
        options: list[tuple[str, Any]] = [
            ("grpc.use_local_subchannel_pool", 1),  # a distinct connection per channel
            ("authz.bench.connection", index),
        ]
        self._channel = grpc.insecure_channel(target, options=options)
        grpc.channel_ready_future(self._channel).result(timeout=CALL_TIMEOUT_S)
        self.request: RequestFn = factory(self._channel)

    def close(self) -> None:
        self._channel.close()


@dataclass(frozen=True)
class GrpcConnector:
    """Picklable ``ConnectionFactory`` for gRPC scenarios; refuses non-loopback targets."""

    target: str
    factory: ScenarioFactory

    def __post_init__(self) -> None:
        check_loopback(self.target)

    def __call__(self, index: int) -> GrpcConnection:
        return GrpcConnection(self.target, self.factory, index)


def _raw(channel: grpc.Channel, method: str) -> grpc.UnaryUnaryMultiCallable[bytes, bytes]:
    return channel.unary_unary(method, None, None)  # no serializers: bytes in, bytes out


# -- built-in scenarios -------------------------------------------------------------------------


def echo(channel: grpc.Channel) -> RequestFn:
    """The health check with an empty HealthCheckRequest: the cheapest RPC on any server."""
    call = _raw(channel, HEALTH_CHECK)

    def request(_index: int) -> object:
        return call(b"", timeout=CALL_TIMEOUT_S)

    return request


def harness_decision(channel: grpc.Channel) -> RequestFn:
    """One cedarpy decision per RPC; the index picks one of the harness's prepared requests."""
    call = _raw(channel, HARNESS_DECIDE)

    def request(index: int) -> object:
        return call(str(index).encode(), timeout=CALL_TIMEOUT_S)

    return request


def harness_batch(channel: grpc.Channel) -> RequestFn:
    """One 100-request ``is_authorized_batch`` per RPC."""
    call = _raw(channel, HARNESS_DECIDE_BATCH)

    def request(index: int) -> object:
        return call(str(index).encode(), timeout=CALL_TIMEOUT_S)

    return request


def harness_sts(channel: grpc.Channel) -> RequestFn:
    """One trust-policy decision plus one EdDSA JWT signature per RPC."""
    call = _raw(channel, HARNESS_ASSUME_ROLE)

    def request(index: int) -> object:
        return call(str(index).encode(), timeout=CALL_TIMEOUT_S)

    return request


def native_echo(_count: int) -> RequestFile:
    return RequestFile(HEALTH_CHECK, (), [b""])


def _native_indexed(path: str, count: int) -> RequestFile:
    """The harness picks its prepared request by the index in the body (mod its pool)."""
    return RequestFile(path, (), [str(i).encode() for i in range(max(count, 1))])


def native_harness_decision(count: int) -> RequestFile:
    return _native_indexed(HARNESS_DECIDE, min(count, 1000))  # the harness has 1000 requests


def native_harness_batch(count: int) -> RequestFile:
    return _native_indexed(HARNESS_DECIDE_BATCH, min(count, 1000))


def native_harness_sts(count: int) -> RequestFile:
    return _native_indexed(HARNESS_ASSUME_ROLE, min(count, 1000))


def _moto_connector(target: str) -> ConnectionFactory:
    from authz.bench.moto import BotoConnector

    return BotoConnector(target=target)


register_scenario(
    ECHO, echo, spawn="cedar", description="grpc.health.v1 Health/Check", native=native_echo
)
register_scenario(
    "harness-decision",
    harness_decision,
    spawn="cedar",
    description="minimal grpc + cedarpy: one pre-parsed decision per RPC",
    native=native_harness_decision,
)
register_scenario(
    "harness-batch",
    harness_batch,
    spawn="cedar",
    items_per_request=100,
    compare_to=("harness-decision",),
    description="minimal grpc + cedarpy: one 100-request is_authorized_batch per RPC",
    native=native_harness_batch,
)
register_scenario(
    "harness-sts",
    harness_sts,
    spawn="sts",
    compare_to=("moto-assume-role",),
    description="minimal grpc: one decision + one EdDSA JWT sign per RPC",
    native=native_harness_sts,
)
register_scenario(
    "moto-assume-role",
    connector=_moto_connector,
    spawn="moto",
    echo_baseline=False,
    description="moto_server STS AssumeRole through boto3 (HTTP)",
)
