"""Web identity token verification: a compact JWS from an OIDC issuer → ``VerifiedToken``.

Owns the order of the checks and the AWS error each one raises (``InvalidIdentityToken``,
``ExpiredToken``, ``IDPRejectedClaim``; ``IDPCommunicationError`` comes from the key source):

1. the token's size and shape (three base64url parts, a JSON header) — nothing is trusted yet;
2. the header's ``alg`` is an asymmetric signature algorithm (never ``none`` nor ``HS*``);
3. the unverified ``iss`` names a provider of the role's account (``find_provider``);
4. the key: by ``kid`` in the provider's key set, and the key's pinned ``alg`` must be the
   header's (a header cannot make an RSA key verify an HMAC);
5. the signature, then ``exp`` / ``nbf`` / ``iat`` with ``leeway`` seconds, then ``iss`` again
   (verified now) and ``aud`` (the ``azp`` claim when present, as AWS reads it) in the
   provider's ``ClientIDList``, and a ``sub``.

Imports neither grpc nor cedarpy.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
import jwt.algorithms

from authz.errors import ExpiredToken, IDPRejectedClaim, InvalidIdentityToken
from authz.oidc.jwks import ALGORITHMS, KeySet

MAX_TOKEN_CHARS = 20000  # AWS: WebIdentityToken length 4..20000
MAX_HEADER_CHARS = 2048
DEFAULT_LEEWAY_SECONDS = 60
MAX_SUBJECT_CHARS = 255


@dataclass(frozen=True)
class VerifiedToken:
    """The facts of a verified token AWS hands to the trust policy and the response."""

    issuer: str
    subject: str
    audience: str  # the ``:aud`` value: ``azp`` when present, else the matching ``aud``
    other_audiences: tuple[str, ...]  # ``:oaud``: the ``aud`` values when ``azp`` is present
    amr: tuple[str, ...]
    claims: Mapping[str, Any]
    issued_at: int | None
    expires_at: int


@dataclass(frozen=True)
class ParsedToken:
    """A compact JWS split and decoded once (nothing verified yet)."""

    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes


_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")  # base64url without padding; linear-time
# PyJWT's algorithm objects (they convert ECDSA's raw r||s to DER); never "none" or HS*.
_VERIFIERS = {name: jwt.algorithms.get_default_algorithms()[name] for name in ALGORITHMS}


def _segment(text: str, what: str) -> bytes:
    if not _SEGMENT.fullmatch(text):
        raise InvalidIdentityToken(f"The web identity token's {what} is not base64url.")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise InvalidIdentityToken(f"The web identity token's {what} is not JSON: {err}") from err
    if not isinstance(value, dict):
        raise InvalidIdentityToken(f"The web identity token's {what} is not a JSON object.")
    return value


def parse_token(token: str) -> ParsedToken:
    """Split and decode a compact JWS once; ``InvalidIdentityToken`` when malformed."""
    parts = token.split(".")
    if len(parts) != 3 or len(parts[0]) > MAX_HEADER_CHARS:
        raise InvalidIdentityToken("The web identity token is not a JSON Web Token (JWS).")
    header = _object(_segment(parts[0], "header"), "header")
    payload = _object(_segment(parts[1], "payload"), "payload")
    signature = _segment(parts[2], "signature")
    return ParsedToken(header, payload, f"{parts[0]}.{parts[1]}".encode("ascii"), signature)


def check_algorithm(header: Mapping[str, Any]) -> tuple[str, str | None]:
    """(alg, kid) of a header; ``InvalidIdentityToken`` for ``none``, HMAC or anything else
    that is not an asymmetric signature algorithm, and for a header with ``jku``/``x5u``/
    ``jwk`` (keys are the provider's, never the token's)."""
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ALGORITHMS:
        raise InvalidIdentityToken(
            f"The web identity token's signature algorithm `{alg}` is not allowed: use one of "
            + ", ".join(sorted(ALGORITHMS))
        )
    for name in ("jku", "x5u", "jwk", "x5c"):
        if name in header:
            raise InvalidIdentityToken(
                f"The web identity token's header names its own key (`{name}`): keys come "
                "from the provider's key set only"
            )
    if header.get("crit"):
        raise InvalidIdentityToken("The web identity token's header has critical extensions.")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise InvalidIdentityToken("The web identity token's `kid` is not a string.")
    return alg, kid


def issuer_of(payload: Mapping[str, Any]) -> str:
    iss = payload.get("iss")
    if not isinstance(iss, str) or not iss:
        raise InvalidIdentityToken("The web identity token has no `iss` claim.")
    return iss


def verify_token(
    token: ParsedToken,
    *,
    issuer: str,
    client_ids: frozenset[str],
    key_set: Callable[[str | None], KeySet],
    now: float,
    leeway: int = DEFAULT_LEEWAY_SECONDS,
) -> VerifiedToken:
    """Verify ``token`` (its header already checked by ``check_algorithm``) against the key
    ``key_set(kid)`` returns; see the module docstring."""
    alg, kid = check_algorithm(token.header)
    key = key_set(kid).find(kid, alg)
    if key is None:
        raise InvalidIdentityToken(
            "The web identity token's key is not in the provider's key set"
            + (f" (kid `{kid}`, alg `{alg}`)" if kid else f" (alg `{alg}`, no kid)")
        )
    try:
        valid = _VERIFIERS[key.alg].verify(token.signing_input, key.key, token.signature)
    except (ValueError, TypeError):
        valid = False
    if not valid:
        raise InvalidIdentityToken("The web identity token's signature does not verify.")
    payload = token.payload
    for claim in ("exp", "iss", "sub"):
        if payload.get(claim) is None:
            raise InvalidIdentityToken(f"The web identity token has no `{claim}` claim.")
    _check_times(payload, now, leeway)
    if payload.get("iss") != issuer:
        raise InvalidIdentityToken("The web identity token's issuer is not the provider's URL.")
    subject = payload.get("sub")
    if not isinstance(subject, str) or not 0 < len(subject) <= MAX_SUBJECT_CHARS:
        raise InvalidIdentityToken(
            f"The web identity token's `sub` must be a string of 1 to {MAX_SUBJECT_CHARS} "
            "characters."
        )
    audience, others = _audience(payload, client_ids)
    return VerifiedToken(
        issuer=issuer,
        subject=subject,
        audience=audience,
        other_audiences=others,
        amr=_strings(payload.get("amr")),
        claims=payload,
        issued_at=payload.get("iat") if isinstance(payload.get("iat"), int) else None,
        expires_at=int(payload["exp"]),
    )


def _number(payload: Mapping[str, Any], name: str) -> int | None:
    value = payload.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidIdentityToken(f"The web identity token's `{name}` is not a number.")
    return int(value)


def _check_times(payload: Mapping[str, Any], now: float, leeway: int) -> None:
    exp = _number(payload, "exp")
    nbf = _number(payload, "nbf")
    iat = _number(payload, "iat")
    current = int(now)
    if exp is not None and current >= exp + leeway:
        raise ExpiredToken(
            f"Token expired: current date/time {current} must be before the expiration "
            f"date/time {exp}"
        )
    if nbf is not None and current + leeway < nbf:
        raise InvalidIdentityToken(
            f"The web identity token is not valid yet: `nbf` {nbf} is after the current "
            f"date/time {current}"
        )
    if iat is not None and current + leeway < iat:
        raise InvalidIdentityToken(
            f"The web identity token was issued in the future: `iat` {iat}, current "
            f"date/time {current}"
        )


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str))
    return ()


def _audience(
    payload: Mapping[str, Any], client_ids: frozenset[str]
) -> tuple[str, tuple[str, ...]]:
    """AWS: with an ``azp`` claim, ``:aud`` is ``azp`` and ``:oaud`` the ``aud`` values; else
    ``:aud`` is the ``aud`` value that is a registered client id."""
    auds = _strings(payload.get("aud"))
    azp = payload.get("azp")
    if isinstance(azp, str) and azp:
        if azp not in client_ids:
            raise InvalidIdentityToken("Incorrect token audience")
        return azp, auds
    matching = [a for a in auds if a in client_ids]
    if not matching:
        raise InvalidIdentityToken("Incorrect token audience")
    return matching[0], ()


def session_tags_claim(payload: Mapping[str, Any]) -> tuple[list[tuple[str, str]], list[str]]:
    """Session tags of the ``https://aws.amazon.com/tags`` claim: ``principal_tags`` (each
    value a one-element list, as AWS reads it) and ``transitive_tag_keys``. A claim of the
    wrong shape is ``IDPRejectedClaim``; the tag rules themselves are the AssumeRole ones."""
    claim = payload.get("https://aws.amazon.com/tags")
    if claim is None:
        return [], []
    if not isinstance(claim, Mapping):
        raise IDPRejectedClaim("The `https://aws.amazon.com/tags` claim must be an object.")
    raw_tags = claim.get("principal_tags", {})
    if not isinstance(raw_tags, Mapping):
        raise IDPRejectedClaim("`principal_tags` of the tags claim must be an object.")
    tags: list[tuple[str, str]] = []
    for key, value in raw_tags.items():
        if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str):
            tags.append((str(key), value[0]))
        elif isinstance(value, str):
            tags.append((str(key), value))
        else:
            raise IDPRejectedClaim(
                f"Session tag {json.dumps(str(key))} of the tags claim must have exactly one "
                "string value."
            )
    transitive = claim.get("transitive_tag_keys", [])
    if not isinstance(transitive, list) or not all(isinstance(k, str) for k in transitive):
        raise IDPRejectedClaim("`transitive_tag_keys` of the tags claim must list strings.")
    return tags, list(transitive)
