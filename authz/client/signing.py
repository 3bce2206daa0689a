"""Signing every gRPC call with Signature Version 4: the secret never leaves the client.

Owns the metadata a call carries for its credentials. An access key, or session credentials
that hold their secret, sign the call: ``authorization: AWS4-HMAC-SHA256 Credential=<key id>/
<date>/<region>/authz/aws4_request, SignedHeaders=…, Signature=…`` over the method path, the
request's serialized bytes (the canonical request's payload hash, which the server computes
from the bytes it received, so it is not sent), the time (``x-amz-date``), for a method
accepted once (``ONCE_METHODS``: AssumeRole) a random ``x-authz-nonce`` (so that the same call
made twice in one second is not a replay of the first) and, for a session, its token
(``x-amz-security-token``). Nothing more: every metadata entry is bytes on the wire and work
for gRPC on both ends of every call (four more entries cost a distinct Authorize 5-9 %).
The canonical forms are ``authz.sigv4``'s, the same code the server verifies with (itself
checked against botocore's signer). A session token without its secret
(``AUTHZ_SESSION_TOKEN``) can only be sent as a bearer token, which servers refuse unless
``allow_bearer_sessions``. ``SigningInterceptor`` applies this to every call of a channel.
"""

from __future__ import annotations

import functools
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import grpc

from authz.client.credentials import AccessKeyCredentials, Credentials, SessionCredentials
from authz.sigv4.canonical import (
    ALGORITHM,
    canonical_uri,
    payload_hash,
    signature,
    signing_key,
    string_to_sign,
)
from authz.sigv4.replay import ONCE_METHODS

SERVICE = "authz"
AUTHORIZATION = "authorization"
DEFAULT_REGION = "us-east-1"


@functools.lru_cache(maxsize=4)  # one second's calls share their date
def _amz_date(second: int) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(second))


def signed_metadata(
    creds: Credentials,
    method: str,
    body: bytes,
    *,
    region: str = DEFAULT_REGION,
    now: float | None = None,
) -> tuple[tuple[str, str], ...]:
    """The credential metadata of one call of ``method`` whose request serializes to
    ``body``: signed when the credentials hold a secret, else the bearer token."""
    if isinstance(creds, AccessKeyCredentials):
        key_id, secret, token = creds.key_id, creds.secret, None
    elif creds.access_key_id and creds.secret:
        key_id, secret, token = creds.access_key_id, creds.secret, creds.token
    else:
        return creds.metadata()
    amz_date = _amz_date(int(time.time() if now is None else now))
    date = amz_date[:8]
    # (name, value) sorted by name, values as the canonical form has them (trimmed, inner
    # blanks collapsed): what ``canonical_request`` would build from them, without a request
    headers = [("x-amz-date", amz_date)]
    if token is not None:
        headers.append(("x-amz-security-token", " ".join(token.split())))
    if method in ONCE_METHODS:  # (sorted: "x-amz-…" < "x-authz-…")
        headers.append(("x-authz-nonce", secrets.token_hex(8)))  # two equal calls, one second
    names = ";".join(name for name, _ in headers)
    lines = "".join(f"{name}:{value}\n" for name, value in headers)
    canonical = f"POST\n{canonical_uri(method)}\n\n{lines}\n{names}\n{payload_hash(body)}"
    scope = f"{date}/{region}/{SERVICE}/aws4_request"
    sig = signature(signing_key(secret, date, region, SERVICE),
                    string_to_sign(amz_date, scope, canonical))  # fmt: skip
    credential = f"{ALGORITHM} Credential={key_id}/{scope}"
    return ((AUTHORIZATION, f"{credential}, SignedHeaders={names}, Signature={sig}"), *headers)


class _Details(NamedTuple):
    method: str
    timeout: float | None
    metadata: Sequence[tuple[str, str]] | None
    credentials: grpc.CallCredentials | None
    wait_for_ready: bool | None
    compression: grpc.Compression | None


# Calls that carry no credentials: the web identity token in the request is the proof. Not
# asking for credentials also keeps a provider that calls this method (``WebIdentityCredentials``)
# from waiting on itself.
UNSIGNED_METHODS = frozenset({"/authz.v1.SecurityTokenService/AssumeRoleWithWebIdentity"})


class SigningInterceptor(grpc.UnaryUnaryClientInterceptor):  # type: ignore[type-arg]
    """Adds the credential metadata of ``credentials()`` (None: anonymous) to every call but
    those of ``UNSIGNED_METHODS``."""

    def __init__(
        self, credentials: Callable[[], Credentials | None], region: str = DEFAULT_REGION
    ) -> None:
        self._credentials = credentials
        self._region = region

    def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: Any, request: Any
    ) -> Any:
        method = client_call_details.method
        if isinstance(method, bytes):
            method = method.decode("ascii")
        creds = None if method in UNSIGNED_METHODS else self._credentials()
        if creds is None:
            return continuation(client_call_details, request)
        body = request.SerializeToString() if hasattr(request, "SerializeToString") else request
        extra = signed_metadata(creds, method, body, region=self._region)
        details = _Details(
            client_call_details.method,
            client_call_details.timeout,
            (*(client_call_details.metadata or ()), *extra),
            client_call_details.credentials,
            client_call_details.wait_for_ready,
            getattr(client_call_details, "compression", None),
        )
        return continuation(details, request)


__all__ = ["SessionCredentials", "SigningInterceptor", "signed_metadata"]
