"""Operating the server: reflection, health, graceful shutdown, overload, metrics, workers."""

from __future__ import annotations

import functools
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from authz import errors
from authz._gen.authz.v1 import authorizer_pb2
from authz.client import AccessKeyCredentials, AuthzClient
from authz.server import AuthzServer, run_workers
from tests.integration.fakes import ALICE_KEY, SLOW_ACTION, FakeBackend, worker_factory


def _eventually(check: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_reflection_lists_all_services(channel: grpc.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    (response,) = list(stub.ServerReflectionInfo(iter([request]), timeout=5))
    names = {s.name for s in response.list_services_response.service}
    assert names == {
        "authz.v1.SecurityTokenService",
        "authz.v1.Authorizer",
        "authz.v1.PolicySimulator",
        "authz.v1.PolicyAdmin",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }


def _health(channel: grpc.Channel, service: str = "") -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    return int(stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status)


def test_health_follows_backend_readiness(
    backend: FakeBackend, make_server: Callable[..., AuthzServer]
) -> None:
    backend.is_ready = False
    server = make_server()
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        assert _health(channel) == health_pb2.HealthCheckResponse.NOT_SERVING
        assert _health(channel, "authz.v1.Authorizer") == health_pb2.HealthCheckResponse.NOT_SERVING
        backend.is_ready = True
        _eventually(lambda: _health(channel) == health_pb2.HealthCheckResponse.SERVING)
        assert _health(channel, "authz.v1.Authorizer") == health_pb2.HealthCheckResponse.SERVING
        backend.is_ready = False
        _eventually(lambda: _health(channel) == health_pb2.HealthCheckResponse.NOT_SERVING)


def test_reload_refreshes_health_at_once(
    backend: FakeBackend, make_server: Callable[..., AuthzServer]
) -> None:
    backend.is_ready = False
    server = make_server(health_interval_seconds=60)
    target = f"127.0.0.1:{server.port}"
    with (
        grpc.insecure_channel(target) as ch,
        AuthzClient(target, AccessKeyCredentials(*ALICE_KEY)) as c,
    ):
        assert _health(ch) == health_pb2.HealthCheckResponse.NOT_SERVING
        c.reload()
        assert _health(ch) == health_pb2.HealthCheckResponse.SERVING


def _slow_call(client: AuthzClient, results: list[object]) -> None:
    try:
        results.append(client.authorize(SLOW_ACTION, "arn:aws:s3:::b"))
    except Exception as exc:
        results.append(exc)


def test_graceful_shutdown_drains_in_flight_calls(
    backend: FakeBackend, server: AuthzServer, client: AuthzClient, target: str
) -> None:
    results: list[object] = []
    caller = threading.Thread(target=_slow_call, args=(client, results))
    caller.start()
    assert backend.slow_started.wait(3)
    stopper = threading.Thread(target=server.shutdown, kwargs={"grace": 3})
    stopper.start()
    with grpc.insecure_channel(target) as channel:
        _eventually(lambda: _serving_refused(channel))
    backend.slow_release.set()
    caller.join(3)
    stopper.join(5)
    assert not stopper.is_alive()
    assert isinstance(results[0], authorizer_pb2.AuthorizeResponse)


def _serving_refused(channel: grpc.Channel) -> bool:
    try:
        _health(channel)
    except grpc.RpcError as err:
        return err.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined,no-any-return]
    return False


def test_overload_is_refused_and_the_server_recovers(
    backend: FakeBackend, server: AuthzServer, client: AuthzClient, channel: grpc.Channel
) -> None:
    results: list[object] = []
    callers = [threading.Thread(target=_slow_call, args=(client, results)) for _ in range(4)]
    for t in callers:
        t.start()
    _eventually(lambda: sum(1 for c in backend.calls if c[0] == "authorize") == 4)
    with pytest.raises(errors.Throttling) as raised:
        client.get_caller_identity()
    assert raised.value.details["grpc_code"] == "RESOURCE_EXHAUSTED"
    assert _health(channel) == health_pb2.HealthCheckResponse.SERVING  # health is not limited
    backend.slow_release.set()
    for t in callers:
        t.join(5)
    assert all(isinstance(r, authorizer_pb2.AuthorizeResponse) for r in results)
    assert client.get_caller_identity().arn
    rejected = server.metrics.registry.get_sample_value(
        "authz_grpc_rejected_requests_total", {"reason": "overload"}
    )
    assert rejected == 1.0


def test_metrics_exporter(make_server: Callable[..., AuthzServer]) -> None:
    server = make_server(metrics_listen="127.0.0.1:0")
    with AuthzClient(f"127.0.0.1:{server.port}", AccessKeyCredentials(*ALICE_KEY)) as c:
        c.authorize("s3:GetObject", "arn:aws:s3:::b")
        c.authorize("s3:DeleteObject", "arn:aws:s3:::b")
        c.reload()
    url = f"http://127.0.0.1:{server.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    assert 'authz_grpc_requests_total{code="OK",method="Authorize"} 2.0' in text
    assert 'authz_grpc_request_duration_seconds_count{code="OK",method="Authorize"} 2.0' in text
    assert 'authz_decisions_total{effect="explicitDeny"} 1.0' in text
    assert 'authz_reload_total{outcome="changed"} 1.0' in text
    assert 'authz_cache_stat{stat="decision_hits"} 7.0' in text
    assert 'authz_snapshot_revision_info{revision="rev-2"} 1.0' in text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_workers_share_one_port() -> None:
    port = _free_port()
    stop = threading.Event()
    exit_codes: list[int] = []
    runner = threading.Thread(
        target=lambda: exit_codes.append(
            run_workers(functools.partial(worker_factory, port), 2, stop_event=stop)
        )
    )
    runner.start()
    try:
        target = f"127.0.0.1:{port}"
        with AuthzClient(target, AccessKeyCredentials(*ALICE_KEY), wait_for_ready=True) as c:
            assert c.get_caller_identity().arn.endswith("user/alice")
    finally:
        stop.set()
        runner.join(60)  # spawned workers import grpc first: slow on a busy 2-core machine
    assert exit_codes == [0]


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="no CPU affinity on this OS")
def test_pinned_worker_runs_on_its_own_cpu() -> None:
    """``--pin-workers``: worker i is bound to the i-th allowed CPU (modulo their number),
    checked in a child process so this one keeps its affinity."""
    allowed = sorted(os.sched_getaffinity(0))
    code = (
        "import os; from authz.server.workers import pin_to_cpu; "
        "cpu = pin_to_cpu(3); print(cpu, *sorted(os.sched_getaffinity(0)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)  # fmt: skip
    cpu, *now = map(int, done.stdout.split())
    assert cpu == allowed[3 % len(allowed)] and now == [cpu]
