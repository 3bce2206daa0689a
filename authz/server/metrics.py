"""Prometheus metrics of one server, in its own ``CollectorRegistry``.

Owns metric names (``authz_<area>_<name>_<unit>``) and the optional HTTP exporter on a separate
port. A dedicated registry per server keeps in-process test servers from colliding.

    authz_grpc_requests_total{method,code}             counter
    authz_grpc_request_duration_seconds{method,code}   histogram
    authz_grpc_inflight_requests                       gauge: calls from arrival to end
    authz_grpc_rejected_requests_total{reason}         counter (overload, caller_limit,
                                                       draining, read_timeout, stalled_peer)
    authz_decisions_total{effect}                      counter (allowed/explicitDeny/...)
    authz_reload_total{outcome}                        counter (changed/unchanged/failed)
    authz_snapshot_revision_info{revision}             gauge = 1, read from backend.status()
    authz_audit_dropped_events_total{reason}           counter (queue_full, write_error,
                                                       disk_full, encode_error, shutdown)
    authz_worker_restarts_total                        counter: restarts of this worker slot
    authz_cache_stat{stat}                             gauge, read from backend.status()
    authz_reload_events_total{outcome}                 counter, read from backend.status():
                                                       every reload (file watch, SIGHUP, RPC)
    authz_security_events_total{event}                 counter, read from backend.status():
                                                       credentials_store_unavailable,
                                                       mfa_store_unavailable, mfa_failures,
                                                       mfa_lockouts, mfa_throttled,
                                                       state_stale_refusals
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

_log = logging.getLogger("authz.server.metrics")

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_GO_FLOAT: Callable[[float], str] = floatToGoString  # how prometheus_client spells ``le``
_BOUNDS = (*(_GO_FLOAT(b) for b in _LATENCY_BUCKETS), "+Inf")


StatusSource = Callable[[], tuple[str | None, Mapping[str, int]]]


class _BackendCollector(Collector):
    """Reads (revision, cache stats) at scrape time; a failing source yields no samples.
    Stats named ``reload_<outcome>`` are the reloader's counters and become
    ``authz_reload_events_total{outcome}``."""

    def __init__(self, source: StatusSource) -> None:
        self._source = source

    def collect(self) -> Iterable[Metric]:
        stats = GaugeMetricFamily(
            "authz_cache_stat", "Cache statistics reported by the backend", labels=["stat"]
        )
        revision = GaugeMetricFamily(
            "authz_snapshot_revision_info", "The policy revision being served", labels=["revision"]
        )
        try:
            current, values = self._source()
        except Exception:  # a scrape must not fail because the backend is not ready
            _log.debug("backend status unavailable", exc_info=True)
            current, values = None, {}
        reloads = CounterMetricFamily(
            "authz_reload_events",
            "Reload attempts by outcome (watch, SIGHUP, RPC)",
            labels=["outcome"],
        )
        security = CounterMetricFamily(
            "authz_security_events",
            "Refusals protecting credentials (store unavailable, MFA failures and lockouts)",
            labels=["event"],
        )
        for name, value in sorted(values.items()):
            if name.startswith("reload_"):
                reloads.add_metric([name.removeprefix("reload_")], float(value))
            elif name.startswith("security_"):
                security.add_metric([name.removeprefix("security_")], float(value))
            else:
                stats.add_metric([name], float(value))
        if current:
            revision.add_metric([current], 1.0)
        yield stats
        yield revision
        yield reloads
        yield security


class _CallCollector(Collector):
    """``authz_grpc_requests_total``, ``authz_grpc_request_duration_seconds`` and
    ``authz_decisions_total`` from ``ServerMetrics``' own counts, at scrape time (the same
    names, labels and buckets a ``Counter`` / ``Histogram`` would show; no ``_created``)."""

    def __init__(self, metrics: ServerMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        rows, effects = self._metrics.call_counts()
        requests = CounterMetricFamily(
            "authz_grpc_requests", "RPCs handled, by method and status code",
            labels=["method", "code"],
        )  # fmt: skip
        latency = HistogramMetricFamily(
            "authz_grpc_request_duration_seconds", "RPC latency, by method and status code",
            labels=["method", "code"],
        )  # fmt: skip
        for (method, code), row in sorted(rows.items()):
            requests.add_metric([method, code], row[0])
            cumulative = 0.0
            buckets: list[tuple[str, float]] = []
            for bound, count in zip(_BOUNDS, row[2:], strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            latency.add_metric([method, code], buckets, sum_value=row[1])
        decisions = CounterMetricFamily(
            "authz_decisions", "Authorization decisions, by effect", labels=["effect"]
        )
        for effect, count in sorted(effects.items()):
            decisions.add_metric([effect], count)
        yield requests
        yield latency
        yield decisions


class ServerMetrics:
    """All metrics of one server instance."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        # Every call's counters and latency, and every decision's effect: kept here under one
        # lock and read at scrape time (``_CallCollector``). prometheus_client's ``inc`` and
        # ``observe`` are Python code with a lock each, ~20k instructions a call (issue 15).
        self._calls_lock = threading.Lock()
        self._calls: dict[tuple[str, str], list[float]] = {}  # count, sum, per-bucket counts
        self._effect_counts: dict[str, float] = {}
        r.register(_CallCollector(self))
        self.inflight = Gauge("authz_grpc_inflight_requests", "RPCs being served", registry=r)
        self.rejected = Counter(
            "authz_grpc_rejected_requests", "RPCs refused before running", ["reason"], registry=r
        )
        self.reloads = Counter("authz_reload", "Reloads, by outcome", ["outcome"], registry=r)
        self.audit_dropped = Counter(
            "authz_audit_dropped_events",
            "Audit events not written, by reason (queue_full, write_error, disk_full, ...)",
            ["reason"],
            registry=r,
        )
        self.worker_restarts = Counter(
            "authz_worker_restarts",
            "Times the supervisor restarted this worker slot (--workers N)",
            registry=r,
        )
        self._http: WSGIServer | None = None

    def observe_rpc(self, method: str, code: str, seconds: float) -> None:
        """``authz_grpc_requests_total{method,code}`` += 1 and ``seconds`` into
        ``authz_grpc_request_duration_seconds{method,code}``."""
        bucket = 2 + bisect.bisect_left(_LATENCY_BUCKETS, seconds)  # first bound >= seconds
        key = (method, code)
        with self._calls_lock:
            row = self._calls.get(key)
            if row is None:
                row = self._calls[key] = [0.0] * (3 + len(_LATENCY_BUCKETS))
            row[0] += 1.0
            row[1] += seconds
            row[bucket] += 1.0

    def count_decision(self, effect: str) -> None:
        """``authz_decisions_total{effect}`` += 1."""
        with self._calls_lock:
            self._effect_counts[effect] = self._effect_counts.get(effect, 0.0) + 1.0

    def call_counts(
        self,
    ) -> tuple[dict[tuple[str, str], list[float]], dict[str, float]]:
        """A copy of the per-call rows and the decision counts (what a scrape reads)."""
        with self._calls_lock:
            rows = {key: list(row) for key, row in self._calls.items()}
            return rows, dict(self._effect_counts)

    def track_inflight(self, read: Callable[[], float]) -> None:
        """Report ``authz_grpc_inflight_requests`` from ``read()`` at scrape time (the edge
        keeps the count, so no metric is touched twice per call)."""
        self.inflight.set_function(read)

    def watch_backend(self, source: StatusSource) -> None:
        """Report the revision and cache statistics from ``source`` at each scrape."""
        self.registry.register(_BackendCollector(source))

    def serve_http(self, listen: str) -> int:
        """Start the exporter on ``host:port`` (port 0 picks one); returns the bound port."""
        host, _, port = listen.rpartition(":")
        server, _thread = start_http_server(int(port), addr=host or "127.0.0.1",
                                            registry=self.registry)  # fmt: skip
        self._http = server
        return int(server.server_port)

    def close(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
