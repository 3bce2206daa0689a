"""Attacks on AssumeRoleWithWebIdentity, each against a real in-process server: forged and
confused tokens (``alg: none``, HS256 keyed with the provider's public key, a header that
brings its own key, ``kid`` tricks, algorithm switching), tokens of the wrong issuer or of no
provider, key rotation at the issuer, an oversized token or JWKS, an unreachable or slow
issuer, and claim keys smuggled into Authorize."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from authz import errors
from authz.client import AuthzClient
from authz.devrun import ensure_tls
from authz.oidc.devissuer import DevIssuer, JwksServer
from tests.integration.e2e.harness import E2EServer, ServerFactory, session_of
from tests.integration.e2e.web_identity_kit import (
    EKS,
    GITHUB,
    REMOTE,
    SA_SUB,
    build_repo,
    role_arn,
)

IRSA = role_arn("irsa")
REMOTE_ROLE = role_arn("remote")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def eks() -> DevIssuer:
    return DevIssuer(f"https://{EKS}")


@pytest.fixture
def remote(tls: Path) -> Iterator[JwksServer]:
    server = JwksServer(DevIssuer(f"https://{REMOTE}"), tls / "server.crt", tls / "server.key")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def server(
    start_server: ServerFactory, tmp_path: Path, eks: DevIssuer, remote: JwksServer, tls: Path
) -> E2EServer:
    repo = build_repo(tmp_path / "repo", eks, DevIssuer(f"https://{GITHUB}"), remote.jwks_uri)
    return start_server(
        repo,
        oidc_ca_file=tls / "ca.crt",
        oidc_jwks_min_interval_seconds=0.0,
        oidc_jwks_wait_seconds=2.0,
        oidc_jwks_timeout_seconds=1.0,
    )


@pytest.fixture
def anonymous(server: E2EServer) -> Iterator[AuthzClient]:
    with server.client(None) as client:
        yield client


def _b64(data: Any) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _claims(issuer: DevIssuer) -> dict[str, Any]:
    return issuer.claims("default", "reports")


def _kid(issuer: DevIssuer, index: int = -1) -> str:
    return str(issuer.jwks()["keys"][index]["kid"])


def test_control_a_genuine_token_is_accepted(anonymous: AuthzClient, eks: DevIssuer) -> None:
    """The forgeries below differ from this token in the attacked property only."""
    response = anonymous.assume_role_with_web_identity(IRSA, "pod", eks.mint("default", "reports"))
    assert response.subject_from_web_identity_token == SA_SUB


def test_alg_none_unsigned_token_is_refused(anonymous: AuthzClient, eks: DevIssuer) -> None:
    token = f"{_b64({'alg': 'none', 'kid': _kid(eks)})}.{_b64(_claims(eks))}."
    with pytest.raises(errors.InvalidIdentityToken, match="`none` is not allowed"):
        anonymous.assume_role_with_web_identity(IRSA, "pod", token)


def test_hs256_keyed_with_the_providers_public_key_is_refused(
    anonymous: AuthzClient, eks: DevIssuer
) -> None:
    """The classic confusion: the attacker knows the public key (the JWKS is public) and
    signs with HMAC using its PEM as the secret."""
    pem = eks.signing_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = _b64({"alg": "HS256", "typ": "JWT", "kid": _kid(eks)})
    body = _b64(_claims(eks))
    import hashlib
    import hmac

    signature = hmac.new(pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    token = f"{header}.{body}.{_b64(signature)}"
    with pytest.raises(errors.InvalidIdentityToken, match="`HS256` is not allowed"):
        anonymous.assume_role_with_web_identity(IRSA, "pod", token)


def test_header_cannot_switch_the_algorithm_of_a_key(
    anonymous: AuthzClient, eks: DevIssuer
) -> None:
    """The RSA key is pinned to RS256: a PS256 or ES256 header naming it is refused before any
    verification (a header never chooses how a key is used)."""
    for alg in ("PS256", "ES256"):
        forged = jwt.encode(
            _claims(eks),
            eks.signing_key if alg == "PS256" else DevIssuer("x", alg="ES256").signing_key,
            algorithm=alg,
            headers={"kid": _kid(eks)},
        )
        with pytest.raises(errors.InvalidIdentityToken, match="not in the provider's key set"):
            anonymous.assume_role_with_web_identity(IRSA, "pod", forged)


@pytest.mark.parametrize("field", ["jwk", "jku", "x5u", "x5c"])
def test_header_bringing_its_own_key_is_refused(
    anonymous: AuthzClient, eks: DevIssuer, field: str
) -> None:
    attacker = DevIssuer(eks.issuer)
    value: Any = attacker.jwks()["keys"][0] if field == "jwk" else "https://attacker.example/k"
    if field == "x5c":
        value = ["MIIB"]
    token = attacker.sign(_claims(eks), headers={field: value})
    with pytest.raises(errors.InvalidIdentityToken, match=f"`{field}`"):
        anonymous.assume_role_with_web_identity(IRSA, "pod", token)


@pytest.mark.parametrize("kid", ["../../../../etc/passwd", "' OR '1'='1", "", "x" * 300, None])
def test_kid_tricks_find_no_key(anonymous: AuthzClient, eks: DevIssuer, kid: str | None) -> None:
    """An attacker's key under a made-up ``kid`` (or none when the key set has two keys of the
    algorithm) matches no provider key: nothing is looked up by the ``kid`` but the set."""
    eks_two = eks.jwks()["keys"]
    assert len(eks_two) == 1
    attacker = DevIssuer(eks.issuer)
    headers = {"kid": kid} if kid is not None else {}
    token = jwt.encode(_claims(eks), attacker.signing_key, algorithm="RS256", headers=headers)
    if kid is None:
        token = jwt.encode(_claims(eks), attacker.signing_key, algorithm="RS256")
    with pytest.raises(errors.InvalidIdentityToken):
        anonymous.assume_role_with_web_identity(IRSA, "pod", token)


def test_kid_of_the_genuine_key_with_an_attackers_signature_fails(
    anonymous: AuthzClient, eks: DevIssuer
) -> None:
    attacker = DevIssuer(eks.issuer)
    token = attacker.sign(_claims(eks), headers={"kid": _kid(eks)})
    with pytest.raises(errors.InvalidIdentityToken, match="signature does not verify"):
        anonymous.assume_role_with_web_identity(IRSA, "pod", token)


def test_token_of_another_provider_cannot_pass_for_this_one(
    anonymous: AuthzClient, eks: DevIssuer
) -> None:
    """GitHub's issuer signs a token claiming the EKS issuer: the EKS keys do not verify it."""
    github = DevIssuer(f"https://{GITHUB}")
    with pytest.raises(errors.InvalidIdentityToken):
        anonymous.assume_role_with_web_identity(IRSA, "pod", github.sign(_claims(eks)))


