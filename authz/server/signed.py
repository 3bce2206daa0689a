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

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from authz import errors
from authz.server.ports import Identity
from authz.sigv4 import HttpRequest, SigV4Verifier, parse_signature
from authz.sigv4.canonical import ALGORITHM
from authz.sigv4.replay import ONCE_METHODS

SERVICE = "authz"


class _OneValue(Mapping[str, tuple[str, ...]]):
    """gRPC text metadata (one value per key) seen as HTTP headers, without copying it."""

    __slots__ = ("_metadata",)

    def __init__(self, metadata: Mapping[str, str]) -> None:
        self._metadata = metadata

    def __getitem__(self, key: str) -> tuple[str, ...]:
        return (self._metadata[key],)

    def get(self, key: str, default: Any = None) -> Any:  # Mapping.get, without its try/except
        value = self._metadata.get(key)
        return default if value is None else (value,)

    def __iter__(self) -> Iterator[str]:
        return iter(self._metadata)

    def __len__(self) -> int:
        return len(self._metadata)


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
        request = HttpRequest("POST", method, "", _OneValue(metadata), body)
        material = parse_signature(request, require_host=False)
        finish = self._verifier.verify(
            request, SERVICE, self._resolve, material, once=method in ONCE_METHODS
        )
        identity: Identity = finish()
        return identity
