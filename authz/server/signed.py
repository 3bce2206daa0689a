"""SigV4-signed gRPC calls: the edge's check of a call's ``authorization: AWS4-HMAC-SHA256 …``
metadata (signed by ``authz.client.signing``).

Owns the mapping of a gRPC call onto a SigV4 request: method ``POST``, path the full gRPC
method (``/authz.v1.Authorizer/Authorize``), no query, the signed metadata as headers
(``x-amz-date``, ``x-amz-security-token``, ``x-authz-nonce``; gRPC gives the server no
``host``, so none is required), and the request message's exact wire bytes as the body, whose
hash the server computes itself (a signer may also sign ``x-amz-content-sha256``). The
credential scope's service is ``authz`` and its region one of the server's ``aws_regions``.
A signed ``AssumeRole`` is accepted once (a replay would mint another session); other calls
may repeat within the window (a PEP asks the same question twice in one second). The secret
comes from ``Backend.signing_credentials`` (``authz.backend``): encrypted long-term secrets,
derived session secrets — so a session proves possession on every call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from authz import errors
from authz.server.ports import Identity
from authz.sigv4 import HttpRequest, SigV4Verifier, parse_signature
from authz.sigv4.canonical import ALGORITHM
from authz.sigv4.replay import ONCE_METHODS

SERVICE = "authz"


def is_signed(authorization: str) -> bool:
    return authorization.startswith(ALGORITHM + " ")


class SignedCallVerifier:
    """Verifies signed calls for one server. Thread-safe."""

    def __init__(self, backend: Any, verifier: SigV4Verifier) -> None:
        self._resolve: Callable[..., Any] | None = getattr(backend, "signing_credentials", None)
        self._verifier = verifier

    def authenticate(self, metadata: Mapping[str, str], method: str, body: bytes) -> Identity:
        if self._resolve is None:
            raise errors.InvalidClientTokenId(reason="signing_unsupported")
        # gRPC text metadata has one value per key: as HTTP headers, each value in a tuple
        # (a plain dict: every lookup of parsing and canonicalising is then a C call)
        headers = {name: (value,) for name, value in metadata.items()}
        request = HttpRequest("POST", method, "", headers, body)
        material = parse_signature(request, require_host=False)
        finish = self._verifier.verify(
            request, SERVICE, self._resolve, material, once=method in ONCE_METHODS
        )
        identity: Identity = finish()
        return identity