def test_attackers_own_issuer_is_no_provider(anonymous: AuthzClient) -> None:
    attacker = DevIssuer("https://attacker.example")
    with pytest.raises(errors.InvalidIdentityToken, match="No OpenIDConnect provider"):
        anonymous.assume_role_with_web_identity(IRSA, "pod", attacker.mint("default", "reports"))


def test_session_token_is_no_web_identity_token(
    server: E2EServer, anonymous: AuthzClient, eks: DevIssuer
) -> None:
    response = anonymous.assume_role_with_web_identity(IRSA, "pod", eks.mint("default", "reports"))
    session_token = response.credentials.session_token
    with pytest.raises(errors.InvalidIdentityToken):
        anonymous.assume_role_with_web_identity(IRSA, "pod", session_token)


def test_oversized_token_is_refused_before_parsing(anonymous: AuthzClient, eks: DevIssuer) -> None:
    claims = _claims(eks) | {"padding": "x" * 20000}
    with pytest.raises(errors.ValidationError, match="less than or equal to 20000"):
        anonymous.assume_role_with_web_identity(IRSA, "pod", eks.sign(claims))


def test_claim_keys_cannot_be_smuggled_into_authorize(
    server: E2EServer, anonymous: AuthzClient, eks: DevIssuer
) -> None:
    response = anonymous.assume_role_with_web_identity(IRSA, "pod", eks.mint("default", "reports"))
    with server.client(session_of(response)) as client:
        for key in (f"{EKS}:sub", "token.actions.githubusercontent.com:aud"):
            with pytest.raises(errors.ValidationError, match="owned by the server"):
                client.authorize("s3:GetObject", "arn:aws:s3:::reports/a", context={key: "x"})


# -- keys fetched from the issuer over HTTPS ------------------------------------------------


def _remote_token(remote: JwksServer, **claims: Any) -> str:
    body = remote.issuer.claims("default", "reports")
    body.update(claims)
    return remote.issuer.sign(body)


