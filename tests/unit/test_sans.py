"""Typed SANs: mapping keys (``authz.config.typed_san``) and peer certificates
(``authz.server.sans``)."""

from __future__ import annotations

import ipaddress

import pytest
from cryptography import x509

from authz.config import load_settings, typed_san
from authz.errors import ValidationError
from authz.server.sans import sans_of_pem, typed_peer_sans
from tests.integration.e2e.harness import _issue, _pem


@pytest.mark.parametrize(
    ("key", "typed"),
    [
        ("spiffe://corp/ci", "uri:spiffe://corp/ci"),
        ("uri:spiffe://corp/ci", "uri:spiffe://corp/ci"),
        ("URI:spiffe://corp/ci", "uri:spiffe://corp/ci"),
        ("dns:CI.Corp.Example", "dns:ci.corp.example"),
        ("email:ci@corp.example", "email:ci@corp.example"),
        ("ip:10.0.0.1", "ip:10.0.0.1"),
        ("dns://resolver/x", "uri:dns://resolver/x"),  # a URI whose scheme is dns
        ("ci.corp.example", "uri:ci.corp.example"),  # bare means URI
    ],
)
def test_typed_san(key: str, typed: str) -> None:
    assert typed_san(key) == typed
    assert typed_san(typed) == typed  # idempotent


def test_mapping_needs_a_value() -> None:
    with pytest.raises(ValidationError, match="names no SAN value"):
        typed_san("dns:")


def test_settings_type_their_mappings() -> None:
    settings = load_settings(None, service_principals={"spiffe://corp/ci": "ci", "dns:A.b": "d"})
    assert settings.service_principals == {"uri:spiffe://corp/ci": "ci", "dns:a.b": "d"}


def test_sans_of_a_certificate_keep_their_types() -> None:
    ca = _issue("ca", [], None)
    names: list[x509.GeneralName] = [
        x509.UniformResourceIdentifier("spiffe://corp/ci"),
        x509.DNSName("Spiffe://corp/ci"),
        x509.RFC822Name("spiffe://corp/ci"),
        x509.IPAddress(ipaddress.ip_address("10.0.0.1")),
    ]
    pem = _pem(_issue("client", names, ca))[0]
    expected = (
        "uri:spiffe://corp/ci",
        "dns:spiffe://corp/ci",
        "email:spiffe://corp/ci",
        "ip:10.0.0.1",
    )
    assert sans_of_pem(pem) == expected
    assert typed_peer_sans({"x509_pem_cert": [pem]}) == expected


def test_without_a_certificate_grpcs_typed_properties_are_used_never_the_untyped_list() -> None:
    auth = {
        "x509_subject_alternative_name": [b"spiffe://corp/ci"],
        "peer_dns": [b"spiffe://corp/ci"],
    }
    assert typed_peer_sans(auth) == ("dns:spiffe://corp/ci",)
    assert typed_peer_sans({}) == ()
    assert sans_of_pem(b"not a certificate") == ()
