"""Where a request's server CPU goes, without gRPC transport: the load generator's requests
(``authz.bench.api_scenarios``) through the real edge interceptor and servicers in-process,
on the bench fixture (the 10-statement principal). Prints µs per request (min over rounds)
for each scenario, then optionally a cProfile of one of them.

    .venv/bin/python benchmarks/profile_edge.py [--profile distinct|repeated|batch|assume-role]

In-process numbers are lower than the server's CPU per request under load (there the same
code runs ~2-3x slower: sixteen threads, the GIL hand-offs and grpc's own work share one
core), but they rank the costs, and a change that moves them moves the server too.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import time
from collections.abc import Callable, Sequence
from typing import Any

from authz._gen.authz.v1 import authorizer_pb2, sts_pb2
from authz.bench import authz_server
from authz.bench.api_scenarios import BATCH, REPEATED_POOL, authorize_request
from authz.config import load_settings
from authz.server.admission import AdmissionGate, CountingPool
from authz.server.app import tune_collector
from authz.server.interceptors import Authenticator, EdgeInterceptor
from authz.server.metrics import ServerMetrics
from authz.server.readtimeout import ReadWatchdog
from authz.server.servicers.authorizer import AuthorizerServicer
from authz.server.servicers.sts import SecurityTokenServiceServicer
from authz.wiring import build_backend

ROUNDS, PER_ROUND = 5, 2000


class _Context:
    """The parts of ``grpc.ServicerContext`` the edge and servicers read."""

    def __init__(self, metadata: Sequence[tuple[str, str]]) -> None:
        self._metadata = tuple(metadata)

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata

    def set_trailing_metadata(self, _metadata: object) -> None:
        return None

    def peer(self) -> str:
        return "ipv4:127.0.0.1:40000"

    def auth_context(self) -> dict[str, list[bytes]]:
        return {}

    def time_remaining(self) -> float:
        return 10.0

    def cancel(self) -> None:
        return None

    def abort_with_status(self, status: object) -> None:
        raise RuntimeError(f"the call failed: {status}")


def _handlers() -> tuple[dict[str, Callable[[Any], Any]], str]:
    fx = authz_server.fixture()
    settings = load_settings(
        None,
        repo=fx.repo,
        keys_dir=fx.keys,
        state_url=fx.state_url,
        state_key_file=fx.state_key,
        watch=False,
    )
    backend = build_backend(settings)
    info = json.loads(fx.info.read_text())
    context = _Context(
        (
            ("x-authz-access-key-id", info["access_key_id"]),
            ("x-authz-secret-access-key", info["secret_access_key"]),
        )
    )
    metrics = ServerMetrics()
    edge = EdgeInterceptor(  # as authz.server.app.create_server assembles it
        Authenticator(backend, {}, allow_plaintext_secret=True),  # as the bench server
        metrics,
        None,
        AdmissionGate(12, 0.1, 12),
        CountingPool(16, "profile-rpc"),
        CountingPool(2, "profile-refuse"),
        ReadWatchdog(5.0),
    )
    authorizer = AuthorizerServicer(
        backend,
        max_batch_size=BATCH,
        trusted_principal_arns=frozenset(),
        on_decision=lambda d: metrics.count_decision(d.decision.value),
    )
    sts = SecurityTokenServiceServicer(backend)
    wrapped = {
        "Authorize": edge._wrap("/authz.v1.Authorizer/Authorize", authorizer.Authorize),
        "AuthorizeBatch": edge._wrap(
            "/authz.v1.Authorizer/AuthorizeBatch", authorizer.AuthorizeBatch
        ),
        "AssumeRole": edge._wrap("/authz.v1.SecurityTokenService/AssumeRole", sts.AssumeRole),
    }
    parsers: dict[str, Any] = {
        "Authorize": authorizer_pb2.AuthorizeRequest,
        "AuthorizeBatch": authorizer_pb2.AuthorizeBatchRequest,
        "AssumeRole": sts_pb2.AssumeRoleRequest,
    }

    def bind(method: str) -> Callable[[bytes], Any]:
        behavior, parse = wrapped[method], parsers[method].FromString
        # the edge reads the one request message itself (a stream_unary handler)
        return lambda body: behavior(iter((parse(body),)), context).SerializeToString()

    return {m: bind(m) for m in wrapped}, info["role_arn"]


def _bodies(scenario: str, start: int, count: int, role: str) -> tuple[str, list[bytes], int]:
    """(method, request bodies, decisions per body) for one round."""
    if scenario == "distinct":
        return "Authorize", [authorize_request(i).SerializeToString() for i in
                             range(start, start + count)], 1  # fmt: skip
    if scenario == "repeated":
        pool = [authorize_request(i).SerializeToString() for i in range(REPEATED_POOL)]
        return "Authorize", [pool[i % REPEATED_POOL] for i in range(count)], 1
    if scenario == "batch":
        bodies = [
            authorizer_pb2.AuthorizeBatchRequest(
                items=[authorize_request((start + k) * BATCH + j) for j in range(BATCH)]
            ).SerializeToString()
            for k in range(count // BATCH)
        ]
        return "AuthorizeBatch", bodies, BATCH
    body = [
        sts_pb2.AssumeRoleRequest(role_arn=role, role_session_name=f"s{i}").SerializeToString()
        for i in range(start, start + count)
    ]
    return "AssumeRole", body, 1


def _round(call: Callable[[bytes], Any], bodies: list[bytes], per_body: int) -> float:
    started = time.perf_counter()
    for body in bodies:
        call(body)
    return (time.perf_counter() - started) / (len(bodies) * per_body) * 1e6


SCENARIOS = ("distinct", "repeated", "batch", "assume-role")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=SCENARIOS)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    handlers, role = _handlers()
    for scenario in SCENARIOS:  # warm: partitions compiled, memos filled
        method, bodies, per = _bodies(scenario, 10_000_000, 1000, role)
        _round(handlers[method], bodies, per)
    tune_collector()  # as `authz serve` does
    for n, scenario in enumerate(SCENARIOS):
        times = []
        for r in range(ROUNDS):
            method, bodies, per = _bodies(scenario, (n * ROUNDS + r) * PER_ROUND, PER_ROUND, role)
            times.append(_round(handlers[method], bodies, per))
        unit = "per item" if scenario == "batch" else "per request"
        print(f"{scenario:12s} {min(times):7.1f} µs {unit} (min of {ROUNDS} rounds)")
    if args.profile:
        method, bodies, per = _bodies(args.profile, 50_000_000, PER_ROUND, role)
        profile = cProfile.Profile()
        profile.enable()
        _round(handlers[method], bodies, per)
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
