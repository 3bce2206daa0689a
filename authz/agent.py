"""``authz agent``: role credentials for every AWS SDK in a workload, with no code.

Owns a loopback HTTP server in the shape of the AWS container credentials provider: a
``GET`` of ``/credentials`` with ``Authorization: <token>`` answers ``{"AccessKeyId",
"SecretAccessKey", "Token", "Expiration", "RoleArn"}``. The workload gets two variables,

    AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:PORT/credentials
    AWS_CONTAINER_AUTHORIZATION_TOKEN=<token>

and every AWS SDK fetches role credentials from it and fetches again before they expire. The
agent assumes ``--role-arn`` over gRPC with its own source identity (``--profile``; an mTLS
service identity with ``--cert-file``/``--key-file``; AssumeRoleWithWebIdentity with
``--web-identity-token-file``, re-read at every refresh; else the client chain — see
``authz.cli_credentials``) and keeps the session
fresh with ``authz.client.credentials.RefreshingCredentialsProvider``: a new session once less
than ``--refresh-margin-seconds`` is left (an advisory refresh at twice the margin that, if it
fails, keeps serving the current session). Bounds: loopback only (a non-loopback ``--listen``
is refused), GET of one path only, no body read, the token compared with
``hmac.compare_digest``, at most 16 connections at once, 5-second socket timeout. The token
is random per start unless ``--token-file`` names one; it is printed once on stdout with the
URI, never logged.
"""

from __future__ import annotations

import argparse
import hmac
import ipaddress
import json
import secrets
import threading
from datetime import UTC, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from authz.cli_credentials import _client_for, add_source_arguments, role_provider
from authz.client.credentials import RefreshingCredentialsProvider
from authz.errors import AuthzError, ValidationError

PATH = "/credentials"
MAX_CONNECTIONS = 16


class CredentialsAgent:
    """Serves ``provider``'s session on ``listen`` (loopback) to holders of ``token``."""

    def __init__(
        self,
        provider: RefreshingCredentialsProvider,
        role_arn: str,
        token: str,
        listen: str = "127.0.0.1:0",
    ) -> None:
        host, _, port = listen.rpartition(":")
        host = host.strip("[]")
        if not ipaddress.ip_address(host).is_loopback:
            raise ValidationError(f"--listen `{listen}` must be a loopback address")
        self.provider = provider
        self.role_arn = role_arn
        self.token = token
        self._server = _Server((host, int(port)), self)
        self.port: int = self._server.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}{PATH}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="authz-agent", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def document(self) -> dict[str, Any]:
        creds = self.provider.credentials()
        return {
            "AccessKeyId": creds.access_key_id,
            "SecretAccessKey": creds.secret,
            "Token": creds.token,
            "Expiration": creds.expiration.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "RoleArn": self.role_arn,
        }


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], agent: CredentialsAgent) -> None:
        self.agent = agent
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        self.request.settimeout(5.0)
        super().setup()

    def version_string(self) -> str:
        return "authz-agent"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # requests carry the token: nothing is logged

    def do_GET(self) -> None:
        agent = self.server.agent
        presented = self.headers.get("authorization", "")
        if not hmac.compare_digest(presented.encode(), agent.token.encode()):
            self._send(401, {"Code": "AccessDenied", "Message": "missing or wrong token"})
            return
        if self.path.split("?", 1)[0] != PATH:
            self._send(404, {"Code": "NotFound", "Message": f"only {PATH} is served"})
            return
        try:
            self._send(200, agent.document())
        except AuthzError as err:
            self._send(503, {"Code": err.code, "Message": err.message})

    def _send(self, status: int, doc: dict[str, Any]) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _agent(args: argparse.Namespace) -> int:
    client = _client_for(args)
    margin = timedelta(seconds=args.refresh_margin_seconds)
    provider = role_provider(
        args,
        client,
        args.role_session_name or "authz-agent",
        duration_seconds=args.duration_seconds,
        refresh_margin=margin,
    )
    token = (
        Path(args.token_file).read_text(encoding="utf-8").strip()
        if args.token_file
        else secrets.token_urlsafe(32)
    )
    agent = CredentialsAgent(provider, args.role_arn, token, args.listen)
    provider.credentials()  # fail at start, not at the workload's first call
    agent.start()
    print(f"AWS_CONTAINER_CREDENTIALS_FULL_URI={agent.uri}", flush=True)
    if not args.token_file:
        print(f"AWS_CONTAINER_AUTHORIZATION_TOKEN={token}", flush=True)
    stop = threading.Event()
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        agent.stop()
        client.close()
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "agent", help="serve role credentials on loopback to AWS SDKs (container provider)"
    )
    p.add_argument("--role-arn", required=True, help="ARN of the role to serve")
    p.add_argument("--role-session-name", help="default authz-agent")
    p.add_argument("--duration-seconds", type=int, default=None, help="session length")
    p.add_argument(
        "--refresh-margin-seconds",
        type=float,
        default=300.0,
        help="assume the role again when less than this is left (default 300)",
    )
    p.add_argument("--listen", default="127.0.0.1:0", help="loopback host:port (default: any)")
    p.add_argument("--token-file", help="the authorization token (default: random, printed)")
    add_source_arguments(p)
    p.set_defaults(handler=_agent)
