"""Micro benchmarks: building a snapshot of 10 / 1,000 / 10,000 roles next to reading and
decoding the same files (the bare I/O + JSON floor), and session-token signing and
verification next to bare PyJWT EdDSA encode / decode with the same key and claims."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest

from authz.engine.snapshot import build_snapshot
from authz.sts.keys import KeyRing
from authz.sts.tokens import SessionClaims, TokenSigner, TokenVerifier

ISSUER = "https://authz.bench"
SIZES = (10, 1000, 10000)


def _mark(benchmark: Any, group: str, role: str) -> None:
    benchmark.group = group
    benchmark.extra_info["role"] = role


def _read_all(root: Path) -> int:
    return sum(len(json.loads(p.read_text())) for p in root.rglob("*.json"))


@pytest.mark.parametrize("roles", SIZES)
def test_bare_read_json(benchmark: Any, scale_repos: dict[int, Path], roles: int) -> None:
    _mark(benchmark, f"snapshot-build-{roles}-roles", "baseline")
    rounds = 1 if roles == 10000 else 3
    benchmark.pedantic(_read_all, args=(scale_repos[roles],), rounds=rounds)


@pytest.mark.parametrize("roles", SIZES)
def test_build_snapshot(benchmark: Any, scale_repos: dict[int, Path], roles: int) -> None:
    _mark(benchmark, f"snapshot-build-{roles}-roles", "subject")
    rounds = 1 if roles == 10000 else 3
    benchmark.pedantic(
        build_snapshot, args=(scale_repos[roles],), kwargs={"git": False}, rounds=rounds
    )


# -- tokens ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keyring(workdir: Path) -> KeyRing:
    path = workdir / "keys"
    return KeyRing.load(path) if (path / "index.json").exists() else KeyRing.generate(path)


def _claims(i: int) -> SessionClaims:
    now = int(time.time())
    return SessionClaims(
        issuer=ISSUER,
        session_arn=f"arn:aws:sts::111122223333:assumed-role/app/s{i}",
        role_arn="arn:aws:iam::111122223333:role/app",
        account="111122223333",
        issued_at=now,
        expires_at=now + 3600,
        session_id=f"{i:032x}",
        assumed_role_id=f"AROAEXAMPLE:s{i}",
        access_key_id=f"ASIA{i:016d}",
        session_tags={"team": "red"},
    )


POOL = 2000


def test_bare_pyjwt_sign(benchmark: Any, keyring: KeyRing) -> None:
    _mark(benchmark, "token-sign", "baseline")
    key = keyring.signing_key
    payload = _claims(0).to_payload()
    headers = {"kid": key.kid, "typ": "JWT"}
    benchmark.pedantic(
        lambda: jwt.encode(payload, key.private_key, algorithm="EdDSA", headers=headers),
        rounds=20,
        iterations=50,
        warmup_rounds=1,
    )


def test_sign(benchmark: Any, keyring: KeyRing) -> None:
    _mark(benchmark, "token-sign", "subject")
    signer, claims = TokenSigner(keyring, ISSUER), _claims(0)
    benchmark.pedantic(lambda: signer.sign(claims), rounds=20, iterations=50, warmup_rounds=1)


def _tokens(keyring: KeyRing) -> list[str]:
    signer = TokenSigner(keyring, ISSUER)
    return [signer.sign(_claims(i)) for i in range(POOL)]


def test_bare_pyjwt_verify(benchmark: Any, keyring: KeyRing) -> None:
    _mark(benchmark, "token-verify", "baseline")
    public = keyring.signing_key.private_key.public_key()
    tokens = itertools.cycle(_tokens(keyring))
    options: Any = {"require": ["exp", "iat", "iss"]}

    def verify() -> object:
        return jwt.decode(
            next(tokens), public, algorithms=["EdDSA"], issuer=ISSUER, options=options
        )

    benchmark.pedantic(verify, rounds=15, iterations=100, warmup_rounds=1)


def test_verify_uncached(benchmark: Any, keyring: KeyRing) -> None:
    _mark(benchmark, "token-verify", "subject")
    verifier = TokenVerifier(keyring, ISSUER, 30, cache_size=1)
    tokens = itertools.cycle(_tokens(keyring))
    benchmark.pedantic(lambda: verifier.verify(next(tokens)), rounds=15, iterations=100)


def test_verify_cached(benchmark: Any, keyring: KeyRing) -> None:
    _mark(benchmark, "token-verify", "subject")
    verifier = TokenVerifier(keyring, ISSUER, 30)
    token = _tokens(keyring)[0]
    verifier.verify(token)
    benchmark.pedantic(lambda: verifier.verify(token), rounds=15, iterations=100)
