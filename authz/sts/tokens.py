"""Session tokens: the claims of a role session, signing them as a JWS, verifying them.

Owns the token format (claim names below), the algorithm allow-list (EdDSA only), the
verified-token cache and the temporary credential generators. Keys come from ``keys.KeyRing``;
this module must not import grpc or cedarpy. Failures raise ``InvalidClientTokenId`` (bad,
unknown, tampered, not yet valid, revoked) or ``ExpiredToken``; the message is the AWS one and
never contains the token. ``details["reason"]`` says why, for logs and metrics.

Claim names: iss, sub (session ARN), iat, nbf, exp, jti (session id), role, acct, arid
(assumed role id ``AROA…:session``), akid (``ASIA…``), srcid, tags, ttk (transitive tag keys),
sp (inline session policy), spd (its SHA-256 digest), spa (session policy ARNs), chain, rev,
mfa (epoch seconds of the MFA check behind the session; absent when no MFA was used), src (the
roles of the earlier links of a chain, oldest first, as ``[role ARN, RoleId]`` pairs: a chained
session is bound to every role of its chain; absent when ``chain`` is 0).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

import jwt

from authz.errors import ExpiredToken, InvalidClientTokenId, ValidationError
from authz.sizedcache import SizedLRU, approx_size
from authz.sts import randomness
from authz.sts.keys import KeyRing
from authz.sts.session_secret import derive_session_secret

__all__ = [
    "ALGORITHM",
    "SessionClaims",
    "TokenSigner",
    "TokenVerifier",
    "new_secret_access_key",
    "new_temporary_access_key_id",
    "policy_digest",
]

ALGORITHM = "EdDSA"
MAX_TOKEN_CHARS = 16384
_REQUIRED = ("iss", "sub", "iat", "nbf", "exp", "jti", "role", "acct", "arid", "akid")
T = TypeVar("T")
_B64URL = re.compile(r"[A-Za-z0-9_-]+")


def new_temporary_access_key_id() -> str:
    """``ASIA`` + 16 random characters of ``[A-Z2-7]`` (80 bits)."""
    return "ASIA" + base64.b32encode(randomness.token_bytes(10)).decode("ascii")


def new_secret_access_key() -> str:
    """40 random characters of ``[A-Za-z0-9+/]`` (240 bits), the shape of an AWS secret."""
    # base64 of 30 bytes is exactly 40 characters of that alphabet, ~100x cheaper than 40
    # secrets.choice calls (measured 150 µs → 1.5 µs; it sits on the AssumeRole path). The
    # bytes come from the kernel CSPRNG through ``randomness`` (one syscall per 4 KiB).
    return base64.b64encode(randomness.token_bytes(30)).decode("ascii")


def policy_digest(policy_text: str) -> str:
    """``sha256:<hex>`` of a session policy's text, for tokens that carry a reference only."""
    return "sha256:" + hashlib.sha256(policy_text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class SessionClaims:
    """What a session token asserts. Times are integer epoch seconds; the object is immutable
    (tags are a read-only mapping) so one instance can be shared from the verifier's cache."""

    issuer: str
    session_arn: str  # arn:aws:sts::ACCT:assumed-role/ROLE/SESSION
    role_arn: str
    account: str
    issued_at: int
    expires_at: int
    session_id: str  # jti
    assumed_role_id: str  # "<RoleId>:<RoleSessionName>"
    access_key_id: str  # ASIA…
    not_before: int | None = None  # defaults to issued_at
    source_identity: str | None = None
    session_tags: Mapping[str, str] = field(default_factory=dict, hash=False)
    transitive_tag_keys: tuple[str, ...] = ()
    session_policy: str | None = None  # inline JSON text
    session_policy_digest: str | None = None
    session_policy_arns: tuple[str, ...] = ()
    chain_depth: int = 0
    policy_revision: str = ""
    mfa_authenticated_at: int | None = None  # when MFA was verified (this or an earlier link)
    # (role ARN, RoleId) of each earlier link of a chain, oldest first; () for a first session
    source_roles: tuple[tuple[str, str], ...] = ()
    # the IAM OIDC provider ARN of a session from AssumeRoleWithWebIdentity (aws:FederatedProvider)
    federated_provider: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "session_tags", MappingProxyType(dict(self.session_tags)))
        object.__setattr__(self, "transitive_tag_keys", tuple(self.transitive_tag_keys))
        object.__setattr__(self, "session_policy_arns", tuple(self.session_policy_arns))
        object.__setattr__(self, "source_roles", tuple(tuple(r) for r in self.source_roles))
        if self.not_before is None:
            object.__setattr__(self, "not_before", self.issued_at)

    @property
    def role_id(self) -> str:
        return self.assumed_role_id.partition(":")[0]

    @property
    def session_name(self) -> str:
        return self.assumed_role_id.partition(":")[2]

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "sub": self.session_arn,
            "iat": self.issued_at,
            "nbf": self.not_before,
            "exp": self.expires_at,
            "jti": self.session_id,
            "role": self.role_arn,
            "acct": self.account,
            "arid": self.assumed_role_id,
            "akid": self.access_key_id,
            "chain": self.chain_depth,
            "rev": self.policy_revision,
        }
        optional: dict[str, Any] = {
            "srcid": self.source_identity,
            "tags": dict(self.session_tags) or None,
            "ttk": list(self.transitive_tag_keys) or None,
            "sp": self.session_policy,
            "spd": self.session_policy_digest,
            "spa": list(self.session_policy_arns) or None,
            "mfa": self.mfa_authenticated_at,
            "src": [list(r) for r in self.source_roles] or None,
            "fedp": self.federated_provider,
        }
        payload.update({k: v for k, v in optional.items() if v is not None})
        return payload

    @classmethod
    def from_payload(cls, p: Mapping[str, Any]) -> SessionClaims:
        """Build from a verified payload; ``ValueError`` if a claim is missing or mistyped."""
        missing = [name for name in _REQUIRED if name not in p]
        if missing:
            raise ValueError(f"missing claims {missing}")
        tags = p.get("tags", {})
        if not isinstance(tags, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
        ):
            raise ValueError("`tags` must map strings to strings")
        return cls(
            issuer=_typed(p, "iss", str),
            session_arn=_typed(p, "sub", str),
            role_arn=_typed(p, "role", str),
            account=_typed(p, "acct", str),
            issued_at=_typed(p, "iat", int),
            expires_at=_typed(p, "exp", int),
            not_before=_typed(p, "nbf", int),
            session_id=_typed(p, "jti", str),
            assumed_role_id=_typed(p, "arid", str),
            access_key_id=_typed(p, "akid", str),
            source_identity=_optional(p, "srcid", str),
            session_tags=tags,
            transitive_tag_keys=_str_tuple(p, "ttk"),
            session_policy=_optional(p, "sp", str),
            session_policy_digest=_optional(p, "spd", str),
            session_policy_arns=_str_tuple(p, "spa"),
            chain_depth=_typed(p, "chain", int) if "chain" in p else 0,
            policy_revision=_typed(p, "rev", str) if "rev" in p else "",
            mfa_authenticated_at=_optional(p, "mfa", int),
            source_roles=_role_pairs(p, "src"),
            federated_provider=_optional(p, "fedp", str),
        )


