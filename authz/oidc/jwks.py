"""JWKS documents → ``KeySet``: the signing keys of an OpenID Connect issuer.

Owns what a key set may hold and the bounds on it (document bytes, key count, key size), for a
JWKS written into the repository (checked by the loader, each problem naming the field) and one
fetched over HTTPS (``authz.oidc.fetch``). Only asymmetric keys are kept (RSA of 2048 to 8192
bits, EC P-256/P-384/P-521): a JWKS is public, so a symmetric ``oct`` key in it would let anyone
sign (the HS256-with-public-key confusion). Each key's algorithm is pinned when the set is built
(its ``alg``, else the one its type implies), so a token's header can never choose how a key is
used. Imports neither grpc nor cedarpy.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

MAX_JWKS_BYTES = 64 * 1024
MAX_KEYS = 32
MIN_RSA_BITS = 2048
MAX_RSA_BITS = 8192
# Signature algorithms a token may use (asymmetric only; never ``none`` nor HS*).
RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
EC_ALGORITHMS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
ALGORITHMS = RSA_ALGORITHMS | frozenset(EC_ALGORITHMS.values())


class JwksError(ValueError):
    """A JWKS document or one of its keys is not usable; ``path`` is a JSON path in it."""

    def __init__(self, message: str, path: str = "$") -> None:
        super().__init__(message)
        self.message = message
        self.path = path


@dataclass(frozen=True)
class SigningKey:
    """One key; equal to another with the same ``kid``, ``alg`` and public key (``der``)."""

    kid: str | None
    alg: str
    key: Any = field(compare=False)  # the cryptography public key
    der: bytes = b""  # its SubjectPublicKeyInfo: what equality compares


@dataclass(frozen=True)
class KeySet:
    keys: tuple[SigningKey, ...]

    def find(self, kid: str | None, alg: str) -> SigningKey | None:
        """The key a token header names: by ``kid`` when it has one (its pinned ``alg`` must be
        the header's), else the only key pinned to ``alg``. None when no key fits."""
        if kid is not None:
            found = [k for k in self.keys if k.kid == kid]
        else:
            found = [k for k in self.keys if k.alg == alg]
            if len(found) != 1:
                return None
        if len(found) != 1 or found[0].alg != alg:
            return None
        return found[0]

    def has_kid(self, kid: str | None) -> bool:
        return kid is not None and any(k.kid == kid for k in self.keys)


def parse_jwks_bytes(raw: bytes, limit: int = MAX_JWKS_BYTES) -> KeySet:
    """A fetched JWKS document (bytes) → ``KeySet``; ``JwksError`` naming the problem."""
    if len(raw) > limit:
        raise JwksError(f"JWKS document is larger than {limit} bytes (the limit)")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise JwksError(f"JWKS document is not JSON: {err}") from err
    return parse_jwks(data)


def parse_jwks(data: Any) -> KeySet:
    """A decoded JWKS object ``{"keys": [...]}`` → ``KeySet``."""
    if not isinstance(data, Mapping) or not isinstance(data.get("keys"), list):
        raise JwksError("a JWKS must be an object with a `keys` list")
    entries = data["keys"]
    if not entries:
        raise JwksError("the JWKS holds no keys", "$.keys")
    if len(entries) > MAX_KEYS:
        raise JwksError(f"the JWKS holds {len(entries)} keys, more than {MAX_KEYS} (the limit)",
                        "$.keys")  # fmt: skip
    keys: list[SigningKey] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        key = _signing_key(entry, f"$.keys[{i}]")
        if key is None:
            continue  # an encryption key (`use: enc`) is no signing key
        if key.kid is not None:
            if key.kid in seen:
                raise JwksError(f"`kid` {key.kid!r} appears twice", f"$.keys[{i}].kid")
            seen.add(key.kid)
        keys.append(key)
    if not keys:
        raise JwksError("the JWKS holds no signing keys", "$.keys")
    return KeySet(tuple(keys))


def _signing_key(entry: Any, path: str) -> SigningKey | None:
    if not isinstance(entry, Mapping):
        raise JwksError("a key must be an object", path)
    if entry.get("use") not in (None, "sig"):
        return None
    kty = entry.get("kty")
    kid = entry.get("kid")
    if kid is not None and (not isinstance(kid, str) or not 0 < len(kid) <= 256):
        raise JwksError("`kid` must be a string of 1 to 256 characters", f"{path}.kid")
    if kty == "RSA":
        alg = entry.get("alg", "RS256")
        if alg not in RSA_ALGORITHMS:
            raise JwksError(f"`alg` {alg!r} is not an RSA signature algorithm", f"{path}.alg")
    elif kty == "EC":
        alg = EC_ALGORITHMS.get(str(entry.get("crv")), "")
        if not alg:
            raise JwksError(f"curve {entry.get('crv')!r} is not supported", f"{path}.crv")
        if entry.get("alg", alg) != alg:
            raise JwksError(f"`alg` {entry.get('alg')!r} does not fit curve {entry.get('crv')}",
                            f"{path}.alg")  # fmt: skip
    else:
        raise JwksError(
            f"key type {kty!r} is not allowed: only RSA and EC public keys (never `oct`)",
            f"{path}.kty",
        )
    if any(name in entry for name in ("d", "p", "q", "dp", "dq", "qi")):
        raise JwksError("the key holds private key material", path)
    try:
        public = jwt.PyJWK(dict(entry), algorithm=alg).key
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError) as err:
        raise JwksError(f"not a valid {kty} public key: {err}", path) from err
    if isinstance(public, rsa.RSAPublicKey):
        if not MIN_RSA_BITS <= public.key_size <= MAX_RSA_BITS:
            raise JwksError(f"RSA key of {public.key_size} bits: allowed are {MIN_RSA_BITS} to "
                            f"{MAX_RSA_BITS}", path)  # fmt: skip
    elif not isinstance(public, ec.EllipticCurvePublicKey):
        raise JwksError("not a public key", path)
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return SigningKey(kid, alg, public, der)
