"""The load generator: a short closed-loop run against an in-process health server, the
histogram's percentiles against exact ones, the loopback-only rule, and the report ratios."""

from __future__ import annotations

import io
import math
import random
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from authz.bench.histogram import Histogram, bucket_bounds, bucket_of
from authz.bench.loadgen import LoadConfig, check_loopback, run_load
from authz.bench.report import BenchReport
from authz.bench.scenarios import GrpcConnector, get_scenario


@pytest.fixture
def health_target() -> Iterator[str]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    servicer = health.HealthServicer()
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None).wait(timeout=2.0)


def test_closed_loop_run_is_consistent(health_target: str, tmp_path: Path) -> None:
    config = LoadConfig(concurrency=4, connections=2, duration_s=0.6, warmup_s=0.1)
    echo = get_scenario("echo")
    stream = io.StringIO()
    result = run_load(
        echo.connection_factory(health_target),
        config,
        scenario="echo",
        target=health_target,
        stream=stream,
    )
    assert result.requests > 0
    assert result.requests == result.successes + sum(result.errors.values())
    assert result.errors == {}
    lat = result.latency_us
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p99.9"] <= lat["max"]
    assert result.throughput_rps == pytest.approx(result.requests / result.duration_s)
    assert result.client_cpu_us_per_request is not None
    assert "[echo]" in stream.getvalue()

    report = BenchReport(name="test", config=config)
    report.add("inproc", result)
    report.add("inproc", result.__class__(**{**result.to_dict(), "scenario": "other"}))
    (ratio,) = report.comparisons({})
    assert ratio.subject == "other" and ratio.baseline == "echo"
    assert ratio.throughput_ratio == pytest.approx(1.0)
    json_path, summary = report.write(tmp_path, {})
    assert json_path.exists() and "| inproc | other |" in summary.read_text()

    # Each scenario is compared with the echo measured right before it on its server (the
    # machine's speed drifts within a run): here the second echo is twice as fast.
    def like(scenario: str, rps: float) -> Any:
        return result.__class__(**{**result.to_dict(), "scenario": scenario, "success_rps": rps})

    drift = BenchReport(name="drift", config=config)
    for scenario, rps in (("echo", 100.0), ("a", 50.0), ("echo", 200.0), ("b", 100.0)):
        drift.add("inproc", like(scenario, rps))
    ratios = {c.subject: c.throughput_ratio for c in drift.comparisons({})}
    assert ratios == {"a": pytest.approx(0.5), "b": pytest.approx(0.5)}


class _FlakyConnection:
    """Fails every third request with an RpcError-like UNAVAILABLE, without any network."""

    def request(self, index: int) -> object:
        if index % 3 == 0:
            raise _Unavailable()
        return b""

    def close(self) -> None:
        pass


class _Unavailable(Exception):
    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNAVAILABLE


def test_errors_are_counted_by_status() -> None:
    config = LoadConfig(concurrency=1, connections=1, duration_s=0.2, warmup_s=0.0, progress=False)
    result = run_load(lambda _i: _FlakyConnection(), config, scenario="flaky", target="127.0.0.1:1")
    assert set(result.errors) == {"UNAVAILABLE"}
    assert result.requests == result.successes + result.errors["UNAVAILABLE"]
    assert result.errors["UNAVAILABLE"] == pytest.approx(result.requests / 3, rel=0.1)


def test_histogram_percentiles_match_exact_values() -> None:
    rng = random.Random(7)
    samples = [int(rng.lognormvariate(7, 1.2)) for _ in range(20_000)]
    hist = Histogram()
    for value in samples:
        hist.record(value)
    ordered = sorted(samples)
    for p in (50, 90, 99, 99.9):
        exact = ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]
        assert hist.percentile(p) == pytest.approx(exact, rel=1 / 100, abs=1)
    assert hist.count == len(samples) and hist.max_us == max(samples)
    assert Histogram.from_dict(hist.to_dict()).percentile(99) == hist.percentile(99)


def test_histogram_small_values_are_exact_and_buckets_contiguous() -> None:
    hist = Histogram()
    for value in range(1, 101):
        hist.record(value)
    assert hist.percentile(50) == 50 and hist.percentile(99) == 99 and hist.percentile(100) == 100
    for index in range(1, 2000):
        assert bucket_bounds(index)[0] == bucket_bounds(index - 1)[1]
        low, high = bucket_bounds(index)
        assert bucket_of(low) == index and bucket_of(high - 1) == index


@pytest.mark.parametrize("target", ["10.0.0.1:80", "192.168.1.5:50051", "example.com:443"])
def test_non_loopback_targets_are_refused(target: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        check_loopback(target)
    with pytest.raises(ValueError, match="loopback"):
        GrpcConnector(target, get_scenario("echo").factory)  # type: ignore[arg-type]


def test_loopback_targets_are_accepted() -> None:
    assert check_loopback("127.0.0.1:50051") == "127.0.0.1"
    assert check_loopback("localhost:1") == "127.0.0.1"
    assert check_loopback("[::1]:2") == "::1"
