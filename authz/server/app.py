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

import ctypes
import errno
import gc
import logging
import resource
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from authz.limits import RequestLimits
from authz.server.admission import AdmissionGate, CountingPool
from authz.server.audit import AuditLog
from authz.server.aws import AwsEndpoint, AwsEndpointConfig
from authz.server.health import HealthMonitor
from authz.server.interceptors import Authenticator, EdgeInterceptor
from authz.server.metrics import ServerMetrics
from authz.server.ports import Backend, ReloadResult
from authz.server.readtimeout import ReadWatchdog
from authz.server.servicers import SERVICE_NAMES, add_servicers
from authz.server.signed import SignedCallVerifier
from authz.sigv4 import ReplayGuard, SigV4Verifier

_log = logging.getLogger("authz.server")

# Threads answering refusals (they never read the request nor touch the backend: microseconds).
_REFUSAL_THREADS = 2
# Stopping: wait until no call arrived for this long (at most the max) before gRPC stops.
_QUIESCE_SECONDS = 0.1
_QUIESCE_MAX_SECONDS = 1.0


@dataclass(frozen=True)
class ServerConfig:
    """Everything the edge needs to know; the backend has its own configuration.

    Admission (``authz.server.admission``): ``max_workers`` threads serve ``authz.v1`` calls
    from the moment they arrive (reading the request, waiting, running): a call arriving when
    all are taken is refused at once with RESOURCE_EXHAUSTED / ``Throttling``.
    ``max_concurrent_rpcs`` of them run at once; the others wait at most
    ``admission_wait_seconds`` for a slot, then are refused the same way. One caller holds at
    most ``max_concurrent_per_caller`` running slots (None: no per-caller share). gRPC's own
    concurrency limit is off, so gRPC core never refuses or cancels a call first. Health and
    reflection run on ``control_threads`` threads of their own.

    Connection hygiene: a request message must arrive within ``request_read_timeout_seconds``
    of its call (else the call is cancelled), and one peer address keeps at most
    ``max_stalled_reads_per_peer`` calls whose request is late (``authz.server.readtimeout``);
    at most ``max_concurrent_streams`` calls per
    connection and ``max_connections`` connections; idle connections are closed after
    ``max_connection_idle_seconds``, every connection after ``max_connection_age_seconds``
    (calls in progress get ``max_connection_age_grace_seconds``); clients may ping at most
    every ``min_client_ping_interval_seconds``.

    Stopping (``AuthzServer.shutdown``): health NOT_SERVING, serve on for ``drain_seconds``
    (load balancers notice), then refuse new calls with UNAVAILABLE and let accepted ones
    finish within ``shutdown_grace_seconds``.

    ``san_principals`` maps an mTLS client certificate SAN (e.g. ``spiffe://prod/enforcer``)
    to a service principal name. Service principals and ``trusted_principal_arns`` may ask
    Authorize about another principal. PolicyAdmin and PolicySimulator calls are authorized
    by IAM (``authz.permissions``).
    """

    listen: str = "127.0.0.1:50051"
    max_workers: int = 16
    max_concurrent_rpcs: int = 12
    max_concurrent_per_caller: int | None = None
    admission_wait_seconds: float = 0.1
    control_threads: int = 8
    max_message_bytes: int = 4 * 1024 * 1024
    max_batch_size: int = 100
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    client_ca_file: str | None = None
    san_principals: Mapping[str, str] = field(default_factory=dict)
    trusted_principal_arns: frozenset[str] = frozenset()
    metrics_listen: str | None = "127.0.0.1:9464"
    # the AWS-compatible HTTP endpoint (authz.server.aws), same TLS files; None: off
    aws_listen: str | None = None
    aws_regions: frozenset[str] = frozenset({"us-east-1"})
    aws_signature_window_seconds: int = 300
    aws_replay_max_entries: int = 200_000
    aws_max_body_bytes: int = 1024 * 1024
    aws_max_connections: int = 64
    # gRPC calls are SigV4-signed by the client SDK; these accept the secret itself in
    # metadata / a session token without its secret (loopback experiments only)
    allow_plaintext_secret: bool = False
    allow_bearer_sessions: bool = False
    audit_path: str | None = None
    audit_queue_size: int = 10_000
    health_interval_seconds: float = 1.0
    drain_seconds: float = 0.0
    shutdown_grace_seconds: float = 10.0
    request_read_timeout_seconds: float = 5.0
    max_stalled_reads_per_peer: int = 8
    max_concurrent_streams: int = 100
    max_connections: int = 1000
    max_connection_idle_seconds: float = 300.0
    max_connection_age_seconds: float = 1800.0
    max_connection_age_grace_seconds: float = 30.0
    min_client_ping_interval_seconds: float = 10.0
    reuse_port: bool = False
    trusted_proxies: frozenset[str] = frozenset()  # peers whose x-forwarded-for is believed
    limits: RequestLimits = field(default_factory=RequestLimits)  # checked at the door
    repeat_memo_bytes: int = 8 * 1024 * 1024  # the Authorize repeat memo

    def validate(self) -> None:
        if not 0 < self.max_concurrent_rpcs <= self.max_workers:
            raise ValueError("max_concurrent_rpcs must be positive and at most max_workers")
        if self.max_concurrent_per_caller is not None and self.max_concurrent_per_caller < 1:
            raise ValueError("max_concurrent_per_caller must be positive")
        if self.control_threads < 1 or self.admission_wait_seconds < 0:
            raise ValueError("control_threads and admission_wait_seconds must be positive")
        if self.drain_seconds < 0 or self.shutdown_grace_seconds < 0:
            raise ValueError("drain_seconds and shutdown_grace_seconds must not be negative")
        if self.request_read_timeout_seconds <= 0 or self.max_stalled_reads_per_peer < 1:
            raise ValueError(
                "request_read_timeout_seconds and max_stalled_reads_per_peer must be positive"
            )
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together")
        if self.client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError("mTLS (client_ca_file) needs tls_cert_file and tls_key_file")
        if self.max_batch_size < 1 or self.max_message_bytes < 1024:
            raise ValueError("max_batch_size and max_message_bytes must be positive")