def test_fetched_keys_verify_and_are_cached(anonymous: AuthzClient, remote: JwksServer) -> None:
    for _ in range(3):
        anonymous.assume_role_with_web_identity(REMOTE_ROLE, "pod", _remote_token(remote))
    assert remote.requests == 1


def test_rotation_at_the_issuer_is_followed(anonymous: AuthzClient, remote: JwksServer) -> None:
    old = _remote_token(remote)
    anonymous.assume_role_with_web_identity(REMOTE_ROLE, "pod", old)
    remote.issuer.rotate(keep_old=False)  # the issuer drops the old key
    new = _remote_token(remote)
    anonymous.assume_role_with_web_identity(REMOTE_ROLE, "pod", new)  # unknown kid: refetched
    assert remote.requests == 2
    with pytest.raises(errors.InvalidIdentityToken, match="not in the provider's key set"):
        anonymous.assume_role_with_web_identity(REMOTE_ROLE, "pod", old)


def test_unknown_kid_flood_does_not_hammer_the_issuer(
    start_server: ServerFactory, tmp_path: Path, eks: DevIssuer, remote: JwksServer, tls: Path
) -> None:
    repo = build_repo(tmp_path / "repo2", eks, DevIssuer(f"https://{GITHUB}"), remote.jwks_uri)
    env = start_server(repo, oidc_ca_file=tls / "ca.crt", oidc_jwks_min_interval_seconds=30.0)
    with env.client(None) as client:
        client.assume_role_with_web_identity(REMOTE_ROLE, "pod", _remote_token(remote))
        attacker = DevIssuer(remote.issuer.issuer)
        for i in range(20):
            forged = attacker.sign(_remote_token_claims(remote), headers={"kid": f"k{i}"})
            with pytest.raises(errors.InvalidIdentityToken):
                client.assume_role_with_web_identity(REMOTE_ROLE, "pod", forged)
    assert remote.requests == 1  # the first fetch; forged kids wait for the 30 s interval


def _remote_token_claims(remote: JwksServer) -> dict[str, Any]:
    return remote.issuer.claims("default", "reports")


def test_oversized_jwks_is_an_idp_communication_error(
    anonymous: AuthzClient, remote: JwksServer
) -> None:
    remote.body = b'{"keys": [' + b" " * (64 * 1024) + b"]}"
    with pytest.raises(errors.IDPCommunicationError, match="larger than"):
        anonymous.assume_role_with_web_identity(REMOTE_ROLE, "pod", _remote_token(remote))


def test_jwks_with_a_symmetric_key_is_refused(anonymous: AuthzClient, remote: JwksServer) -> None:
    remote.body = json.dumps({"keys": [{"kty": "oct", "k": _b64(b"s" * 32), "kid": "h"}]}).encode()
    token = jwt.encode(
        _remote_token_claims(remote), b"s" * 32, algorithm="HS256", headers={"kid": "h"}
    )
    with pytest.raises(errors.InvalidIdentityToken, match="HS256"):
        anonymous.assume_role_with_web_identity(REMOTE_ROLE, "pod", token)
    with pytest.raises(errors.IDPCommunicationError, match="oct"):
        anonymous.assume_role_with_web_identity(REMOTE_ROLE, "pod", _remote_token(remote))


def test_unreachable_issuer_fails_its_tokens_and_nothing_else(
    server: E2EServer, anonymous: AuthzClient, remote: JwksServer, eks: DevIssuer
) -> None:
    token = _remote_token(remote)
    remote.stop()
    started = time.monotonic()
    with pytest.raises(errors.IDPCommunicationError, match="Couldn't retrieve verification key"):
        anonymous.assume_role_with_web_identity(REMOTE_ROLE, "pod", token)
    assert time.monotonic() - started < 3.0  # bounded by the fetch timeout
    # other providers' tokens are served meanwhile
    anonymous.assume_role_with_web_identity(IRSA, "pod", eks.mint("default", "reports"))


def test_slow_issuer_is_bounded_by_the_wait(
    anonymous: AuthzClient, remote: JwksServer, eks: DevIssuer
) -> None:
    remote.delay = 5.0
    started = time.monotonic()
    with pytest.raises(errors.IDPCommunicationError):
        anonymous.assume_role_with_web_identity(REMOTE_ROLE, "pod", _remote_token(remote))
    assert time.monotonic() - started < 3.5  # wait 2 s, timeout 1 s: never the issuer's 5 s
    remote.delay = 0.0
