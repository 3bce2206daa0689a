"""The per-call metrics are counted by ``ServerMetrics`` itself and exposed at scrape time
(issue 15: prometheus_client's ``inc`` / ``observe`` cost ~20k instructions a call). The
oracle is prometheus_client: the same observations through its own ``Counter`` and
``Histogram`` must expose the same lines (its ``_created`` series aside)."""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from authz.server.metrics import _LATENCY_BUCKETS, ServerMetrics

_NAMES = ("authz_grpc_requests", "authz_grpc_request_duration_seconds", "authz_decisions")


def _lines(registry: CollectorRegistry) -> list[str]:
    text = generate_latest(registry).decode()
    return sorted(
        line
        for line in text.splitlines()
        if any(name in line for name in _NAMES) and "_created" not in line
    )


def _reference() -> tuple[CollectorRegistry, Counter, Histogram, Counter]:
    ref = CollectorRegistry()
    requests = Counter(
        "authz_grpc_requests", "RPCs handled, by method and status code",
        ["method", "code"], registry=ref,
    )  # fmt: skip
    latency = Histogram(
        "authz_grpc_request_duration_seconds", "RPC latency, by method and status code",
        ["method", "code"], buckets=_LATENCY_BUCKETS, registry=ref,
    )  # fmt: skip
    decisions = Counter(
        "authz_decisions", "Authorization decisions, by effect", ["effect"], registry=ref
    )
    return ref, requests, latency, decisions


def test_call_metrics_expose_what_prometheus_client_would() -> None:
    ours = ServerMetrics()
    ref, requests, latency, decisions = _reference()
    assert _lines(ours.registry) == _lines(ref)  # nothing observed yet: HELP and TYPE only
    observations = [
        ("Authorize", "OK", 0.0),
        ("Authorize", "OK", 0.0004),
        ("Authorize", "OK", 0.0005),  # on a bound: counted in its bucket (le)
        ("Authorize", "OK", 0.0006),
        ("Authorize", "PERMISSION_DENIED", 3.0),  # past the last bound: +Inf only
        ("AssumeRole", "OK", 1.0),
        ("AuthorizeBatch", "DEADLINE_EXCEEDED", 0.3),
    ]
    for method, code, seconds in observations:
        ours.observe_rpc(method, code, seconds)
        requests.labels(method, code).inc()
        latency.labels(method, code).observe(seconds)
    for effect in ("allowed", "explicitDeny", "allowed", "implicitDeny"):
        ours.count_decision(effect)
        decisions.labels(effect).inc()
    assert _lines(ours.registry) == _lines(ref)
    assert 'authz_grpc_requests_total{code="OK",method="Authorize"} 4.0' in _lines(ours.registry)


def test_counts_from_many_threads_add_up() -> None:
    ours = ServerMetrics()

    def work() -> None:
        for i in range(2_000):
            ours.observe_rpc("Authorize", "OK", i / 1_000_000)
            ours.count_decision("allowed")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sample = ours.registry.get_sample_value
    labels = {"method": "Authorize", "code": "OK"}
    assert sample("authz_grpc_requests_total", labels) == 8_000
    assert sample("authz_grpc_request_duration_seconds_count", labels) == 8_000
    assert sample("authz_grpc_request_duration_seconds_bucket", {**labels, "le": "+Inf"}) == 8_000
    assert sample("authz_decisions_total", {"effect": "allowed"}) == 8_000