class AuthzServer(grpc.Server):
    """A ``grpc.Server`` that also owns its health monitor, metrics exporter, audit log and
    the edge's admission machinery (thread pools, read watchdog)."""

    def __init__(
        self,
        server: grpc.Server,
        port: int,
        health_monitor: HealthMonitor,
        metrics: ServerMetrics,
        audit: AuditLog | None,
        config: ServerConfig,
        edge: EdgeInterceptor,
        pools: tuple[futures.ThreadPoolExecutor, ...],
        watchdog: ReadWatchdog,
    ) -> None:
        self._server = server
        self.port = port
        self.health = health_monitor
        self.metrics = metrics
        self.audit = audit
        self.config = config
        self.edge = edge
        self._pools = pools
        self._watchdog = watchdog
        self.metrics_port: int | None = None
        self.aws: AwsEndpoint | None = None  # the AWS-compatible HTTP endpoint, when configured
        self._closed = threading.Lock()
        self._hurry = threading.Event()

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
        if self.aws is not None:
            self.aws.start()
        self.health.start()
        _log.info("serving", extra={"port": self.port, "metrics_port": self.metrics_port})

    def stop(self, grace: float | None = None) -> threading.Event:
        """Stop as ``grpc.Server.stop``, with the edge told first: calls still waiting for a
        running slot, and calls arriving from now on, get UNAVAILABLE (retryable) instead of
        being cancelled. The event is set once the audit log is closed too."""
        done = threading.Event()
        self.health.shutdown()
        self.edge.begin_drain()
        self._quiesce(min(_QUIESCE_MAX_SECONDS, grace or 0.0))
        stopped = self._server.stop(grace)

        def finish() -> None:
            stopped.wait()
            self._close_resources()
            done.set()

        threading.Thread(target=finish, name="authz-stop", daemon=True).start()
        return done

    def _quiesce(self, limit: float) -> None:
        """Before gRPC stops accepting: wait (at most ``limit`` s) until no call is in flight
        and none has arrived or ended for ``_QUIESCE_SECONDS``. Calls that reach gRPC core
        while it shuts down, before the server has taken them, are cancelled by core
        (CANCELLED, which clients do not retry); until then the edge answers them UNAVAILABLE,
        and clients that got it stop sending. A closed-loop client sends its next call as one
        ends, so a call still running is a call about to arrive: the quiet period starts
        after the last call ended, not after the last one arrived."""
        pools = [pool for pool in self._pools if isinstance(pool, CountingPool)]
        end = time.monotonic() + limit
        while time.monotonic() < end:
            busy = any(pool.active for pool in pools)
            last = max(max(pool.last_arrival, pool.last_done) for pool in pools)
            if not busy and time.monotonic() - last >= _QUIESCE_SECONDS:
                return
            time.sleep(_QUIESCE_SECONDS / 5)

    def drain(self, seconds: float) -> None:
        """Health NOT_SERVING while still serving everything, for ``seconds`` (or until
        ``hurry()``): the window in which load balancers stop sending."""
        self.health.shutdown()
        if seconds > 0:
            _log.info("draining", extra={"drain_seconds": seconds})
            end = time.monotonic() + seconds
            # Short timed waits, so that a second signal's handler runs in the main thread.
            while not self._hurry.wait(min(0.25, max(end - time.monotonic(), 0))):
                if time.monotonic() >= end:
                    break

    def hurry(self) -> None:
        """End a drain window early (a second SIGTERM/SIGINT)."""
        self._hurry.set()

    def shutdown(self, grace: float | None = None, *, drain: float | None = None) -> None:
        """Graceful, blocking stop: NOT_SERVING, serve on for ``drain`` seconds (default:
        ``config.drain_seconds``), refuse new calls (UNAVAILABLE), let accepted ones finish
        within ``grace`` seconds (default: ``config.shutdown_grace_seconds``), close."""
        grace = self.config.shutdown_grace_seconds if grace is None else grace
        self.drain(self.config.drain_seconds if drain is None else drain)
        started = time.monotonic()
        self.stop(grace).wait(grace + 10)
        _log.info("stopped", extra={"stop_seconds": round(time.monotonic() - started, 3)})

    def wait_for_termination(self, timeout: float | None = None) -> bool:
        return self._server.wait_for_termination(timeout)

    def _close_resources(self) -> None:
        if not self._closed.acquire(blocking=False):
            return
        self._watchdog.close()
        if self.aws is not None:
            self.aws.stop()
        for pool in self._pools:
            pool.shutdown(wait=False)
        if self.audit is not None:
            self.audit.close()
        self.metrics.close()


