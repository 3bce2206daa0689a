"""Building and running the gRPC server: ``create_server`` / ``serve`` / ``run_workers``.

Owns ``ServerConfig``, the assembly of one server (thread pool, options, TLS/mTLS, edge
interceptor, servicers, health, reflection, metrics exporter, audit log) and its lifecycle:
graceful shutdown on SIGTERM/SIGINT (health NOT_SERVING, stop accepting, let in-flight calls
finish within the grace period, flush the audit log).

    server = create_server(backend, ServerConfig(listen="127.0.0.1:0"))
    server.start()          # server.port is the bound port
    ...
    server.shutdown(grace=5)
"""

from __future__ import annotations

import errno
import gc
import logging
import signal
import threading
from collections.abc import Iterable, Mapping
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from authz.limits import RequestLimits
from authz.server.audit import AuditLog
from authz.server.health import HealthMonitor
from authz.server.interceptors import Authenticator, EdgeInterceptor
from authz.server.metrics import ServerMetrics
from authz.server.ports import Backend, ReloadResult
from authz.server.servicers import SERVICE_NAMES, add_servicers

_log = logging.getLogger("authz.server")


@dataclass(frozen=True)
class ServerConfig:
    """Everything the edge needs to know; the backend has its own configuration.

    ``max_concurrent_rpcs`` calls execute at once; more are refused with RESOURCE_EXHAUSTED /
    ``Throttling``. It must be below ``max_workers`` so that refusals and health checks still
    find a thread. ``san_principals`` maps an mTLS client certificate SAN (e.g.
    ``spiffe://prod/enforcer``) to a service principal name. Service principals and
    ``trusted_principal_arns`` may ask Authorize about another principal.
    ``admin_principal_arns=None`` lets any authenticated caller use PolicyAdmin.
    """

    listen: str = "127.0.0.1:50051"
    max_workers: int = 16
    max_concurrent_rpcs: int = 12
    max_message_bytes: int = 4 * 1024 * 1024
    max_batch_size: int = 100
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    client_ca_file: str | None = None
    san_principals: Mapping[str, str] = field(default_factory=dict)
    trusted_principal_arns: frozenset[str] = frozenset()
    admin_principal_arns: frozenset[str] | None = None
    metrics_listen: str | None = "127.0.0.1:9464"
    audit_path: str | None = None
    audit_queue_size: int = 10_000
    health_interval_seconds: float = 1.0
    shutdown_grace_seconds: float = 10.0
    reuse_port: bool = False
    trusted_proxies: frozenset[str] = frozenset()  # peers whose x-forwarded-for is believed
    limits: RequestLimits = field(default_factory=RequestLimits)  # checked at the door
    repeat_memo_bytes: int = 8 * 1024 * 1024  # the Authorize repeat memo

    def validate(self) -> None:
        if not 0 < self.max_concurrent_rpcs < self.max_workers:
            raise ValueError("max_concurrent_rpcs must be positive and below max_workers")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together")
        if self.client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError("mTLS (client_ca_file) needs tls_cert_file and tls_key_file")
        if self.max_batch_size < 1 or self.max_message_bytes < 1024:
            raise ValueError("max_batch_size and max_message_bytes must be positive")


class AuthzServer(grpc.Server):
    """A ``grpc.Server`` that also owns its health monitor, metrics exporter and audit log."""

    def __init__(
        self,
        server: grpc.Server,
        port: int,
        health_monitor: HealthMonitor,
        metrics: ServerMetrics,
        audit: AuditLog | None,
        config: ServerConfig,
    ) -> None:
        self._server = server
        self.port = port
        self.health = health_monitor
        self.metrics = metrics
        self.audit = audit
        self.config = config
        self.metrics_port: int | None = None
        self._closed = threading.Lock()

    def add_generic_rpc_handlers(self, generic_rpc_handlers: Iterable[Any]) -> None:
        self._server.add_generic_rpc_handlers(generic_rpc_handlers)

    def add_registered_method_handlers(self, service_name: str, method_handlers: Any) -> None:
        self._server.add_registered_method_handlers(  # type: ignore[attr-defined]
            service_name, method_handlers
        )

    def add_insecure_port(self, address: str) -> int:
        return self._server.add_insecure_port(address)

    def add_secure_port(self, address: str, server_credentials: grpc.ServerCredentials) -> int:
        return self._server.add_secure_port(address, server_credentials)

    def start(self) -> None:
        if self.config.metrics_listen:
            self.metrics_port = self.metrics.serve_http(self.config.metrics_listen)
        self._server.start()
        self.health.start()
        _log.info("serving", extra={"port": self.port, "metrics_port": self.metrics_port})

    def stop(self, grace: float | None = None) -> threading.Event:
        """Stop as ``grpc.Server.stop``; the event is set once the audit log is flushed too."""
        done = threading.Event()
        self.health.shutdown()
        stopped = self._server.stop(grace)

        def finish() -> None:
            stopped.wait()
            self._close_resources()
            done.set()

        threading.Thread(target=finish, name="authz-stop", daemon=True).start()
        return done

    def shutdown(self, grace: float | None = None) -> None:
        """Graceful, blocking stop: NOT_SERVING, refuse new calls, drain in-flight ones for
        at most ``grace`` seconds (default: ``config.shutdown_grace_seconds``), flush."""
        grace = self.config.shutdown_grace_seconds if grace is None else grace
        self.stop(grace).wait(grace + 10)

    def wait_for_termination(self, timeout: float | None = None) -> bool:
        return self._server.wait_for_termination(timeout)

    def _close_resources(self) -> None:
        if not self._closed.acquire(blocking=False):
            return
        if self.audit is not None:
            self.audit.close()
        self.metrics.close()


