"""The real service in-process for end-to-end tests: settings → ``build_backend`` →
``create_server`` on 127.0.0.1 port 0, plus the client side (access keys, session tokens, mTLS
certificates, a trusted proxy that forwards a source address).

Owns only assembly; every decision is the product's. Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from authz.backend import AuthzBackend
from authz.client import AccessKeyCredentials, AuthzClient
from authz.client.credentials import Credentials, SessionCredentials
from authz.config import Settings, load_settings
from authz.server import AuthzServer, create_server
from authz.wiring import build_backend, server_config

KeyPair = tuple[x509.Certificate, ec.EllipticCurvePrivateKey]
LOCALHOST = "127.0.0.1"


def _issue(name: str, sans: list[x509.GeneralName], issuer: KeyPair | None) -> KeyPair:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0].subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256()), key


def _pem(pair: KeyPair) -> tuple[bytes, bytes]:
    cert, key = pair
    return (
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


@dataclass
class Pki:
    """A throw-away CA, a server certificate for 127.0.0.1 and client certificates by SAN URI."""

    directory: Path
    ca: KeyPair = field(init=False)
    _clients: dict[str, tuple[bytes, bytes]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.ca = _issue("e2e-ca", [], None)
        server = _issue("e2e-server", [x509.IPAddress(ipaddress.ip_address(LOCALHOST))], self.ca)
        for label, pair in (("ca", self.ca), ("server", server)):
            cert, key = _pem(pair)
            (self.directory / f"{label}.crt").write_bytes(cert)
            (self.directory / f"{label}.key").write_bytes(key)

    def settings(self, service_principals: dict[str, str]) -> dict[str, Any]:
        return {
            "tls_cert": self.directory / "server.crt",
            "tls_key": self.directory / "server.key",
            "tls_client_ca": self.directory / "ca.crt",
            "service_principals": service_principals,
        }

    def _client(self, san: str) -> tuple[bytes, bytes]:
        if san not in self._clients:
            pair = _issue(san, [x509.UniformResourceIdentifier(san)], self.ca)
            self._clients[san] = _pem(pair)
        return self._clients[san]

    def client_files(self, san: str, directory: Path) -> tuple[Path, Path]:
        """The client certificate for ``san`` and its key as PEM files in ``directory``."""
        cert, key = self._client(san)
        (directory / "client.crt").write_bytes(cert)
        (directory / "client.key").write_bytes(key)
        return directory / "client.crt", directory / "client.key"

    def channel_credentials(self, san: str) -> grpc.ChannelCredentials:
        cert, key = self._client(san)
        return grpc.ssl_channel_credentials(
            root_certificates=_pem(self.ca)[0], private_key=key, certificate_chain=cert
        )


class _ForwardingProxy(grpc.UnaryUnaryClientInterceptor):  # type: ignore[type-arg]
    """Plays a trusted reverse proxy: adds ``x-forwarded-for`` to every call."""

    def __init__(self, address: str) -> None:
        self._address = address

    def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        metadata = [*(details.metadata or ()), ("x-forwarded-for", self._address)]
        return continuation(details._replace(metadata=metadata), request)


def trailer_error_code(exc: BaseException) -> str | None:
    """``x-authz-error-code`` from the trailing metadata of the RPC behind a client error."""
    cause: Any = exc.__cause__
    assert isinstance(cause, grpc.RpcError), "the client error must wrap the RpcError"
    metadata: Any = cause.trailing_metadata() or ()
    found = [str(item[1]) for item in metadata if item[0] == "x-authz-error-code"]
    return found[0] if found else None


def session_of(response: Any) -> SessionCredentials:
    """The session credentials of an AssumeRoleResponse."""
    creds = response.credentials
    return SessionCredentials(  # with its key and secret: calls are signed
        token=creds.session_token,
        expiration=creds.expiration.ToDatetime(tzinfo=UTC),
        access_key_id=creds.access_key_id,
        secret=creds.secret_access_key,
    )


@dataclass
class E2EServer:
    """One running server over a repository directory, with its backend and settings."""

    server: AuthzServer
    backend: AuthzBackend
    settings: Settings
    pki: Pki | None = None

    @property
    def target(self) -> str:
        return f"{LOCALHOST}:{self.server.port}"

    @property
    def audit_path(self) -> Path:
        assert self.settings.audit_log is not None
        return self.settings.audit_log

    def client(
        self,
        credentials: Credentials | None = None,
        *,
        san: str = "spiffe://e2e/anonymous-client",
        forwarded_for: str | None = None,
    ) -> AuthzClient:
        """A client; under mTLS it presents a certificate for ``san`` (a SAN mapped to a
        service principal authenticates as that service when no other credentials are sent).
        ``forwarded_for`` routes the calls through a proxy that sets ``x-forwarded-for``."""
        if self.pki is not None:
            channel = grpc.secure_channel(self.target, self.pki.channel_credentials(san))
        else:
            channel = grpc.insecure_channel(self.target)
        if forwarded_for is not None:
            channel = grpc.intercept_channel(channel, _ForwardingProxy(forwarded_for))
        return AuthzClient(self.target, credentials, channel=channel, timeout=10)

    def access_key(self, user_arn: str) -> AccessKeyCredentials:
        """A new long-term key for ``user_arn`` in the server's credentials store."""
        key_id, secret = self.backend.credentials.create(user_arn)
        return AccessKeyCredentials(key_id, secret)

    def mfa_device(self, user_arn: str, name: str) -> tuple[str, str]:
        """A virtual MFA device created as ``authz keys create-mfa`` does (its own connection
        to the server's state database), then seen by the server (one poll of its watcher);
        ``(serial, seed)``."""
        from authz.state import open_database
        from authz.state.sealing import Sealer
        from authz.sts.mfa import MfaStore

        db = open_database(self.settings.state_url)
        try:
            sealer = Sealer.from_key_file(self.settings.state_key_file, create=False)
            serial, seed, _ = MfaStore(db, sealer).create(user_arn, name)
        finally:
            db.close()
        assert self.backend.state is not None
        self.backend.state.watcher.poll_once()
        return serial, seed

    def assume(
        self, credentials: Credentials, role_arn: str, session_name: str, **params: Any
    ) -> tuple[Any, SessionCredentials]:
        """AssumeRole through gRPC; returns the response and its session credentials."""
        with self.client(credentials) as client:
            response = client.assume_role(role_arn, session_name, **params)
        return response, session_of(response)

    def example_admin(self) -> SessionCredentials:
        """On the example repository (``policies/``): a session of role ``authz-admin``, assumed
        by Dana, which may call Reload, GetStatus and the simulator (docs/security.md)."""
        dana = self.access_key("arn:aws:iam::111122223333:user/Dana")
        return self.assume(dana, "arn:aws:iam::111122223333:role/authz-admin", "admin")[1]

    def audit_events(self, count: int, timeout: float = 3.0) -> list[dict[str, Any]]:
        """The audit log's events once at least ``count`` are written (it is asynchronous)."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.audit_path.read_text(encoding="utf-8") if self.audit_path.exists() else ""
            events = [json.loads(line) for line in text.splitlines() if line.strip()]
            if len(events) >= count or time.monotonic() > deadline:
                return events
            time.sleep(0.02)

    def close(self) -> None:
        self.server.shutdown(grace=0)
        self.backend.close()


def start_server(
    workdir: Path,
    repo: Path,
    *,
    pki: Pki | None = None,
    service_principals: dict[str, str] | None = None,
    serve_through: Callable[[AuthzBackend], Any] | None = None,
    **overrides: Any,
) -> E2EServer:
    """Settings as ``authz serve`` builds them (``load_settings`` with flag overrides): keys,
    access-key store, MFA store and audit log in ``workdir``, no file watching, no metrics port.
    ``serve_through(backend)``: what the server is given instead of the backend (a test's
    delegating wrapper: the compiled backend's methods cannot be replaced on the instance);
    ``E2EServer.backend`` stays the backend itself."""
    workdir.mkdir(parents=True, exist_ok=True)
    values: dict[str, Any] = {
        "repo": repo,
        "listen": f"{LOCALHOST}:0",
        "keys_dir": workdir / "keys",
        "generate_keys": True,  # a fresh key ring per test server
        "credentials_file": workdir / "credentials.json",
        "mfa_file": workdir / "mfa.json",
        "state_url": f"sqlite:///{workdir / 'state.db'}",
        "state_key_file": workdir / "state.key",
        "audit_log": workdir / "audit.jsonl",
        "metrics_listen": None,
        "watch": False,
    }
    if pki is not None:
        values.update(pki.settings(service_principals or {}))
    values.update(overrides)
    settings = load_settings(None, **values)
    backend = build_backend(settings)
    config = dataclasses.replace(
        server_config(settings),
        health_interval_seconds=0.05,
        shutdown_grace_seconds=1.0,
        drain_seconds=0.0,  # no load balancer to tell: stop at once (5 s per test otherwise)
    )
    server = create_server(backend if serve_through is None else serve_through(backend), config)
    server.start()
    return E2EServer(server, backend, settings, pki)


ServerFactory = Callable[..., E2EServer]


def server_factory(workdir: Path) -> Iterator[ServerFactory]:
    """A factory of servers (each in its own sub-directory) torn down at the end."""
    started: list[E2EServer] = []

    def start(repo: Path, **kwargs: Any) -> E2EServer:
        env = start_server(workdir / f"server-{len(started)}", repo, **kwargs)
        started.append(env)
        return env

    yield start
    for env in started:
        env.close()
