"""A server for the fault tests, run as its own process (real signals, real process exits):
the gRPC edge over the fake backend, whose ``test:Sleep`` Authorize takes ``--sleep-ms``.

    python -m tests.integration.fault_server --listen 127.0.0.1:PORT [--workers 2] ...

Prints nothing; readiness is the health check. Loopback only.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
from typing import Any

from authz.server import ServerConfig, run_workers
from authz.server.logs import configure_logging
from tests.integration.fakes import ENFORCER_ARN, FakeBackend


def build(options: dict[str, Any]) -> tuple[FakeBackend, ServerConfig]:
    """The worker factory (picklable through ``functools.partial``)."""
    backend = FakeBackend(sleep_seconds=options["sleep_ms"] / 1000, record_calls=False)
    config = ServerConfig(
        listen=options["listen"],
        metrics_listen=options["metrics_listen"],
        audit_path=options["audit"],
        max_workers=options["max_workers"],
        max_concurrent_rpcs=options["max_concurrent"],
        max_concurrent_per_caller=options["per_caller"],
        admission_wait_seconds=options["wait_ms"] / 1000,
        drain_seconds=options["drain"],
        shutdown_grace_seconds=options["grace"],
        request_read_timeout_seconds=options["read_timeout_ms"] / 1000,
        health_interval_seconds=0.1,
        trusted_principal_arns=frozenset({ENFORCER_ARN}),
        allow_plaintext_secret=True,  # the load generators send fixed metadata (loopback)
    )
    return backend, config


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="fault_server")
    p.add_argument("--listen", required=True)
    p.add_argument("--metrics-listen", default=None)
    p.add_argument("--audit", default=None)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--sleep-ms", type=float, default=20)
    p.add_argument("--max-workers", type=int, default=16)
    p.add_argument("--max-concurrent", type=int, default=8)
    p.add_argument("--per-caller", type=int, default=None)
    p.add_argument("--wait-ms", type=float, default=100)
    p.add_argument("--drain", type=float, default=0.0)
    p.add_argument("--grace", type=float, default=5.0)
    p.add_argument("--read-timeout-ms", type=float, default=5000)
    args = p.parse_args(argv)
    configure_logging(logging.INFO)
    options = {k: v for k, v in vars(args).items() if k != "workers"}
    return run_workers(functools.partial(build, options), args.workers, min_backoff=0.2)


if __name__ == "__main__":
    sys.exit(main())
