"""Typed subject alternative names of a verified mTLS client certificate.

Owns reading SANs with their type from what gRPC reports about the peer: the leaf certificate
(``x509_pem_cert``) parsed with ``cryptography``, else gRPC's own typed properties
(``peer_uri``, ``peer_dns``, ``peer_email``, ``peer_ip``). gRPC's untyped
``x509_subject_alternative_name`` list is never used: it loses the type, so a DNS or e-mail SAN
holding ``spiffe://…`` would pass for a URI. Each SAN is ``<type>:<value>`` (DNS lowercased),
the form of ``authz.config.typed_san``. Parsed certificates are memoised (bounded).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from cryptography import x509

__all__ = ["sans_of_pem", "typed_peer_sans"]

_TYPES: tuple[tuple[str, Any], ...] = (
    ("uri", x509.UniformResourceIdentifier),
    ("dns", x509.DNSName),
    ("email", x509.RFC822Name),
    ("ip", x509.IPAddress),
)
_PROPERTIES = (("uri", "peer_uri"), ("dns", "peer_dns"), ("email", "peer_email"), ("ip", "peer_ip"))
MAX_PEM_BYTES = 64 * 1024


def _typed(kind: str, value: object) -> str:
    text = str(value)
    return f"{kind}:{text.lower() if kind == 'dns' else text}"


@lru_cache(maxsize=256)
def sans_of_pem(pem: bytes) -> tuple[str, ...]:
    """The typed SANs of a PEM certificate; () when it has none or cannot be parsed."""
    if len(pem) > MAX_PEM_BYTES:
        return ()
    try:
        cert = x509.load_pem_x509_certificate(pem)
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return ()
    out: list[str] = []
    for kind, cls in _TYPES:
        for value in names.get_values_for_type(cls):
            typed = _typed(kind, value)
            if typed not in out:
                out.append(typed)
    return tuple(out)


def _texts(values: Any) -> list[str]:
    items = values if isinstance(values, list | tuple) else (values,)
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in items if v]


def typed_peer_sans(auth: Mapping[str, Any]) -> tuple[str, ...]:
    """Typed SANs from a gRPC ``auth_context()`` (empty without a client certificate)."""
    pem = auth.get("x509_pem_cert")
    if pem:
        first = pem[0] if isinstance(pem, list | tuple) else pem
        return sans_of_pem(first if isinstance(first, bytes) else str(first).encode())
    out: list[str] = []
    for kind, prop in _PROPERTIES:
        for text in _texts(auth.get(prop) or ()):
            typed = _typed(kind, text)
            if typed not in out:
                out.append(typed)
    return tuple(out)