def _options(config: ServerConfig) -> list[tuple[str, Any]]:
    return [
        ("grpc.max_receive_message_length", config.max_message_bytes),
        ("grpc.max_send_message_length", config.max_message_bytes),
        ("grpc.so_reuseport", 1 if config.reuse_port else 0),
    ]


def _bind(server: grpc.Server, config: ServerConfig) -> int:
    try:
        return _add_port(server, config)
    except RuntimeError as err:  # grpc's "Failed to bind to address …"
        raise OSError(
            errno.EADDRINUSE, f"cannot listen on {config.listen}: address in use or unavailable"
        ) from err


def _add_port(server: grpc.Server, config: ServerConfig) -> int:
    if config.tls_cert_file is None or config.tls_key_file is None:
        port = server.add_insecure_port(config.listen)
    else:
        key = Path(config.tls_key_file).read_bytes()
        cert = Path(config.tls_cert_file).read_bytes()
        ca = Path(config.client_ca_file).read_bytes() if config.client_ca_file else None
        credentials = grpc.ssl_server_credentials(
            [(key, cert)], root_certificates=ca, require_client_auth=ca is not None
        )
        port = server.add_secure_port(config.listen, credentials)
    if port == 0:
        raise OSError(f"could not bind {config.listen}")
    return port


def create_server(backend: Backend, config: ServerConfig | None = None) -> AuthzServer:
    """Assemble a bound, not yet started server. ``server.port`` is the bound port."""
    config = config or ServerConfig()
    config.validate()
    metrics = ServerMetrics()
    metrics.watch_backend(lambda: _status_for_metrics(backend))
    audit = (
        AuditLog(
            config.audit_path,
            max_queue=config.audit_queue_size,
            on_drop=metrics.audit_dropped.inc,
        )
        if config.audit_path
        else None
    )
    interceptor = EdgeInterceptor(
        Authenticator(backend, config.san_principals),
        metrics,
        audit,
        config.max_concurrent_rpcs,
        max_request_seconds=config.limits.max_request_seconds,
    )
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=config.max_workers, thread_name_prefix="authz-rpc"),
        interceptors=[interceptor],
        options=_options(config),
        maximum_concurrent_rpcs=config.max_workers + config.max_concurrent_rpcs,
    )
    monitor = HealthMonitor(backend.ready, SERVICE_NAMES, config.health_interval_seconds)

    def on_reload(result: ReloadResult) -> None:
        outcome = "failed" if result.error else ("changed" if result.changed else "unchanged")
        metrics.reloads.labels(outcome).inc()
        monitor.refresh()

    add_servicers(
        server,
        backend,
        max_batch_size=config.max_batch_size,
        trusted_principal_arns=config.trusted_principal_arns,
        admin_principal_arns=config.admin_principal_arns,
        on_decision=lambda d: metrics.count_decision(d.decision.value),
        on_reload=on_reload,
        trusted_proxies=config.trusted_proxies,
        limits=config.limits,
        max_message_bytes=config.max_message_bytes,
        repeat_memo_bytes=config.repeat_memo_bytes,
    )
    health_pb2_grpc.add_HealthServicer_to_server(monitor.servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    port = _bind(server, config)
    return AuthzServer(server, port, monitor, metrics, audit, config)


def _status_for_metrics(backend: Backend) -> tuple[str | None, Mapping[str, int]]:
    status = backend.status(None)
    return status.revision, status.cache_stats


# Collector thresholds while serving: a young collection every 100,000 allocations (CPython's
# default is 700). A batch RPC keeps thousands of objects alive for a few milliseconds; with
# the default, they outlive two young collections, reach the old generation and trigger full
# collections over every cached decision: 27 % of an AuthorizeBatch server's CPU in a `perf`
# sample, 0 % with these thresholds (benchmarks/README.md, "Collector").
GC_THRESHOLDS = (100_000, 50, 100)


def tune_collector() -> None:
    """Before serving: move every object alive now (modules, generated protobuf classes, the
    first snapshot, the server) into the collector's permanent generation (``gc.freeze``), so
    no collection walks them again, and raise the thresholds (``GC_THRESHOLDS``). Frozen
    objects are still freed by reference counting when dropped (a replaced snapshot is: it
    holds no reference cycles); only cyclic garbage among them would never be collected."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def serve(
    backend: Backend,
    config: ServerConfig | None = None,
    *,
    stop_event: threading.Event | None = None,
) -> None:
    """Run until SIGTERM/SIGINT (or ``stop_event``), then shut down gracefully."""
    server = create_server(backend, config)
    tune_collector()
    stop = stop_event or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, _frame: stop.set())
    server.start()
    # A timed wait: the kernel may deliver SIGTERM to one of gRPC's threads, and a main thread
    # blocked in an untimed wait would then never run the Python handler (a `--workers 2` test
    # hung on a worker that had been sent SIGTERM).
    while not stop.wait(0.25):
        pass
    _log.info("shutting down", extra={"grace_seconds": server.config.shutdown_grace_seconds})
    server.shutdown()
