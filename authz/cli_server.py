"""``authz serve``: run the gRPC server on a policy repository (one process, or ``--workers N``
processes sharing the port with SO_REUSEPORT).

Start-up problems (an unusable path, no signing keys) are one line on stderr and exit 255, found
before any worker starts. A missing key ring is generated only with ``--dev-generate-keys`` /
``generate_keys = true``."""

from __future__ import annotations

import argparse
import errno
import functools
import logging
import socket
import sys
from pathlib import Path
from typing import Any

from authz.cli_output import EXIT_OTHER
from authz.cli_state import add_state_arguments
from authz.config import StartupError, check_paths, load_settings
from authz.server.logs import configure_logging
from authz.server.workers import run_workers
from authz.wiring import open_keyring, open_runtime_state, worker


def _serve(args: argparse.Namespace) -> int:
    try:
        return _serve_checked(args)
    except StartupError as err:
        print(f"authz serve: {err}", file=sys.stderr)
        return EXIT_OTHER


def _serve_checked(args: argparse.Namespace) -> int:
    settings = load_settings(
        args.config,
        repo=args.repo,
        listen=args.listen,
        workers=args.workers,
        pin_workers=True if args.pin_workers else None,
        keys_dir=args.keys_dir,
        credentials_file=args.credentials_file,
        state_url=args.state_url,
        state_key_file=args.state_key_file,
        metrics_listen=args.metrics_listen,
        aws_listen=args.aws_listen,
        allow_plaintext_secret=True if args.allow_plaintext_secret else None,
        allow_bearer_sessions=True if args.allow_bearer_sessions else None,
        audit_log=args.audit_log,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        wait_for_valid_repo=True if args.wait_for_valid_repo else None,
        watch=False if args.no_watch else None,
        drain_seconds=args.drain_seconds,
        shutdown_grace_seconds=args.shutdown_grace_seconds,
        generate_keys=True if args.dev_generate_keys else None,
        oidc_ca_file=args.oidc_ca_file,
    )
    problem = port_taken(settings.listen)
    if problem is not None:
        print(f"authz serve: {problem}", file=sys.stderr)
        return EXIT_OTHER
    check_paths(settings)
    configure_logging(logging.INFO)
    open_keyring(settings)  # once, before any worker: every worker then loads the same ring
    open_runtime_state(settings).close()  # reachable, key usable, migrated once, before workers
    logging.getLogger("authz").info(
        "serving %s on %s with %d worker(s)", settings.repo, settings.listen, settings.workers
    )
    return run_workers(
        functools.partial(worker, settings), settings.workers, pin=settings.pin_workers
    )


def port_taken(listen: str) -> str | None:
    """One line saying why ``listen`` cannot be served, checked before anything starts (gRPC
    would otherwise report it as a traceback after the "serving" line)."""
    host, _, port_text = listen.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"
    try:
        port = int(port_text)
    except ValueError:
        return f"--listen `{listen}` must be host:port"
    if port == 0:
        return None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            why = "address already in use" if err.errno == errno.EADDRINUSE else err.strerror
            return f"cannot listen on {listen}: {why}"
    return None


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("serve", help="serve a policy repository over gRPC")
    p.add_argument("--repo", type=Path, help="policy repository (default: policies)")
    p.add_argument("--listen", help="host:port (default 127.0.0.1:50051)")
    p.add_argument("--workers", type=int, help="processes sharing the port (default 1)")
    p.add_argument("--pin-workers", action="store_true",
                   help="run worker i on CPU i (modulo the CPUs available)")  # fmt: skip
    p.add_argument("--config", type=Path, help="TOML settings file (flags override it)")
    p.add_argument("--keys-dir", type=Path, help="signing keys (default .authz-local/keys)")
    add_state_arguments(p)
    p.add_argument(
        "--credentials-file",
        type=Path,
        help="access-key JSON file of an earlier release: only warned about until imported "
        "(`authz state migrate`)",
    )
    p.add_argument("--metrics-listen", help="Prometheus endpoint host:port (default: off)")
    p.add_argument("--aws-listen", help="AWS-compatible STS/IAM HTTP host:port (default: off)")
    p.add_argument(
        "--allow-plaintext-secret",
        action="store_true",
        help="loopback experiments: accept x-authz-secret-access-key metadata",
    )
    p.add_argument(
        "--allow-bearer-sessions",
        action="store_true",
        help="loopback experiments: accept a session token without its secret",
    )
    p.add_argument("--audit-log", type=Path, help="audit log file (JSON lines)")
    p.add_argument("--tls-cert", type=Path, help="server certificate (PEM; with --tls-key)")
    p.add_argument("--tls-key", type=Path, help="server private key (PEM; with --tls-cert)")
    p.add_argument(
        "--oidc-ca-file",
        type=Path,
        help="CA bundle (PEM) trusted for OIDC providers' JWKS URLs, besides the system's",
    )
    p.add_argument("--wait-for-valid-repo", action="store_true",
                   help="on a broken repository keep waiting instead of exiting")  # fmt: skip
    p.add_argument("--no-watch", action="store_true", help="do not watch the repository")
    p.add_argument(
        "--drain-seconds",
        type=float,
        help="on SIGTERM, seconds of serving on with health NOT_SERVING (default 5)",
    )
    p.add_argument(
        "--shutdown-grace-seconds",
        type=float,
        help="then, seconds accepted calls get to finish (default 10)",
    )
    p.add_argument(
        "--dev-generate-keys",
        action="store_true",
        help="development only: create signing keys when --keys-dir has none",
    )
    p.set_defaults(handler=_serve)
