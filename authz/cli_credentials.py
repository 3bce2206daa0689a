"""``authz credential-process``: role credentials for unmodified AWS programs.

Owns one command, the ``credential_process`` of ``~/.aws/config`` (AWS "Sourcing credentials
with an external process"): it assumes ``--role-arn`` on the server with the caller's own
credentials and prints ``{"Version": 1, "AccessKeyId", "SecretAccessKey", "SessionToken",
"Expiration"}``. Every AWS SDK re-runs it shortly before ``Expiration``, so a profile

    [profile app]
    credential_process = authz credential-process --role-arn arn:aws:iam::…:role/app \\
        --profile app-source --target 127.0.0.1:50051
    endpoint_url = https://127.0.0.1:4566

gives auto-refreshing authz sessions with no code. The source credentials: with ``--profile``
only that profile of the shared credentials file (``AWS_SHARED_CREDENTIALS_FILE``, else
``~/.aws/credentials``); without it the client chain (``authz.client.chain``). Errors go to
stderr as AWS error JSON with a non-zero exit (``authz.cli``), which the SDKs report.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
from datetime import UTC
from pathlib import Path
from typing import Any

from authz.client import AuthzClient
from authz.client.chain import resolve_credentials
from authz.errors import ValidationError

DEFAULT_TARGET = "127.0.0.1:50051"


def _source_credentials(profile: str | None) -> Any:
    if profile is None:
        return resolve_credentials()
    env = {"AWS_PROFILE": profile}
    if os.environ.get("AWS_SHARED_CREDENTIALS_FILE"):
        env["AWS_SHARED_CREDENTIALS_FILE"] = os.environ["AWS_SHARED_CREDENTIALS_FILE"]
    return resolve_credentials(env)


def credential_process_document(response: Any) -> dict[str, Any]:
    """An AssumeRoleResponse as the credential_process JSON (Version 1)."""
    creds = response.credentials
    expiration = creds.expiration.ToDatetime(tzinfo=UTC)
    return {
        "Version": 1,
        "AccessKeyId": creds.access_key_id,
        "SecretAccessKey": creds.secret_access_key,
        "SessionToken": creds.session_token,
        "Expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _client_for(args: argparse.Namespace) -> AuthzClient:
    """A client of ``--target`` (TLS with ``--ca-file`` / ``AUTHZ_CA_FILE``) with the source
    credentials of ``--profile`` (else the client chain)."""
    ca_file = args.ca_file or os.environ.get("AUTHZ_CA_FILE")
    ca = None
    if ca_file:
        try:
            ca = Path(ca_file).read_bytes()
        except OSError as err:
            raise ValidationError(f"cannot read CA file `{ca_file}`: {err}") from err
    return AuthzClient(
        args.target,
        _source_credentials(args.profile),
        root_certificates=ca,
        timeout=args.timeout,
    )


def _credential_process(args: argparse.Namespace) -> int:
    session_name = args.role_session_name or f"credential-process-{socket.gethostname()}"[:64]
    with _client_for(args) as client:
        response = client.assume_role(
            args.role_arn, session_name, duration_seconds=args.duration_seconds
        )
    print(json.dumps(credential_process_document(response)))
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "credential-process",
        help="assume a role and print AWS credential_process JSON (for ~/.aws/config)",
    )
    p.add_argument("--role-arn", required=True, help="ARN of the role to assume")
    p.add_argument("--profile", help="source credentials: this shared-credentials profile only")
    p.add_argument("--role-session-name", help="default credential-process-<hostname>")
    p.add_argument("--duration-seconds", type=int, default=None, help="session length")
    p.add_argument("--target", default=DEFAULT_TARGET, help="host:port of the gRPC server")
    p.add_argument("--ca-file", help="CA certificate of a TLS server (AUTHZ_CA_FILE)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for an answer")
    p.set_defaults(handler=_credential_process)