def _options(config: ServerConfig) -> list[tuple[str, Any]]:
    def ms(seconds: float) -> int:
        return int(seconds * 1000)

    return [
        ("grpc.max_receive_message_length", config.max_message_bytes),
        ("grpc.max_send_message_length", config.max_message_bytes),
        ("grpc.so_reuseport", 1 if config.reuse_port else 0),
        ("grpc.max_concurrent_streams", config.max_concurrent_streams),
        ("grpc.max_allowed_incoming_connections", config.max_connections),
        ("grpc.max_connection_idle_ms", ms(config.max_connection_idle_seconds)),
        ("grpc.max_connection_age_ms", ms(config.max_connection_age_seconds)),
        ("grpc.max_connection_age_grace_ms", ms(config.max_connection_age_grace_seconds)),
        # Keepalive: the server pings an idle peer every minute and drops it when no answer
        # comes within 20 s; a client pinging more often than the minimum interval twice
        # gets GOAWAY (keepalive enforcement).
        ("grpc.keepalive_time_ms", 60_000),
        ("grpc.keepalive_timeout_ms", 20_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms",
         ms(config.min_client_ping_interval_seconds)),
        ("grpc.http2.max_ping_strikes", 2),
    ]  # fmt: skip


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
            on_drop=lambda reason, count: metrics.audit_dropped.labels(reason).inc(count),
        )
        if config.audit_path
        else None
    )
    admitted = CountingPool(config.max_workers, "authz-rpc")
    admitted.prestart()  # a fixed thread count from the start (soak: 24 -> 35 threads over time)
    refusals = CountingPool(_REFUSAL_THREADS, "authz-refuse")
    control = futures.ThreadPoolExecutor(config.control_threads, thread_name_prefix="authz-ctl")
    watchdog = ReadWatchdog(
        config.request_read_timeout_seconds,
        max_stalled_per_peer=config.max_stalled_reads_per_peer,
        on_expire=lambda reason: metrics.rejected.labels(reason).inc(),
    )
    gate = AdmissionGate(
        config.max_concurrent_rpcs,
        config.admission_wait_seconds,
        config.max_concurrent_per_caller or config.max_concurrent_rpcs,
    )
    interceptor = EdgeInterceptor(
        Authenticator(
            backend,
            config.san_principals,
            signed=SignedCallVerifier(
                backend,
                SigV4Verifier(
                    config.aws_regions,
                    window_seconds=config.aws_signature_window_seconds,
                    replay=ReplayGuard(config.aws_replay_max_entries),
                ),
            ),
            allow_plaintext_secret=config.allow_plaintext_secret,
            allow_bearer_sessions=config.allow_bearer_sessions,
        ),
        metrics,
        audit,
        gate,
        admitted,
        refusals,
        watchdog,
        max_request_seconds=config.limits.max_request_seconds,
        trusted_proxies=config.trusted_proxies,
        tls=config.tls_cert_file is not None,
    )
    # No gRPC-level concurrency limit (maximum_concurrent_rpcs=None): gRPC core hands every
    # call over as it arrives and the edge decides (an admitted thread, or a fast refusal).
    server = grpc.server(
        control,
        interceptors=[interceptor],
        options=_options(config),
        maximum_concurrent_rpcs=None,
    )
    monitor = HealthMonitor(backend.ready, SERVICE_NAMES, config.health_interval_seconds)
    # Reload builds pause while authz.v1 calls are in flight (counted from their arrival).
    backend.give_way_to(lambda: admitted.active, admitted.wait_at_most)

    def on_reload(result: ReloadResult) -> None:
        outcome = "failed" if result.error else ("changed" if result.changed else "unchanged")
        metrics.reloads.labels(outcome).inc()
        monitor.refresh()

    add_servicers(
        server,
        backend,
        max_batch_size=config.max_batch_size,
        trusted_principal_arns=config.trusted_principal_arns,
        on_decision=lambda d: metrics.count_decision(str(d.decision)),
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
    pools = (admitted, refusals, control)
    authz_server = AuthzServer(
        server, port, monitor, metrics, audit, config, interceptor, pools, watchdog
    )
    if config.aws_listen is not None:
        authz_server.aws = AwsEndpoint(backend, _aws_config(config), metrics, audit)
    return authz_server


def _aws_config(config: ServerConfig) -> AwsEndpointConfig:
    assert config.aws_listen is not None
    return AwsEndpointConfig(
        listen=config.aws_listen,
        regions=config.aws_regions,
        max_body_bytes=config.aws_max_body_bytes,
        read_timeout_seconds=config.request_read_timeout_seconds,
        max_connections=config.aws_max_connections,
        signature_window_seconds=config.aws_signature_window_seconds,
        replay_max_entries=config.aws_replay_max_entries,
        tls_cert_file=config.tls_cert_file,
        tls_key_file=config.tls_key_file,
        client_ca_file=config.client_ca_file,
        trusted_proxies=config.trusted_proxies,
        limits=config.limits,
        max_message_bytes=config.max_message_bytes,
        reuse_port=config.reuse_port,
    )


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


_M_ARENA_MAX = -8  # glibc's mallopt parameter


def limit_malloc_arenas(arenas: int) -> bool:
    """Cap glibc's malloc arenas at ``arenas`` (0: leave the default, 8 per core). Native
    allocations (gRPC, Cedar) from many threads otherwise spread over up to 16 arenas on two
    cores, each keeping freed pages. In 5-minute soaks with a reload every 30 s RSS climbed
    ~1.25 MB a minute with the default and 0.5-0.8 MB a minute with two arenas (not flat:
    docs/operations.md, "Reloads under load"). True when applied; False off glibc or when not
    asked."""
    if arenas <= 0:
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    if not hasattr(libc, "gnu_get_libc_version"):  # musl and others: no such parameter
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, arenas))


