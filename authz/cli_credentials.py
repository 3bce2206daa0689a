"""``authz credential-process``: role credentials for unmodified AWS programs.

Owns one command, the ``credential_process`` of ``~/.aws/config`` (AWS "Sourcing credentials
with an external process"): it assumes ``--role-arn`` on the server with the caller's own
credentials and prints ``{"Version": 1, "AccessKeyId", "SecretAccessKey", "SessionToken",
"Expiration"}``. Every AWS SDK re-runs it shortly before ``Expiration``, so a profile

    [profile app]
    credential_process = authz credential-process --role-arn arn:aws:iam::…:role/app \\
        --profile app-source --target 127.0.0.1:50051
    endpoint_url = https://127.0.0.1:4566

gives auto-refreshing authz sessions with no code. The source identity, shared with ``authz
agent`` (``add_source_arguments``), one of:

* ``--profile``: only that profile of the shared credentials file
  (``AWS_SHARED_CREDENTIALS_FILE``, else ``~/.aws/credentials``);
* ``--cert-file`` + ``--key-file`` (``AUTHZ_CLIENT_CERT_FILE`` / ``AUTHZ_CLIENT_KEY_FILE``):
  an mTLS service identity — the server maps the certificate's SAN to a service principal
  (``service_principals``), which must be trusted by the role; needs ``--ca-file``;
* ``--web-identity-token-file``: the role is assumed with ``AssumeRoleWithWebIdentity``, the
  token file re-read at every refresh (as EKS/IRSA pods do);
* none of these: the client chain (``authz.client.chain``).

Errors go to stderr as AWS error JSON with a non-zero exit (``authz.cli``), which the SDKs
report.
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
from authz.client.credentials import RefreshingCredentialsProvider, SessionCredentials
from authz.client.web_identity import WebIdentityCredentials
from authz.errors import ValidationError

DEFAULT_TARGET = "127.0.0.1:50051"


def _source_credentials(profile: str | None) -> Any:
    if profile is None:
        return resolve_credentials()
    env = {"AWS_PROFILE": profile}
    if os.environ.get("AWS_SHARED_CREDENTIALS_FILE"):
        env["AWS_SHARED_CREDENTIALS_FILE"] = os.environ["AWS_SHARED_CREDENTIALS_FILE"]
    return resolve_credentials(env)


def credential_process_document(session: SessionCredentials) -> dict[str, Any]:
    """A session as the credential_process JSON (Version 1)."""
    return {
        "Version": 1,
        "AccessKeyId": session.access_key_id,
        "SecretAccessKey": session.secret,
        "SessionToken": session.token,
        "Expiration": session.expiration.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise ValidationError(f"cannot read {what} `{path}`: {err.strerror or err}") from err


def _client_certificate(args: argparse.Namespace) -> tuple[bytes, bytes] | None:
    cert = getattr(args, "cert_file", None) or os.environ.get("AUTHZ_CLIENT_CERT_FILE")
    key = getattr(args, "key_file", None) or os.environ.get("AUTHZ_CLIENT_KEY_FILE")
    if not cert and not key:
        return None
    if not cert or not key:
        raise ValidationError("--cert-file and --key-file go together (mTLS client identity)")
    return _read(cert, "client certificate"), _read(key, "client key")


def _client_for(args: argparse.Namespace) -> AuthzClient:
    """A client of ``--target`` (TLS with ``--ca-file`` / ``AUTHZ_CA_FILE``, mTLS with
    ``--cert-file``/``--key-file``) with the source credentials ``add_source_arguments``
    describes: ``--profile``; none besides the certificate or the web identity token; else
    the client chain."""
    ca_file = args.ca_file or os.environ.get("AUTHZ_CA_FILE")
    ca = _read(ca_file, "CA file") if ca_file else None
    mtls = _client_certificate(args)
    if mtls is not None and ca is None:
        raise ValidationError("an mTLS client identity (--cert-file) needs the server's --ca-file")
    web_identity = getattr(args, "web_identity_token_file", None)
    if web_identity and (mtls is not None or args.profile):
        raise ValidationError(
            "--web-identity-token-file is a source identity of its own: not with --profile "
            "or --cert-file"
        )
    if args.profile is not None:
        credentials = _source_credentials(args.profile)
    elif mtls is not None or web_identity:
        credentials = None  # the certificate (or the token, per call) is the identity
    else:
        credentials = _source_credentials(None)
    return AuthzClient(
        args.target,
        credentials,
        root_certificates=ca,
        client_certificate=mtls,
        timeout=args.timeout,
    )


def role_provider(
    args: argparse.Namespace, client: AuthzClient, session_name: str, **kwargs: Any
) -> RefreshingCredentialsProvider:
    """Sessions of ``--role-arn``: AssumeRole with the client's source identity, or
    AssumeRoleWithWebIdentity with ``--web-identity-token-file`` (re-read at every refresh).
    ``kwargs``: ``duration_seconds`` and the provider's margins."""
    token_file = getattr(args, "web_identity_token_file", None)
    if token_file:
        return WebIdentityCredentials(
            client, args.role_arn, token_file, role_session_name=session_name, **kwargs
        )
    return client.assume_role_provider(args.role_arn, session_name, **kwargs)


def add_source_arguments(p: argparse.ArgumentParser) -> None:
    """The options naming the server and the source identity (credential-process, agent)."""
    p.add_argument("--profile", help="source credentials: this shared-credentials profile only")
    p.add_argument(
        "--cert-file",
        help="source identity: mTLS client certificate (PEM; AUTHZ_CLIENT_CERT_FILE); its SAN "
        "must map to a service principal the role trusts",
    )
    p.add_argument("--key-file", help="the client certificate's key (AUTHZ_CLIENT_KEY_FILE)")
    p.add_argument(
        "--web-identity-token-file",
        help="source identity: an OIDC token file; the role is assumed with "
        "AssumeRoleWithWebIdentity, the file re-read at every refresh",
    )
    p.add_argument("--target", default=DEFAULT_TARGET, help="host:port of the gRPC server")
    p.add_argument("--ca-file", help="CA certificate of a TLS server (AUTHZ_CA_FILE)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for an answer")


def _credential_process(args: argparse.Namespace) -> int:
    session_name = args.role_session_name or f"credential-process-{socket.gethostname()}"[:64]
    with _client_for(args) as client:
        provider = role_provider(args, client, session_name, duration_seconds=args.duration_seconds)
        print(json.dumps(credential_process_document(provider.credentials())))
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "credential-process",
        help="assume a role and print AWS credential_process JSON (for ~/.aws/config)",
    )
    p.add_argument("--role-arn", required=True, help="ARN of the role to assume")
    p.add_argument("--role-session-name", help="default credential-process-<hostname>")
    p.add_argument("--duration-seconds", type=int, default=None, help="session length")
    add_source_arguments(p)
    p.set_defaults(handler=_credential_process)
