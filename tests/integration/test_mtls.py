"""mTLS: a verified client certificate's SAN becomes a service principal."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from authz import errors
from authz.client import AuthzClient
from authz.server import AuthzServer
from tests.integration.fakes import ALICE_ARN, PEER_SAN, FakeBackend

Pem = tuple[bytes, bytes]  # (certificate, key)


KeyPair = tuple[x509.Certificate, ec.EllipticCurvePrivateKey]


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
    cert = builder.sign(issuer[1] if issuer else key, hashes.SHA256())
    return cert, key


def _pem(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Pem:
    return (
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, object]:
    ca = _issue("test-ca", [], None)
    server = _issue("server", [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))], ca)
    known = _issue("enforcer", [x509.UniformResourceIdentifier(PEER_SAN)], ca)
    unknown = _issue("stranger", [x509.DNSName("stranger.test")], ca)
    files = {}
    for label, pair in (("ca", ca), ("server", server)):
        cert, key = _pem(*pair)
        (tmp_path / f"{label}.crt").write_bytes(cert)
        (tmp_path / f"{label}.key").write_bytes(key)
        files[label] = str(tmp_path / f"{label}.crt"), str(tmp_path / f"{label}.key")
    return {"files": files, "ca": _pem(*ca)[0], "known": _pem(*known), "unknown": _pem(*unknown)}


def _client(port: int, pki: dict[str, object], who: str) -> AuthzClient:
    cert, key = pki[who]  # type: ignore[misc]
    creds = grpc.ssl_channel_credentials(
        root_certificates=pki["ca"],
        private_key=key,
        certificate_chain=cert,  # type: ignore[arg-type]
    )
    return AuthzClient(f"127.0.0.1:{port}", None, channel_credentials=creds)


def test_mtls_peer_identity(
    make_server: Callable[..., AuthzServer], pki: dict[str, object], backend: FakeBackend
) -> None:
    files: dict[str, tuple[str, str]] = pki["files"]  # type: ignore[assignment]
    server = make_server(
        tls_cert_file=files["server"][0],
        tls_key_file=files["server"][1],
        client_ca_file=files["ca"][0],
        san_principals={PEER_SAN: "enforcer.authz.internal"},
    )
    with _client(server.port, pki, "known") as client:
        assert client.get_caller_identity().arn == "enforcer.authz.internal"
        # A service principal is a trusted enforcement point.
        decided = client.authorize("s3:GetObject", "arn:aws:s3:::b", principal_arn=ALICE_ARN)
        assert decided.principal_arn == ALICE_ARN
    with (
        _client(server.port, pki, "unknown") as stranger,
        pytest.raises(errors.InvalidClientTokenId),
    ):
        stranger.get_caller_identity()
    peer_calls = [c for c in backend.calls if c[0] == "authenticate_peer"]
    assert "dns:stranger.test" in peer_calls[0][1]
