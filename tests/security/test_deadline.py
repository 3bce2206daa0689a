"""A deadline for every request (issue 10 item 4), written as the attacks it stops, against a
real server: long work (compiling large caller-supplied policies, many simulation pairs)
stops at the server's maximum or the caller's gRPC deadline, whichever is first, with
``DEADLINE_EXCEEDED`` / ``Throttling``, instead of running on for a caller that has gone."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from authz.bench.memory import large_policy
from authz.client import AuthzClient
from authz.errors import AuthzError, Throttling
from tests.integration.e2e.harness import E2EServer, ServerFactory

BOB = "arn:aws:iam::111122223333:user/Bob"


def _heavy_request(tag: str) -> dict[str, Any]:
    """Ten distinct 128 KiB policies (the most a request may carry): seconds of compiling."""
    return {
        "policy_input_list": [large_policy(f"{tag}n{i}", 131072) for i in range(10)],
        "action_names": ["s3:GetObject"],
        "resource_arns": ["arn:aws:s3:::bucket-0/prefix-1/object"],
        "caller_arn": BOB,
    }


def _health_ms(env: E2EServer) -> float:
    with grpc.insecure_channel(env.target) as channel:
        started = time.perf_counter()
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
        return (time.perf_counter() - started) * 1000


def test_the_server_maximum_stops_long_work(
    start_server: ServerFactory, example_repo: Path
) -> None:
    """Attack: one SimulateCustomPolicy of ten 128 KiB policies holds a worker (and the GIL)
    for seconds; with no deadline from the caller it ran to the end."""
    env = start_server(example_repo, max_request_seconds=0.3)
    request = _heavy_request("max")
    with env.client(env.example_admin()) as client:  # may simulate
        started = time.perf_counter()
        with pytest.raises(Throttling) as caught:
            client.simulate_custom_policy(**request)
        elapsed = time.perf_counter() - started
    assert caught.value.code == "Throttling"
    assert caught.value.details["grpc_code"] == "DEADLINE_EXCEEDED"
    assert "deadline" in str(caught.value)
    assert "0.3 s" in str(caught.value)
    # unbounded, this request runs for many seconds; 3 s leaves room for a loaded machine
    assert elapsed < 3.0, f"stopped after {elapsed:.2f} s"
    assert _health_ms(env) < 100


def test_the_callers_grpc_deadline_stops_the_server_work(
    start_server: ServerFactory, example_repo: Path
) -> None:
    """Attack: send the heavy request with a short gRPC deadline and go away, again and
    again; each call used to keep compiling for seconds after the caller had given up. Now
    the server stops too: the process is idle right after the deadline."""
    env = start_server(example_repo)  # the default server maximum (2 s) is not what stops it
    request = _heavy_request("grpc")
    short = AuthzClient(env.target, env.example_admin(), timeout=0.4)  # may simulate
    with short, pytest.raises(AuthzError):
        short.simulate_custom_policy(**request)
    time.sleep(0.3)  # the server notices at its next check (between statements)
    cpu = time.process_time()
    time.sleep(1.0)
    busy = time.process_time() - cpu
    # still compiling would be ~1 s of CPU in this 1 s; the rest of the process (health, gRPC
    # polling) stays well under half of it even on a loaded machine
    assert busy < 0.6, f"the server kept working {busy:.2f} s of CPU after the deadline"
    assert _health_ms(env) < 100


def test_work_within_the_deadline_is_unaffected(
    start_server: ServerFactory, example_repo: Path
) -> None:
    env = start_server(example_repo)
    with env.client(env.example_admin()) as client:  # may simulate
        response = client.simulate_custom_policy(
            policy_input_list=[large_policy("ok", 8192)],
            action_names=["s3:GetObject"],
            resource_arns=["arn:aws:s3:::bucket-ok/prefix-1/object"],
            caller_arn=BOB,
        )
    assert response.evaluation_results[0].eval_decision == "allowed"
