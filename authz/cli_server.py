"""``authz serve``: run the gRPC server on a policy repository (one process, or ``--workers N``
processes sharing the port with SO_REUSEPORT)."""

from __future__ import annotations

import argparse
import functools
import logging
from pathlib import Path
from typing import Any

from authz.config import load_settings
from authz.server.logs import configure_logging
from authz.server.workers import run_workers
from authz.wiring import worker


def _serve(args: argparse.Namespace) -> int:
    settings = load_settings(
        args.config,
        repo=args.repo,
        listen=args.listen,
        workers=args.workers,
        pin_workers=True if args.pin_workers else None,
        keys_dir=args.keys_dir,
        credentials_file=args.credentials_file,
        metrics_listen=args.metrics_listen,
        audit_log=args.audit_log,
        wait_for_valid_repo=True if args.wait_for_valid_repo else None,
        watch=False if args.no_watch else None,
    )
    configure_logging(logging.INFO)
    logging.getLogger("authz").info(
        "serving %s on %s with %d worker(s)", settings.repo, settings.listen, settings.workers
    )
    return run_workers(
        functools.partial(worker, settings), settings.workers, pin=settings.pin_workers
    )


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("serve", help="serve a policy repository over gRPC")
    p.add_argument("--repo", type=Path, help="policy repository (default: policies)")
    p.add_argument("--listen", help="host:port (default 127.0.0.1:50051)")
    p.add_argument("--workers", type=int, help="processes sharing the port (default 1)")
    p.add_argument("--pin-workers", action="store_true",
                   help="run worker i on CPU i (modulo the CPUs available)")  # fmt: skip
    p.add_argument("--config", type=Path, help="TOML settings file (flags override it)")
    p.add_argument("--keys-dir", type=Path, help="signing keys (default .authz-local/keys)")
    p.add_argument("--credentials-file", type=Path, help="access-key store (hashed secrets)")
    p.add_argument("--metrics-listen", help="Prometheus endpoint host:port (default: off)")
    p.add_argument("--audit-log", type=Path, help="audit log file (JSON lines)")
    p.add_argument("--wait-for-valid-repo", action="store_true",
                   help="on a broken repository keep waiting instead of exiting")  # fmt: skip
    p.add_argument("--no-watch", action="store_true", help="do not watch the repository")
    p.set_defaults(handler=_serve)