def raise_open_files_limit() -> int:
    """Raise the soft limit on open descriptors to the hard limit (connections are
    descriptors: 1,024 idle connections locked new clients out); returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            _log.warning("could not raise the open files limit", extra={"soft": soft})
    return soft


def serve(
    backend: Backend,
    config: ServerConfig | None = None,
    *,
    stop_event: threading.Event | None = None,
    on_start: Callable[[AuthzServer], None] | None = None,
    on_created: Callable[[AuthzServer], None] | None = None,
) -> None:
    """Run until SIGTERM/SIGINT (or ``stop_event``), then shut down gracefully: health
    NOT_SERVING, ``drain_seconds`` of serving on (a second signal cuts it short), refuse new
    calls, finish accepted ones within ``shutdown_grace_seconds``. SIGUSR1 reopens the audit
    log (after an external rotation)."""
    raise_open_files_limit()
    server = create_server(backend, config)
    if on_created is not None:  # before anything is served: metrics a scrape must see at once
        on_created(server)
    tune_collector()
    stop = stop_event or threading.Event()
    if threading.current_thread() is threading.main_thread():

        def on_stop(signum: int, _frame: object) -> None:
            if stop.is_set():
                server.hurry()
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, on_stop)
        if server.audit is not None:
            audit = server.audit
            signal.signal(signal.SIGUSR1, lambda signum, _frame: audit.request_reopen())
    server.start()
    if on_start is not None:
        on_start(server)
    # A timed wait: the kernel may deliver SIGTERM to one of gRPC's threads, and a main thread
    # blocked in an untimed wait would then never run the Python handler (a `--workers 2` test
    # hung on a worker that had been sent SIGTERM).
    while not stop.wait(0.25):
        pass
    _log.info(
        "shutting down",
        extra={
            "drain_seconds": server.config.drain_seconds,
            "grace_seconds": server.config.shutdown_grace_seconds,
        },
    )
    server.shutdown()
