"""Session tokens through the real gRPC server: forged and broken tokens, revocation (per
session and per role), key rotation, role chaining, TTL configuration and GetCallerIdentity.

Forged tokens are built from a real session's claims with the server's own key ring (read from
its key directory), so each one differs from a valid token in exactly the property under test;
``test_control_resigned_token_is_accepted`` shows the forging itself yields valid tokens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from authz import errors
from authz._gen.authz.v1 import authorizer_pb2
from authz.client.credentials import AccessKeyCredentials, SessionCredentials
from tests.integration.e2e.harness import E2EServer, Pki, ServerFactory, trailer_error_code
from tests.integration.e2e.repo_builder import RepoBuilder

ACCOUNT = "111111111111"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
ALICE_ID = "AIDAEXAMPLEUSERID0001"
APP = f"arn:aws:iam::{ACCOUNT}:role/app"
APP_ID = "AROAEXAMPLEROLEID0001"
NEXT = f"arn:aws:iam::{ACCOUNT}:role/next"
NEXT_ID = "AROAEXAMPLEROLEID0002"
DATA = "arn:aws:s3:::data/report.csv"
SERVICE = "ci.internal"


def _allow(action: str, resource: str = "*", **condition: Any) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": action, "Resource": resource}
    if condition:
        statement["Condition"] = {"StringEquals": condition}
    return {"Version": "2012-10-17", "Statement": [statement]}


def _trust(principal: dict[str, str], *actions: str) -> dict[str, Any]:
    statement = {"Effect": "Allow", "Principal": principal, "Action": list(actions)}
    return {"Version": "2012-10-17", "Statement": [statement]}


def build_repo(root: Path, **app_extra: Any) -> Path:
    """alice → app (tags, source identity allowed) → next (chaining). ``app_extra``: raw role
    fields such as ``RevokedSessionIds`` / ``RevokeSessionsIssuedBefore``."""
    repo = RepoBuilder()
    repo.user(
        ACCOUNT,
        "alice",
        user_id=ALICE_ID,
        inline=[_allow("sts:AssumeRole"), _allow("authz:Reload")],
    )
    repo.role(
        ACCOUNT, "app", role_id=APP_ID, max_session_duration=43200,
        trust_policy=_trust(
            {"AWS": ALICE}, "sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"
        ),
        inline=[
            _allow("s3:GetObject", "arn:aws:s3:::data/*"),
            _allow("s3:PutObject", "arn:aws:s3:::data/*", **{"aws:PrincipalTag/Temp": "x"}),
            _allow("sts:AssumeRole"),
        ],
        extra=app_extra,
    )  # fmt: skip
    repo.role(
        ACCOUNT, "next", role_id=NEXT_ID, max_session_duration=43200,
        trust_policy=_trust({"AWS": APP}, "sts:AssumeRole", "sts:TagSession"),
        inline=[
            _allow("s3:GetObject", "arn:aws:s3:::data/*", **{"aws:PrincipalTag/Project": "blue"}),
            _allow("s3:PutObject", "arn:aws:s3:::data/*", **{"aws:PrincipalTag/Temp": "x"}),
        ],
    )  # fmt: skip
    repo.role(ACCOUNT, "ci", trust_policy=_trust({"Service": SERVICE}, "sts:AssumeRole"))
    return repo.write(root)


@pytest.fixture
def env(start_server: ServerFactory, tmp_path: Path) -> E2EServer:
    # the token checks themselves, reached with the token as a bearer credential (signed
    # session calls check the same token first: tests/security/test_grpc_signing.py)
    return start_server(build_repo(tmp_path / "repo"), allow_bearer_sessions=True)


@pytest.fixture
def alice(env: E2EServer) -> AccessKeyCredentials:
    return env.access_key(ALICE)


def expect_rejected(env: E2EServer, token: str, code: type[errors.AuthzError]) -> None:
    """The token is refused by the edge with UNAUTHENTICATED and the AWS code, on any RPC."""
    creds = SessionCredentials(token=token, expiration=datetime.now(UTC))
    with env.client(creds) as client:
        for call in (client.get_caller_identity, lambda: client.authorize("s3:GetObject", DATA)):
            with pytest.raises(errors.AuthzError) as raised:
                call()
            exc = raised.value
            assert type(exc) is code, f"{exc.code}: {exc.message}"
            assert exc.details["grpc_code"] == grpc.StatusCode.UNAUTHENTICATED.name
            assert trailer_error_code(exc) == code.code
            assert token not in exc.message


def decision(env: E2EServer, session: SessionCredentials, action: str) -> Any:
    with env.client(session) as client:
        return client.authorize(action, DATA)


# -- forged tokens ------------------------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _decode(segment: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    return data


def _segments(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, _ = token.split(".")
    return _decode(header), _decode(payload)


class Forger:
    """Re-signs a real session's claims with the server's signing key, changing one thing."""

    def __init__(self, env: E2EServer, token: str) -> None:
        self.token = token
        self.header, self.claims = _segments(token)
        self.key = env.backend.keyring.signing_key

    def sign(self, claims: dict[str, Any] | None = None, **header: Any) -> str:
        headers = {"kid": self.key.kid, "typ": "JWT", **header}
        return jwt.encode(claims or self.claims, self.key.private_key, "EdDSA", headers=headers)

    def with_claims(self, **changes: Any) -> str:
        return self.sign({**self.claims, **changes})

    def unsigned(self, header: dict[str, Any], signing_key: bytes | None = None) -> str:
        signing_input = f"{_b64(json.dumps(header).encode())}.{self.token.split('.')[1]}"
        signature = b""
        if signing_key is not None:
            signature = hmac.new(signing_key, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{_b64(signature)}"

    def public_pem(self) -> bytes:
        return self.key.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def public_raw(self) -> bytes:
        return self.key.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )


@pytest.fixture
def forger(env: E2EServer, alice: AccessKeyCredentials) -> Forger:
    _, session = env.assume(alice, APP, "s1")
    return Forger(env, session.token)


def _tampered(f: Forger) -> str:
    header, _, signature = f.token.split(".")
    claims = {**f.claims, "role": NEXT}
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


def _wrong_signature(f: Forger) -> str:
    headers = {"kid": f.key.kid, "typ": "JWT"}
    return jwt.encode(f.claims, Ed25519PrivateKey.generate(), "EdDSA", headers=headers)


NOW = int(time.time())
ATTACKS: dict[str, tuple[Callable[[Forger], str], type[errors.AuthzError]]] = {
    "tampered-payload": (_tampered, errors.InvalidClientTokenId),
    "wrong-signature": (_wrong_signature, errors.InvalidClientTokenId),
    "alg-none": (
        lambda f: f.unsigned({"alg": "none", "typ": "JWT", "kid": f.key.kid}),
        errors.InvalidClientTokenId,
    ),
    "hs256-public-key-pem": (
        lambda f: f.unsigned({"alg": "HS256", "typ": "JWT", "kid": f.key.kid}, f.public_pem()),
        errors.InvalidClientTokenId,
    ),
    "hs256-public-key-raw": (
        lambda f: f.unsigned({"alg": "HS256", "typ": "JWT", "kid": f.key.kid}, f.public_raw()),
        errors.InvalidClientTokenId,
    ),
    "unknown-kid": (lambda f: f.sign(kid="no-such-key"), errors.InvalidClientTokenId),
    "expired": (
        lambda f: f.with_claims(iat=NOW - 7200, nbf=NOW - 7200, exp=NOW - 3600),
        errors.ExpiredToken,
    ),
    "not-yet-valid": (
        lambda f: f.with_claims(nbf=int(time.time()) + 3600),
        errors.InvalidClientTokenId,
    ),
    "wrong-issuer": (lambda f: f.with_claims(iss="not-authz"), errors.InvalidClientTokenId),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_forged_token_is_rejected(env: E2EServer, forger: Forger, attack: str) -> None:
    make, code = ATTACKS[attack]
    expect_rejected(env, make(forger), code)


def test_control_resigned_token_is_accepted(env: E2EServer, forger: Forger) -> None:
    """The forging machinery yields valid tokens when nothing is changed."""
    for token in (forger.with_claims(), forger.sign(kid=forger.key.kid)):
        with env.client(SessionCredentials(token=token, expiration=datetime.now(UTC))) as client:
            found = client.get_caller_identity().arn
        assert found == f"arn:aws:sts::{ACCOUNT}:assumed-role/app/s1"


# -- revocation ---------------------------------------------------------------------------
def _reload(env: E2EServer, credentials: AccessKeyCredentials) -> None:
    with env.client(credentials) as client:
        result = client.reload()
    assert result.changed and not result.error, result


def test_revoked_session_id_is_rejected_after_reload(
    env: E2EServer, alice: AccessKeyCredentials
) -> None:
    _, revoked = env.assume(alice, APP, "revoked")
    _, kept = env.assume(alice, APP, "kept")
    assert decision(env, revoked, "s3:GetObject").decision == authorizer_pb2.DECISION_ALLOWED
    session_id = _segments(revoked.token)[1]["jti"]
    build_repo(env.settings.repo, RevokedSessionIds=[session_id])
    _reload(env, alice)
    expect_rejected(env, revoked.token, errors.InvalidClientTokenId)
    assert decision(env, kept, "s3:GetObject").decision == authorizer_pb2.DECISION_ALLOWED


def test_revoke_sessions_issued_before_denies_older_sessions(
    env: E2EServer, alice: AccessKeyCredentials
) -> None:
    """AWS "revoke active sessions": an explicit deny for sessions issued before the instant;
    later sessions are unaffected (spec §6.5)."""
    _, older = env.assume(alice, APP, "older")
    issued = _segments(older.token)[1]["iat"]
    instant = datetime.fromtimestamp(issued + 1, UTC)
    build_repo(env.settings.repo, RevokeSessionsIssuedBefore=instant.isoformat())
    _reload(env, alice)
    time.sleep(max(0.0, issued + 1 - time.time()))  # token issue times have 1 s resolution
    _, newer = env.assume(alice, APP, "newer")

    denied = decision(env, older, "s3:GetObject")
    assert denied.decision == authorizer_pb2.DECISION_EXPLICIT_DENY, denied.reason
    assert any("AWSRevokeOlderSessions" in m.source_policy_id for m in denied.matched_statements)
    assert decision(env, newer, "s3:GetObject").decision == authorizer_pb2.DECISION_ALLOWED
    with env.client(older) as client:  # the token itself is still authentic
        assert client.get_caller_identity().arn.endswith("/app/older")


# -- key rotation -------------------------------------------------------------------------
def test_rotation_keeps_old_tokens_valid_and_signs_with_the_new_key(
    env: E2EServer, alice: AccessKeyCredentials
) -> None:
    _, before = env.assume(alice, APP, "before")
    old_kid = _segments(before.token)[0]["kid"]
    env.backend.keyring.rotate()
    env.backend.verifier.clear_cache()  # verify the old token afresh, not from the cache
    _, after = env.assume(alice, APP, "after")
    new_kid = _segments(after.token)[0]["kid"]
    assert new_kid != old_kid

    for session in (before, after):
        assert decision(env, session, "s3:GetObject").decision == authorizer_pb2.DECISION_ALLOWED
    retired = next(k for k in env.backend.keyring.list() if k.kid == old_kid)
    assert retired.not_after is not None
    assert retired.not_after >= _segments(before.token)[1]["exp"]

    with env.client() as client:
        jwks = json.loads(client.get_signing_keys())
    assert {k["kid"] for k in jwks["keys"]} == {old_kid, new_kid}
    keys = jwt.PyJWKSet.from_dict(jwks)
    for session in (before, after):  # offline verification with the JWKS alone
        kid = _segments(session.token)[0]["kid"]
        claims = jwt.decode(session.token, keys[kid].key, algorithms=["EdDSA"], issuer="authz")
        assert claims["role"] == APP


# -- role chaining ------------------------------------------------------------------------
def test_role_chaining_limits_duration_keeps_source_identity_and_transitive_tags(
    env: E2EServer, alice: AccessKeyCredentials
) -> None:
    first, app = env.assume(
        alice, APP, "first", source_identity="alice-src",
        tags={"Project": "blue", "Temp": "x"}, transitive_tag_keys=["Project"],
    )  # fmt: skip
    assert first.source_identity == "alice-src"
    assert decision(env, app, "s3:PutObject").decision == authorizer_pb2.DECISION_ALLOWED

    with env.client(app) as client, pytest.raises(errors.ValidationError) as too_long:
        client.assume_role(NEXT, "second", duration_seconds=7200)
    assert too_long.value.message == (
        "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by "
        "role chaining."
    )
    assert too_long.value.details["grpc_code"] == grpc.StatusCode.INVALID_ARGUMENT.name
    with env.client(app) as client, pytest.raises(errors.ValidationError):
        client.assume_role(NEXT, "second", source_identity="someone-else")

    chained, second = env.assume(app, NEXT, "second")
    assert chained.effective_duration_seconds == 3600
    assert chained.source_identity == "alice-src"
    assert chained.assumed_role_user.assumed_role_id == f"{NEXT_ID}:second"
    allowed = decision(env, second, "s3:GetObject")  # Project is transitive
    assert allowed.decision == authorizer_pb2.DECISION_ALLOWED, allowed.reason
    dropped = decision(env, second, "s3:PutObject")  # Temp is not
    assert dropped.decision == authorizer_pb2.DECISION_IMPLICIT_DENY, dropped.reason


# -- TTL configuration --------------------------------------------------------------------
TTL_CASES = [  # (requested, effective, rule) under default 1800, minimum 1200, maximum 1800
    (3600, 1800, "server-maximum"),
    (900, 1200, "server-minimum"),
    (None, 1800, "default"),
    (1500, 1500, "request"),
]


def test_ttl_settings_cap_and_say_so(start_server: ServerFactory, tmp_path: Path) -> None:
    env = start_server(
        build_repo(tmp_path / "repo"),
        ttl_default_seconds=1800,
        ttl_minimum_seconds=1200,
        ttl_maximum_seconds=1800,
    )
    alice = env.access_key(ALICE)
    for requested, effective, rule in TTL_CASES:
        called = datetime.now(UTC)
        response, session = env.assume(alice, APP, "ttl", duration_seconds=requested)
        assert (response.effective_duration_seconds, response.duration_capped_by) == (
            effective,
            rule,
        ), requested
        assert abs((session.expiration - called).total_seconds() - effective) <= 5
        assert _segments(session.token)[1]["exp"] - _segments(session.token)[1]["iat"] == effective
    with env.client(alice) as client, pytest.raises(errors.ValidationError):
        client.assume_role(APP, "ttl", duration_seconds=43201)  # the AWS range still applies


# -- GetCallerIdentity --------------------------------------------------------------------
def test_get_caller_identity_for_user_session_and_service(
    start_server: ServerFactory, tmp_path: Path, pki: Pki
) -> None:
    san = "spiffe://e2e/ci"
    env = start_server(build_repo(tmp_path / "repo"), pki=pki, service_principals={san: SERVICE})
    alice = env.access_key(ALICE)
    _, session = env.assume(alice, APP, "who")

    def identity(client_creds: Any, client_san: str = "spiffe://e2e/unmapped") -> tuple[str, ...]:
        with env.client(client_creds, san=client_san) as client:
            found = client.get_caller_identity()
        return found.arn, found.user_id, found.account

    assert identity(alice) == (ALICE, ALICE_ID, ACCOUNT)
    assert identity(session) == (
        f"arn:aws:sts::{ACCOUNT}:assumed-role/app/who",
        f"{APP_ID}:who",
        ACCOUNT,
    )
    assert identity(None, san) == (SERVICE, SERVICE, "")
    # the service assumes its role with nothing but its certificate
    with env.client(None, san=san) as client:
        assumed = client.assume_role(f"arn:aws:iam::{ACCOUNT}:role/ci", "build-7")
    assert assumed.assumed_role_user.arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/ci/build-7"
