"""Reading SigV4 signature material out of a request, without any secret.

Owns the two places a signature can be: the ``Authorization`` header
(``AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request,
SignedHeaders=a;b, Signature=hex``, with ``X-Amz-Date`` and ``X-Amz-Security-Token`` headers)
and a presigned query (``X-Amz-Algorithm``, ``X-Amz-Credential``, ``X-Amz-Date``,
``X-Amz-Expires``, ``X-Amz-SignedHeaders``, ``X-Amz-Signature``, ``X-Amz-Security-Token``).
A request with neither is ``MissingAuthenticationToken``; one with a part missing, malformed
or too long is ``IncompleteSignature`` naming the part. Every field is bounded.
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

from authz.errors import IncompleteSignature, MissingAuthenticationToken
from authz.sigv4.canonical import ALGORITHM, TERMINATOR, HttpRequest, query_pairs

MAX_EXPIRES_SECONDS = 7 * 24 * 3600  # AWS's limit for presigned requests
MAX_TOKEN_CHARS = 16 * 1024
_KEY_ID = re.compile(r"[A-Z0-9]{16,128}")
_DATE = re.compile(r"[0-9]{8}")
_AMZ_DATE = re.compile(r"[0-9]{8}T[0-9]{6}Z")
_SCOPE_PART = re.compile(r"[a-z0-9-]{1,64}")
_HEADER_NAME = re.compile(r"[a-z0-9!#$%&'*+.^_`|~-]{1,128}")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_MAX_SIGNED_HEADERS = 64
# The header as every SDK writes it (``, `` between the three parts, in this order): read with
# one match; any other spelling goes through the general parser below.
_USUAL_HEADER = re.compile(
    ALGORITHM + r" Credential=([^\s,]+), ?SignedHeaders=([^\s,]+), ?Signature=([0-9a-f]{64})"
)


class SignatureMaterial(NamedTuple):
    """What the caller claims: key id, scope, signed headers, signature, time, token.
    (A named tuple: built on every signed request, ~3x cheaper than a frozen dataclass.)"""

    access_key_id: str
    scope_date: str  # YYYYMMDD
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str  # 64 lowercase hex digits
    amz_date: str  # YYYYMMDDTHHMMSSZ
    session_token: str | None
    presigned: bool
    expires_seconds: int | None = None  # presigned only

    @property
    def scope(self) -> str:
        return f"{self.scope_date}/{self.region}/{self.service}/{TERMINATOR}"


def parse_signature(request: HttpRequest, *, require_host: bool = True) -> SignatureMaterial:
    """The signature material of ``request``; ``require_host``: ``host`` must be signed (HTTP;
    a gRPC server sees no ``host`` header)."""
    header = request.header("authorization")
    query = dict(query_pairs(request.query)) if "X-Amz-" in request.query else {}
    if header is not None:
        return _from_header(request, header, require_host)
    if "X-Amz-Algorithm" in query or "X-Amz-Signature" in query:
        return _from_query(query, require_host)
    raise MissingAuthenticationToken(reason="unsigned")


def _incomplete(message: str) -> IncompleteSignature:
    return IncompleteSignature(message, reason="incomplete")


def _from_header(request: HttpRequest, header: str, require_host: bool) -> SignatureMaterial:
    if len(header) > 4096:
        raise _incomplete("Authorization header is longer than 4096 characters")
    usual = _USUAL_HEADER.fullmatch(header)
    if usual is not None:
        amz_date = request.header("x-amz-date")
        if amz_date is None:
            raise _incomplete("Authorization header requires the `X-Amz-Date` header")
        credential, signed, signature = usual.groups()
        return _material(credential, signed, signature, amz_date,
                         request.header("x-amz-security-token"), require_host,
                         signature_checked=True)  # fmt: skip
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise _incomplete(f"Authorization header must use the `{ALGORITHM}` algorithm")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, sep, value = part.strip().partition("=")
        if sep:
            fields[name] = value
    missing = [n for n in ("Credential", "SignedHeaders", "Signature") if n not in fields]
    if missing:
        raise _incomplete(
            f"Authorization header requires {', '.join(f'`{n}`' for n in missing)} "
            f"parameter(s). Authorization={header[:200]}"
        )
    amz_date = request.header("x-amz-date")
    if amz_date is None:
        raise _incomplete("Authorization header requires the `X-Amz-Date` header")
    token = request.header("x-amz-security-token")
    return _material(
        fields["Credential"],
        fields["SignedHeaders"],
        fields["Signature"],
        amz_date,
        token,
        require_host,
    )


def _from_query(query: dict[str, str], require_host: bool) -> SignatureMaterial:
    needed = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
              "X-Amz-SignedHeaders", "X-Amz-Signature")  # fmt: skip
    missing = [n for n in needed if n not in query]
    if missing:
        raise _incomplete(
            f"presigned request requires {', '.join(f'`{n}`' for n in missing)} parameter(s)"
        )
    if query["X-Amz-Algorithm"] != ALGORITHM:
        raise _incomplete(f"`X-Amz-Algorithm` must be `{ALGORITHM}`")
    expires = query["X-Amz-Expires"]
    if not (expires.isdigit() and len(expires) <= 7 and 0 < int(expires) <= MAX_EXPIRES_SECONDS):
        raise _incomplete(
            f"`X-Amz-Expires` must be a number of seconds from 1 to {MAX_EXPIRES_SECONDS}"
        )
    material = _material(
        query["X-Amz-Credential"],
        query["X-Amz-SignedHeaders"],
        query["X-Amz-Signature"],
        query["X-Amz-Date"],
        query.get("X-Amz-Security-Token"),
        require_host,
    )
    return material._replace(presigned=True, expires_seconds=int(expires))


def _material(
    credential: str,
    signed: str,
    signature: str,
    amz_date: str,
    token: str | None,
    require_host: bool = True,
    *,
    signature_checked: bool = False,
) -> SignatureMaterial:
    key_id, date, region, service, names = _scope(credential, signed, require_host)
    if not signature_checked and not _SIGNATURE.fullmatch(signature):
        raise _incomplete("`Signature` must be 64 lowercase hexadecimal digits")
    if not _date_form(amz_date):
        raise _incomplete("`X-Amz-Date` must be in the form YYYYMMDDTHHMMSSZ")
    if token is not None and not 0 < len(token) <= MAX_TOKEN_CHARS:
        raise _incomplete(f"`X-Amz-Security-Token` must be 1 to {MAX_TOKEN_CHARS} characters")
    return SignatureMaterial(key_id, date, region, service, names, signature, amz_date, token,
                             False)  # fmt: skip


@functools.lru_cache(maxsize=64)  # one date string per second, seen by many calls
def _date_form(amz_date: str) -> bool:
    return _AMZ_DATE.fullmatch(amz_date) is not None


@functools.lru_cache(maxsize=1024)  # a client sends the same two all day; only valid ones kept
def _scope(
    credential: str, signed: str, require_host: bool
) -> tuple[str, str, str, str, tuple[str, ...]]:
    """``Credential`` and ``SignedHeaders`` checked: key id, date, region, service, names."""
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != TERMINATOR:
        raise _incomplete(
            "`Credential` must be `<access key id>/<YYYYMMDD>/<region>/<service>/aws4_request`"
        )
    key_id, date, region, service, _ = parts
    if not _KEY_ID.fullmatch(key_id):
        raise _incomplete("`Credential` does not start with an access key id")
    if not _DATE.fullmatch(date):
        raise _incomplete("the date in `Credential` must be YYYYMMDD")
    if not (_SCOPE_PART.fullmatch(region) and _SCOPE_PART.fullmatch(service)):
        raise _incomplete("the region and service in `Credential` must be lowercase names")
    names = tuple(signed.split(";"))
    if len(names) > _MAX_SIGNED_HEADERS or not all(_HEADER_NAME.fullmatch(n) for n in names):
        raise _incomplete(
            f"`SignedHeaders` must be at most {_MAX_SIGNED_HEADERS} lowercase header names "
            "separated by `;`"
        )
    if list(names) != sorted(set(names)):
        raise _incomplete("`SignedHeaders` must be sorted and without repeats")
    if require_host and "host" not in names:
        raise _incomplete("`SignedHeaders` must include `host`")
    return key_id, date, region, service, names