def _typed(p: Mapping[str, Any], name: str, kind: type[T]) -> T:
    value = p[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ValueError(f"claim `{name}` must be {kind.__name__}")
    return value


def _optional(p: Mapping[str, Any], name: str, kind: type[T]) -> T | None:
    return _typed(p, name, kind) if p.get(name) is not None else None


def _str_tuple(p: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = p.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"claim `{name}` must be a list of strings")
    return tuple(value)


def _role_pairs(p: Mapping[str, Any], name: str) -> tuple[tuple[str, str], ...]:
    value = p.get(name, [])
    if not isinstance(value, list) or not all(
        isinstance(v, list) and len(v) == 2 and all(isinstance(x, str) for x in v) for v in value
    ):
        raise ValueError(f"claim `{name}` must be a list of [role ARN, RoleId] pairs")
    return tuple((v[0], v[1]) for v in value)


class TokenSigner:
    """Signs ``SessionClaims`` with the ring's current signing key (EdDSA, header ``kid``)."""

    def __init__(self, keyring: KeyRing, issuer: str) -> None:
        self._keyring = keyring
        self._issuer = issuer

    def sign(self, claims: SessionClaims) -> str:
        return self.issue(claims)[0]

    def issue(self, claims: SessionClaims) -> tuple[str, str]:
        """The signed token and the session's secret access key, derived from the key that
        signed it (``authz.sts.session_secret``): the server can derive it again from the
        token and nothing is stored."""
        if claims.issuer != self._issuer:
            raise ValidationError(f"token issuer `{claims.issuer}` is not `{self._issuer}`")
        if claims.expires_at <= claims.issued_at:
            raise ValidationError("token `expires_at` must be after `issued_at`")
        self._keyring.maybe_refresh()  # follow a rotation made by another process
        key = self._keyring.signing_key
        token = jwt.encode(
            claims.to_payload(),
            key.private_key,
            algorithm=ALGORITHM,
            headers={"kid": key.kid, "typ": "JWT"},
        )
        secret = derive_session_secret(
            self._keyring, key.kid, claims.session_id, claims.access_key_id
        )
        return token, secret


@dataclass(frozen=True, slots=True)
class _Cached:
    claims: SessionClaims
    kid: str


def _invalid(reason: str) -> InvalidClientTokenId:
    return InvalidClientTokenId(reason=reason)


def _unverified_header(token: str) -> dict[str, Any]:
    """The JOSE header, only to pick the key; PyJWT re-reads and checks all of it afterwards.

    Parsed here because ``jwt.get_unverified_header`` validates the whole token's base64
    character by character (~120 µs measured), which ``jwt.decode`` then does again.
    """
    segment = token.partition(".")[0]
    if token.count(".") != 2 or not _B64URL.fullmatch(segment):
        raise _invalid("malformed")
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, RecursionError) as err:  # binascii.Error, JSON and UTF-8 errors
        raise _invalid("malformed") from err
    if not isinstance(header, dict):
        raise _invalid("malformed")
    return header


