"""Session tokens: round trips, the attack catalogue, rotation, cache, revocation, offline JWKS."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from authz.errors import ExpiredToken, InvalidClientTokenId, ValidationError
from authz.sts.keys import KeyRing
from authz.sts.tokens import (
    SessionClaims,
    TokenSigner,
    TokenVerifier,
    new_secret_access_key,
    new_temporary_access_key_id,
    policy_digest,
)

T0 = 1_700_000_000
ISSUER = "https://sts.authz.test"
TTL = 3600


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ring(tmp_path: Path, clock: Clock) -> KeyRing:
    return KeyRing.generate(tmp_path / "keys", max_token_ttl=TTL, skew=60, clock=clock)


@pytest.fixture
def signer(ring: KeyRing) -> TokenSigner:
    return TokenSigner(ring, ISSUER)


@pytest.fixture
def verifier(ring: KeyRing, clock: Clock) -> TokenVerifier:
    return TokenVerifier(ring, ISSUER, leeway_seconds=30, clock=clock)


def make_claims(now: int = T0, ttl: int = TTL, **changes: Any) -> SessionClaims:
    claims = SessionClaims(
        issuer=ISSUER,
        session_arn="arn:aws:sts::111122223333:assumed-role/Dev/alice",
        role_arn="arn:aws:iam::111122223333:role/Dev",
        account="111122223333",
        issued_at=now,
        expires_at=now + ttl,
        session_id="3f1c0d6e-5d2f-4a4e-9d0b-1a2b3c4d5e6f",
        assumed_role_id="AROAEXAMPLEROLEID1234:alice",
        access_key_id="ASIAABCDEFGHIJKLMNOP",
        source_identity="alice@example.com",
        session_tags={"Project": "blue", "CostCenter": "42"},
        transitive_tag_keys=("Project",),
        session_policy='{"Version":"2012-10-17","Statement":[]}',
        session_policy_arns=("arn:aws:iam::111122223333:policy/ReadOnly",),
        chain_depth=1,
        policy_revision="rev-abc123",
    )
    return replace(claims, **changes)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], payload: dict[str, Any], sign: Any = None) -> str:
    head = b64(json.dumps(header).encode()) + "." + b64(json.dumps(payload).encode())
    return head + "." + (b64(sign(head.encode())) if sign else "")


def rejects(verifier: TokenVerifier, token: str, reason: str) -> None:
    with pytest.raises(InvalidClientTokenId) as info:
        verifier.verify(token)
    assert info.value.code == "InvalidClientTokenId"
    assert info.value.message == "The security token included in the request is invalid."
    assert info.value.details["reason"] == reason


# -- round trips -----------------------------------------------------------------------------


def test_round_trip(signer: TokenSigner, verifier: TokenVerifier) -> None:
    claims = make_claims()
    assert verifier.verify(signer.sign(claims)) == claims


def test_round_trip_minimal_claims(signer: TokenSigner, verifier: TokenVerifier) -> None:
    claims = make_claims(
        source_identity=None,
        session_tags={},
        transitive_tag_keys=(),
        session_policy=None,
        session_policy_digest=policy_digest("{}"),
        session_policy_arns=(),
        chain_depth=0,
    )
    assert verifier.verify(signer.sign(claims)) == claims


def test_header_carries_kid_and_eddsa(signer: TokenSigner, ring: KeyRing) -> None:
    header = jwt.get_unverified_header(signer.sign(make_claims()))
    assert header == {"alg": "EdDSA", "kid": ring.signing_key.kid, "typ": "JWT"}


def test_claims_are_immutable_and_hashable() -> None:
    claims = make_claims()
    with pytest.raises(TypeError):
        claims.session_tags["Project"] = "red"  # type: ignore[index]
    assert hash(claims) == hash(make_claims())
    assert (claims.role_id, claims.session_name) == ("AROAEXAMPLEROLEID1234", "alice")
    assert claims.not_before == T0


def test_signer_refuses_foreign_issuer_and_bad_times(signer: TokenSigner) -> None:
    with pytest.raises(ValidationError, match="issuer"):
        signer.sign(make_claims(issuer="https://evil"))
    with pytest.raises(ValidationError, match="expires_at"):
        signer.sign(make_claims(ttl=0))


# -- attacks: each must be refused with the right code ------------------------------------------


def test_tampered_payload(signer: TokenSigner, verifier: TokenVerifier) -> None:
    head, payload, sig = signer.sign(make_claims()).split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body["role"] = "arn:aws:iam::111122223333:role/Admin"
    rejects(verifier, f"{head}.{b64(json.dumps(body).encode())}.{sig}", "signature")


def test_tampered_signature(signer: TokenSigner, verifier: TokenVerifier) -> None:
    head, payload, sig = signer.sign(make_claims()).split(".")
    flipped = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
    rejects(verifier, f"{head}.{payload}.{flipped}", "signature")


def test_signed_by_other_key_claiming_our_kid(ring: KeyRing, verifier: TokenVerifier) -> None:
    other = Ed25519PrivateKey.generate()
    token = jwt.encode(
        make_claims().to_payload(), other, algorithm="EdDSA", headers={"kid": ring.signing_key.kid}
    )
    rejects(verifier, token, "signature")


def test_alg_none(ring: KeyRing, verifier: TokenVerifier) -> None:
    header = {"alg": "none", "typ": "JWT", "kid": ring.signing_key.kid}
    rejects(verifier, forge(header, make_claims().to_payload()), "algorithm")
    rejects(verifier, forge({"alg": "none"}, make_claims().to_payload()), "algorithm")


@pytest.mark.parametrize("encoding", ["raw", "pem"])
def test_hs256_keyed_with_public_key(ring: KeyRing, verifier: TokenVerifier, encoding: str) -> None:
    public = ring.public_key(ring.signing_key.kid)
    secret = (
        public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        if encoding == "raw"
        else public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": ring.signing_key.kid}
    token = forge(header, make_claims().to_payload(), lambda m: hmac.digest(secret, m, "sha256"))
    rejects(verifier, token, "algorithm")


def test_unknown_kid(ring: KeyRing, verifier: TokenVerifier) -> None:
    payload = make_claims().to_payload()
    token = jwt.encode(payload, ring.signing_key.private_key, "EdDSA", headers={"kid": "x"})
    rejects(verifier, token, "unknown_kid")
    no_kid = jwt.encode(payload, ring.signing_key.private_key, "EdDSA")
    rejects(verifier, no_kid, "unknown_kid")


def test_crit_header_refused(ring: KeyRing, verifier: TokenVerifier) -> None:
    headers = {"kid": ring.signing_key.kid, "crit": ["exp"]}
    token = jwt.encode(make_claims().to_payload(), ring.signing_key.private_key, "EdDSA", headers)
    with pytest.raises(InvalidClientTokenId) as info:  # PyJWT itself may refuse it first
        verifier.verify(token)
    assert info.value.details["reason"] in ("crit", "malformed")


def test_expired(signer: TokenSigner, verifier: TokenVerifier, clock: Clock) -> None:
    token = signer.sign(make_claims())
    clock.now = T0 + TTL + 30  # inside leeway
    verifier.verify(token)
    clock.now = T0 + TTL + 31
    with pytest.raises(ExpiredToken) as info:
        verifier.verify(token)
    assert info.value.code == "ExpiredToken"
    assert info.value.message == "The security token included in the request is expired"


def test_expired_on_first_sight(signer: TokenSigner, verifier: TokenVerifier) -> None:
    with pytest.raises(ExpiredToken):
        verifier.verify(signer.sign(make_claims(now=T0 - 2 * TTL)))


def test_not_yet_valid(signer: TokenSigner, verifier: TokenVerifier) -> None:
    rejects(verifier, signer.sign(make_claims(not_before=T0 + 31)), "not_yet_valid")
    verifier.verify(signer.sign(make_claims(not_before=T0 + 30)))  # leeway
    rejects(verifier, signer.sign(make_claims(now=T0 + 600)), "not_yet_valid")


def test_wrong_issuer(ring: KeyRing, clock: Clock, signer: TokenSigner) -> None:
    other = TokenVerifier(ring, "https://other.issuer", clock=clock)
    rejects(other, signer.sign(make_claims()), "issuer")


def test_missing_required_claim(ring: KeyRing, verifier: TokenVerifier) -> None:
    payload = make_claims().to_payload()
    del payload["akid"]
    token = jwt.encode(
        payload, ring.signing_key.private_key, "EdDSA", {"kid": ring.signing_key.kid}
    )
    rejects(verifier, token, "malformed")


def test_mistyped_claim(ring: KeyRing, verifier: TokenVerifier) -> None:
    payload = {**make_claims().to_payload(), "tags": {"a": 1}}
    token = jwt.encode(
        payload, ring.signing_key.private_key, "EdDSA", {"kid": ring.signing_key.kid}
    )
    rejects(verifier, token, "claims")


@pytest.mark.parametrize(
    "garbage",
    ["", "abc", "a.b.c", "..", "x" * 20000, "eyJhbGciOiJ9.e30.", "WzFd.e30.AA", "e30.e30.e30.e30"],
)
def test_garbage(verifier: TokenVerifier, garbage: str) -> None:
    with pytest.raises(InvalidClientTokenId):
        verifier.verify(garbage)


def test_revoked_session_including_cached(ring: KeyRing, clock: Clock, signer: TokenSigner) -> None:
    revoked: set[str] = set()
    verifier = TokenVerifier(
        ring, ISSUER, clock=clock, is_revoked=lambda c: c.session_id in revoked
    )
    token = signer.sign(make_claims())
    verifier.verify(token)  # now cached
    revoked.add(make_claims().session_id)
    rejects(verifier, token, "revoked")
    revoked.clear()
    verifier.verify(token)


# -- cache -------------------------------------------------------------------------------------


def test_repeat_verification_is_cached(
    signer: TokenSigner, verifier: TokenVerifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = signer.sign(make_claims())
    first = verifier.verify(token)
    monkeypatch.setattr(jwt, "decode", lambda *a, **k: pytest.fail("decoded again"))
    assert verifier.verify(token) is first
    assert (verifier.hits, verifier.misses) == (1, 1)


def test_cache_is_bounded(ring: KeyRing, clock: Clock, signer: TokenSigner) -> None:
    verifier = TokenVerifier(ring, ISSUER, clock=clock, cache_size=2)
    tokens = [signer.sign(make_claims(session_id=str(i))) for i in range(3)]
    for token in tokens:
        verifier.verify(token)
    verifier.verify(tokens[0])  # evicted (least recently used): verified again
    assert verifier.misses == 4 and verifier.hits == 0
    verifier.verify(tokens[2])
    assert verifier.hits == 1


# -- rotation ----------------------------------------------------------------------------------


def test_rotation(
    ring: KeyRing, clock: Clock, signer: TokenSigner, verifier: TokenVerifier
) -> None:
    old_kid = ring.signing_key.kid
    before = signer.sign(make_claims())
    cached = signer.sign(make_claims(session_id="cached"))
    verifier.verify(cached)

    clock.now = T0 + 10
    new_kid = ring.rotate().kid
    after = signer.sign(make_claims(now=T0 + 10))
    assert jwt.get_unverified_header(after)["kid"] == new_kid != old_kid
    assert verifier.verify(before).session_id == make_claims().session_id
    verifier.verify(after)

    clock.now = T0 + TTL + 31  # old tokens have expired, the old key still verifies
    assert ring.prune() == []
    with pytest.raises(ExpiredToken):
        verifier.verify(before)
    clock.now = T0 + 10 + TTL + 60  # old key's not_after: nothing it signed can be live
    assert ring.prune() == [old_kid]
    rejects(verifier, cached, "unknown_kid")  # a cached token dies with its key
    assert [k["kid"] for k in ring.jwks()["keys"]] == [new_kid]


def test_verifier_follows_rotation_by_another_process(
    ring: KeyRing, clock: Clock, verifier: TokenVerifier
) -> None:
    other_ring = KeyRing.load(ring.directory, clock=clock)
    other_ring.rotate()
    token = TokenSigner(other_ring, ISSUER).sign(make_claims())
    assert verifier.verify(token) == make_claims()


def test_signer_follows_rotation_by_another_process(
    ring: KeyRing, clock: Clock, signer: TokenSigner, verifier: TokenVerifier
) -> None:
    new_kid = KeyRing.load(ring.directory, clock=clock).rotate().kid  # `authz keys rotate`
    clock.now += 1  # the ring re-reads index.json at most once per refresh_interval (1 s)
    token = signer.sign(make_claims(now=int(clock.now)))
    assert jwt.get_unverified_header(token)["kid"] == new_kid
    assert verifier.verify(token).issued_at == int(clock.now)


# -- offline verification: PyJWT and the JWKS only --------------------------------------------


def test_offline_verification_with_jwks_only(ring: KeyRing) -> None:
    now = int(time.time())
    ring.rotate()  # two keys in the set: the verifier must pick by kid
    token = TokenSigner(ring, ISSUER).sign(make_claims(now=now))
    published = json.dumps(ring.jwks())  # what GetSigningKeys serves

    # --- from here on: no authz code, just PyJWT ---
    jwks = json.loads(published)
    kid = jwt.get_unverified_header(token)["kid"]
    (jwk,) = [k for k in jwks["keys"] if k["kid"] == kid]
    key = jwt.PyJWK(jwk)
    payload = jwt.decode(token, key=key, algorithms=["EdDSA"], issuer=ISSUER)
    assert payload["sub"] == "arn:aws:sts::111122223333:assumed-role/Dev/alice"
    assert payload["tags"] == {"Project": "blue", "CostCenter": "42"}
    with pytest.raises(jwt.InvalidAlgorithmError):
        jwt.decode(token, key=key, algorithms=["HS256"])


# -- temporary credentials -------------------------------------------------------------------


def test_temporary_credential_shapes() -> None:
    ids = {new_temporary_access_key_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(re.fullmatch(r"ASIA[A-Z2-7]{16}", i) for i in ids)
    secret = new_secret_access_key()
    assert re.fullmatch(r"[A-Za-z0-9+/]{40}", secret)
    assert new_secret_access_key() != secret
    assert policy_digest("{}") == "sha256:" + hashlib.sha256(b"{}").hexdigest()
