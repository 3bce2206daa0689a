"""mTLS SAN type confusion (issue 11 item 4), written as the attack, against a real server
with mTLS: a client certificate (signed by the trusted CA) whose DNS or e-mail SAN holds the
text ``spiffe://e2e/ci`` authenticated, at 0b9b4d1, as the service principal mapped to that
URI — gRPC's ``x509_subject_alternative_name`` list has no types. Mappings now name the SAN
type they match (``uri:`` by default), and the server reads typed SANs from the certificate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509

from authz import errors
from authz.client import AuthzClient
from tests.integration.e2e.harness import E2EServer, Pki, ServerFactory, _issue, _pem
from tests.integration.e2e.repo_builder import RepoBuilder

ACCOUNT = "111111111111"
CI_URI = "spiffe://e2e/ci"
CI_SERVICE = "ci.internal"
DNS_SERVICE = "dns-mapped.internal"
MAIL_SERVICE = "mail-mapped.internal"


def _doc(statement: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [statement]}


def build_repo(root: Path) -> Path:
    repo = RepoBuilder()
    trust = {"Effect": "Allow", "Principal": {"Service": CI_SERVICE}, "Action": "sts:AssumeRole"}
    repo.role(ACCOUNT, "deployer", trust_policy=_doc(trust))
    return repo.write(root)


def client_with(env: E2EServer, pki: Pki, names: list[x509.GeneralName]) -> AuthzClient:
    """A client presenting a certificate from the trusted CA with exactly these SANs."""
    cert, key = _pem(_issue("client", names, pki.ca))
    creds = grpc.ssl_channel_credentials(
        root_certificates=_pem(pki.ca)[0], private_key=key, certificate_chain=cert
    )
    channel = grpc.secure_channel(env.target, creds)
    return AuthzClient(env.target, None, channel=channel, timeout=10)


@pytest.fixture
def env(start_server: ServerFactory, tmp_path: Path, pki: Pki) -> E2EServer:
    mappings = {
        CI_URI: CI_SERVICE,  # bare: a URI SAN
        "dns:ci.e2e.internal": DNS_SERVICE,
        "email:ci@e2e.internal": MAIL_SERVICE,
    }
    return start_server(build_repo(tmp_path / "repo"), pki=pki, service_principals=mappings)


CONFUSED: dict[str, list[x509.GeneralName]] = {
    "DNS SAN holding the URI text": [x509.DNSName(CI_URI)],
    "e-mail SAN holding the URI text": [x509.RFC822Name(CI_URI)],
    "both, but no URI SAN": [x509.DNSName(CI_URI), x509.RFC822Name(CI_URI)],
    "URI SAN holding a mapped DNS name": [x509.UniformResourceIdentifier("ci.e2e.internal")],
    "DNS SAN holding a mapped e-mail address": [x509.DNSName("ci@e2e.internal")],
}


@pytest.mark.parametrize("names", CONFUSED.values(), ids=list(CONFUSED))
def test_san_of_another_type_does_not_authenticate(
    env: E2EServer, pki: Pki, names: list[x509.GeneralName]
) -> None:
    with client_with(env, pki, names) as client:
        with pytest.raises(errors.InvalidClientTokenId):
            client.get_caller_identity()
        with pytest.raises(errors.InvalidClientTokenId):
            client.assume_role(f"arn:aws:iam::{ACCOUNT}:role/deployer", "confused")


MATCHING: dict[str, tuple[list[x509.GeneralName], str]] = {
    "URI SAN, bare mapping": ([x509.UniformResourceIdentifier(CI_URI)], CI_SERVICE),
    "DNS SAN, dns: mapping (case-insensitive)": ([x509.DNSName("CI.e2e.internal")], DNS_SERVICE),
    "e-mail SAN, email: mapping": ([x509.RFC822Name("ci@e2e.internal")], MAIL_SERVICE),
}


@pytest.mark.parametrize(("names", "service"), MATCHING.values(), ids=list(MATCHING))
def test_san_of_the_mapped_type_authenticates(
    env: E2EServer, pki: Pki, names: list[x509.GeneralName], service: str
) -> None:
    with client_with(env, pki, names) as client:
        assert client.get_caller_identity().arn == service