class TokenVerifier:
    """Verifies session tokens against a ``KeyRing``; caches verified tokens until expiry.

    ``is_revoked(claims)`` (optional) runs on every call, cached or not. The cache holds at most
    ``cache_size`` tokens and ``cache_bytes`` of tokens and claims (LRU, approximate sizes:
    a token carries its session policy and tags); a cached token is dropped when it expires or
    when its key stops verifying (pruned or removed from the ring). Thread-safe.
    """

    def __init__(
        self,
        keyring: KeyRing,
        issuer: str,
        leeway_seconds: int = 30,
        clock: Callable[[], float] = time.time,
        *,
        is_revoked: Callable[[SessionClaims], bool] | None = None,
        cache_size: int = 10000,
        cache_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        self._keyring = keyring
        self._issuer = issuer
        self._leeway = leeway_seconds
        self._clock = clock
        self._is_revoked = is_revoked
        self._cache: SizedLRU[str, _Cached] = SizedLRU(cache_bytes, max_entries=cache_size)
        self.hits = 0
        self.misses = 0

    def verify(self, token: str) -> SessionClaims:
        return self.verify_signed(token)[0]

    def session_secret(self, token: str) -> tuple[SessionClaims, str]:
        """The verified claims and the session's secret access key, derived again from the
        key that signed the token (``authz.sts.session_secret``)."""
        claims, kid = self.verify_signed(token)
        try:
            secret = derive_session_secret(
                self._keyring, kid, claims.session_id, claims.access_key_id
            )
        except KeyError:
            raise _invalid("unknown_kid") from None
        return claims, secret

    def verify_signed(self, token: str) -> tuple[SessionClaims, str]:
        """The verified claims and the ``kid`` of the key that signed the token."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
            raise _invalid("malformed")
        now = self._clock()
        self._keyring.maybe_refresh()  # see keys removed or retired by another process
        cached = self._cache_get(token)
        if cached is not None and self._key_verifies(cached.kid):
            self.hits += 1
            claims, kid = cached.claims, cached.kid
        else:
            self.misses += 1
            claims, kid = self._verify_signature(token)
            self._check_times(claims, now)
            self._cache_put(token, _Cached(claims, kid))
        if now > claims.expires_at + self._leeway:
            self._cache_drop(token)
            raise ExpiredToken(reason="expired")
        if self._is_revoked is not None and self._is_revoked(claims):
            raise _invalid("revoked")
        return claims, kid

    def clear_cache(self) -> None:
        self._cache.clear()

    def _key_verifies(self, kid: str) -> bool:
        try:
            self._keyring.public_key(kid)
        except KeyError:
            return False
        return True

    def _verify_signature(self, token: str) -> tuple[SessionClaims, str]:
        header = _unverified_header(token)
        alg, kid = header.get("alg"), header.get("kid")
        if alg != ALGORITHM:
            raise _invalid("algorithm")
        if "crit" in header:
            raise _invalid("crit")
        if not isinstance(kid, str):
            raise _invalid("unknown_kid")
        try:
            key = self._keyring.public_key(kid)
        except KeyError:
            if not self._keyring.refresh():  # another process may have rotated
                raise _invalid("unknown_kid") from None
            try:
                key = self._keyring.public_key(kid)
            except KeyError:
                raise _invalid("unknown_kid") from None
        try:
            payload = jwt.decode(
                token,
                key=key,
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                options={
                    "verify_signature": True,
                    "verify_exp": False,  # checked below with the injectable clock
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": False,
                    "require": list(_REQUIRED),
                },
            )
        except jwt.InvalidIssuerError as err:
            raise _invalid("issuer") from err
        except jwt.InvalidSignatureError as err:
            raise _invalid("signature") from err
        except jwt.PyJWTError as err:
            raise _invalid("malformed") from err
        try:
            return SessionClaims.from_payload(payload), kid
        except ValueError as err:
            raise _invalid("claims") from err

    def _check_times(self, claims: SessionClaims, now: float) -> None:
        assert claims.not_before is not None  # set by __post_init__
        if now + self._leeway < claims.not_before:
            raise _invalid("not_yet_valid")
        if now + self._leeway < claims.issued_at:
            raise _invalid("issued_in_future")
        if now > claims.expires_at + self._leeway:
            raise ExpiredToken(reason="expired")

    def _cache_get(self, token: str) -> _Cached | None:
        return self._cache.get(token)

    def _cache_put(self, token: str, entry: _Cached) -> None:
        self._cache.put(token, entry, size=2 * len(token) + approx_size(entry.claims))

    def _cache_drop(self, token: str) -> None:
        self._cache.pop(token)
