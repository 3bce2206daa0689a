"""Session secrets: derived from the signing key and the session, never stored, and the
verifier derives the same one from the token (proof of possession for signed session calls)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from authz.errors import InvalidClientTokenId
from authz.sts.keys import KeyRing
from authz.sts.tokens import TokenSigner, TokenVerifier
from tests.unit.test_tokens import ISSUER, TTL, Clock, make_claims


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ring(tmp_path: Path, clock: Clock) -> KeyRing:
    return KeyRing.generate(tmp_path / "keys", max_token_ttl=TTL, skew=60, clock=clock)


def test_issued_secret_is_derived_again_from_the_token(ring: KeyRing, clock: Clock) -> None:
    token, secret = TokenSigner(ring, ISSUER).issue(make_claims())
    assert re.fullmatch(r"[A-Za-z0-9+/]{40}", secret)
    claims, derived = TokenVerifier(ring, ISSUER, clock=clock).session_secret(token)
    assert derived == secret and claims.access_key_id == "ASIAABCDEFGHIJKLMNOP"
    assert secret not in token  # the token (readable JWS) does not carry it


def test_each_session_has_its_own_secret(ring: KeyRing) -> None:
    signer = TokenSigner(ring, ISSUER)
    first = signer.issue(make_claims())[1]
    other_session = signer.issue(make_claims(session_id="another-session"))[1]
    other_key = signer.issue(make_claims(access_key_id="ASIAZZZZZZZZZZZZZZZZ"))[1]
    assert len({first, other_session, other_key}) == 3


def test_secret_depends_on_the_ring_private_key(tmp_path: Path, ring: KeyRing) -> None:
    other = KeyRing.generate(tmp_path / "other", max_token_ttl=TTL, skew=60)
    assert (
        TokenSigner(ring, ISSUER).issue(make_claims())[1]
        != (TokenSigner(other, ISSUER).issue(make_claims())[1])
    )


def test_secret_survives_rotation_while_the_old_key_verifies(ring: KeyRing, clock: Clock) -> None:
    token, secret = TokenSigner(ring, ISSUER).issue(make_claims())
    ring.rotate()
    assert TokenVerifier(ring, ISSUER, clock=clock).session_secret(token)[1] == secret
    _, new_secret = TokenSigner(ring, ISSUER).issue(make_claims())
    assert new_secret != secret  # a new signing key derives other secrets


def test_cached_tokens_still_derive_the_secret(ring: KeyRing, clock: Clock) -> None:
    verifier = TokenVerifier(ring, ISSUER, clock=clock)
    token, secret = TokenSigner(ring, ISSUER).issue(make_claims())
    verifier.verify(token)  # now cached
    assert verifier.session_secret(token)[1] == secret
    assert verifier.hits == 1


def test_a_forged_token_yields_no_secret(ring: KeyRing, clock: Clock) -> None:
    token, _ = TokenSigner(ring, ISSUER).issue(make_claims())
    head, payload, signature = token.split(".")
    with pytest.raises(InvalidClientTokenId):
        TokenVerifier(ring, ISSUER, clock=clock).session_secret(f"{head}.{payload}x.{signature}")


def test_sign_still_returns_the_token(ring: KeyRing) -> None:
    claims = make_claims()
    assert TokenSigner(ring, ISSUER).sign(claims).count(".") == 2
    assert replace(claims) == claims
