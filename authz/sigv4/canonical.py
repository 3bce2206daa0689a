"""SigV4's canonical forms (AWS "Create a canonical request for Signature Version 4").

Owns the exact bytes a signer signed: the canonical URI (dot segments removed, double-encoded
as AWS does for every service but S3), the canonical query string (every parameter decoded
and re-encoded with AWS's unreserved set, sorted; ``X-Amz-Signature`` left out), the canonical
headers (lowercased names, values trimmed and inner runs of spaces collapsed, repeated headers
joined by commas), the payload hash, the string to sign and the derived signing key. Pure
functions; no clock, no secrets kept.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_UNRESERVED = "-_.~"


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """A request as it arrived: ``path`` and ``query`` raw (still percent-encoded, as on the
    request line), ``headers`` by lowercased name (every value, in arrival order)."""

    method: str
    path: str
    query: str
    headers: Mapping[str, Sequence[str]]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        values = self.headers.get(name)
        return values[0] if values else None


def query_pairs(query: str) -> list[tuple[str, str]]:
    """The decoded ``(name, value)`` pairs of a raw query string, in order."""
    pairs = []
    for part in query.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((unquote(name), unquote(value)))
    return pairs


def _remove_dot_segments(path: str) -> str:
    out: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if out:
                out.pop()
        elif segment and segment != ".":
            out.append(segment)
    first = "/" if path.startswith("/") else ""
    last = "/" if path.endswith("/") and out else ""
    return first + "/".join(out) + last


@functools.lru_cache(maxsize=256)
def canonical_uri(path: str) -> str:
    """The normalized path, URI-encoded once more (AWS's rule for non-S3 services)."""
    return quote(_remove_dot_segments(path) if path else "/", safe="/~") or "/"


def canonical_query(query: str, *, drop: str | None = None) -> str:
    encoded = [
        (quote(name, safe=_UNRESERVED), quote(value, safe=_UNRESERVED))
        for name, value in query_pairs(query)
        if name != drop
    ]
    return "&".join(f"{name}={value}" for name, value in sorted(encoded))


def canonical_headers(request: HttpRequest, signed: Sequence[str]) -> str:
    headers = request.headers
    lines = []
    for name in signed:
        values = headers.get(name, ())
        if len(values) == 1:  # the usual case, without a generator per header
            lines.append(f"{name}:{' '.join(values[0].split())}\n")
        else:
            lines.append(f"{name}:{','.join(' '.join(v.split()) for v in values)}\n")
    return "".join(lines)


def payload_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def canonical_request(
    request: HttpRequest,
    signed_headers: Sequence[str],
    *,
    presigned: bool,
    body_hash: str | None = None,
) -> str:
    """``body_hash``: the body's ``payload_hash`` when the signer already has it (a verifier
    always hashes the bytes it received)."""
    return "\n".join(
        (
            request.method.upper(),
            canonical_uri(request.path),
            canonical_query(request.query, drop="X-Amz-Signature" if presigned else None)
            if request.query
            else "",
            canonical_headers(request, signed_headers),
            ";".join(signed_headers),
            payload_hash(request.body) if body_hash is None else body_hash,
        )
    )


def string_to_sign(amz_date: str, scope: str, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.digest(key, message.encode("utf-8"), "sha256")  # OpenSSL's one-shot HMAC


@functools.lru_cache(maxsize=1024)
def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """``kSigning``: HMAC chain over date, region, service and ``aws4_request`` (the same for
    a key all day: the last 1,024 are kept, as AWS SDKs do)."""
    key = _hmac(("AWS4" + secret).encode("utf-8"), date)
    return _hmac(_hmac(_hmac(key, region), service), TERMINATOR)


_BLOCK = 64  # SHA-256's block size
_IPAD = bytes(x ^ 0x36 for x in range(256))  # translate tables, as the hmac module's
_OPAD = bytes(x ^ 0x5C for x in range(256))


@functools.lru_cache(maxsize=1024)
def _keyed(key: bytes) -> tuple[hashlib._Hash, hashlib._Hash]:
    """HMAC-SHA256 (RFC 2104) keyed with ``key``: the inner and outer SHA-256 states after
    the padded key, copied per message — the construction of ``hmac.HMAC``'s own Python path,
    with the key's two blocks hashed once. About half the cost of a signature by
    ``hmac.digest`` or by copying an ``hmac.HMAC`` (both go through OpenSSL's MAC layer on
    every call). Cached for the same keys ``signing_key`` caches."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return hashlib.sha256(key.translate(_IPAD)), hashlib.sha256(key.translate(_OPAD))


def signature(key: bytes, to_sign: str) -> str:
    """Hex HMAC-SHA256 of ``to_sign`` under ``key`` (the shared states are only copied, never
    updated: safe from any thread)."""
    inner_state, outer_state = _keyed(key)
    inner = inner_state.copy()
    inner.update(to_sign.encode("utf-8"))
    outer = outer_state.copy()
    outer.update(inner.digest())
    return outer.hexdigest()
