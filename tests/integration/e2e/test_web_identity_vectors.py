"""AssumeRoleWithWebIdentity through the real gRPC server: one vector per rule of issue 17
(signature, issuer, audience, times, sub/aud conditions, tags claim, durations, parameters,
errors) and the session's later Authorize calls. Tokens are minted by the local dev issuer
(``authz.oidc.devissuer``) whose keys the repository's providers hold."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from authz import errors
from authz.client import AuthzClient
from authz.oidc.devissuer import DevIssuer
from tests.integration.e2e.harness import E2EServer, ServerFactory, session_of
from tests.integration.e2e.web_identity_kit import (
    EKS,
    EKS_ARN,
    GITHUB,
    SA_SUB,
    build_repo,
    role_arn,
)

IRSA = role_arn("irsa")
REPORT = "arn:aws:s3:::reports/q1.csv"


@pytest.fixture(scope="module")
def eks() -> DevIssuer:
    return DevIssuer(f"https://{EKS}")


@pytest.fixture(scope="module")
def github() -> DevIssuer:
    return DevIssuer(f"https://{GITHUB}", alg="ES256")


@pytest.fixture
def server(
    start_server: ServerFactory, tmp_path: Path, eks: DevIssuer, github: DevIssuer
) -> E2EServer:
    return start_server(build_repo(tmp_path / "repo", eks, github))


@pytest.fixture
def anonymous(server: E2EServer) -> Iterator[AuthzClient]:
    with server.client(None) as client:
        yield client


def _token(eks: DevIssuer, sub: str | None = SA_SUB, **claims: Any) -> str:
    """A token of ``eks`` for ``sub``; a claim given as None is left out."""
    body = eks.claims()
    body.update(claims, sub=sub)
    return eks.sign({k: v for k, v in body.items() if v is not None})


def _authorize(server: E2EServer, response: Any, action: str, resource: str) -> bool:
    with server.client(session_of(response)) as client:
        return bool(client.authorize(action, resource).decision == 1)


def test_irsa_token_gives_a_session_with_aws_response_fields(
    anonymous: AuthzClient, eks: DevIssuer
) -> None:
    response = anonymous.assume_role_with_web_identity(IRSA, "pod-1", _token(eks))
    assert response.subject_from_web_identity_token == SA_SUB
    assert response.audience == "sts.amazonaws.com"
    assert response.provider == EKS
    assert response.assumed_role_user.arn == "arn:aws:sts::444455556666:assumed-role/irsa/pod-1"
    assert response.assumed_role_user.assumed_role_id.endswith(":pod-1")
    assert response.credentials.access_key_id.startswith("ASIA")
    assert response.effective_duration_seconds == 3600


def test_session_sees_the_role_policies_and_federated_provider(
    server: E2EServer, anonymous: AuthzClient, eks: DevIssuer
) -> None:
    response = anonymous.assume_role_with_web_identity(IRSA, "pod-1", _token(eks))
    with server.client(session_of(response)) as client:
        identity = client.get_caller_identity()
        assert identity.arn == "arn:aws:sts::444455556666:assumed-role/irsa/pod-1"
        allowed = client.authorize("s3:GetObject", REPORT)
        assert allowed.decision == 1
        # allowed only when aws:FederatedProvider is the EKS provider ARN
        assert client.authorize("s3:PutObject", REPORT).decision == 1
        assert client.authorize("s3:DeleteObject", REPORT).decision != 1
        # the session may not claim federation facts itself
        with pytest.raises(errors.ValidationError, match=r"(?i)aws:FederatedProvider"):
            client.authorize("s3:GetObject", REPORT, context={"aws:FederatedProvider": EKS_ARN})


def test_other_service_account_is_refused_by_the_sub_condition(
    anonymous: AuthzClient, eks: DevIssuer
) -> None:
    token = _token(eks, "system:serviceaccount:default:other")
    with pytest.raises(
        errors.AccessDenied, match="Not authorized to perform sts:AssumeRoleWithWebIdentity"
    ):
        anonymous.assume_role_with_web_identity(IRSA, "pod-1", token)


def test_string_like_on_sub_matches_a_namespace_pattern(
    anonymous: AuthzClient, eks: DevIssuer
) -> None:
    token = _token(eks, "system:serviceaccount:ci-build:runner")
    response = anonymous.assume_role_with_web_identity(role_arn("ci-like"), "ci", token)
    assert response.subject_from_web_identity_token == "system:serviceaccount:ci-build:runner"
    other = _token(eks, "system:serviceaccount:prod:runner")
    with pytest.raises(errors.AccessDenied):
        anonymous.assume_role_with_web_identity(role_arn("ci-like"), "ci", other)
    # StringEquals does not expand wildcards: the same pattern there matches nothing
    with pytest.raises(errors.AccessDenied):
        anonymous.assume_role_with_web_identity(role_arn("ci-any"), "ci", token)


def test_github_actions_trust_policy_works_unchanged(
    anonymous: AuthzClient, github: DevIssuer
) -> None:
    claims = {
        "iss": f"https://{GITHUB}",
        "sub": "repo:octo-org/octo-repo:ref:refs/heads/main",
        "aud": "sts.amazonaws.com",
        "iat": int(time.time()),
        "exp": int(time.time()) + 300,
        "repository": "octo-org/octo-repo",
    }
    response = anonymous.assume_role_with_web_identity(
        role_arn("github"), "gha", github.sign(claims)
    )
    assert response.provider == GITHUB
    claims["sub"] = "repo:octo-org/other-repo:ref:refs/heads/main"
    with pytest.raises(errors.AccessDenied):
        anonymous.assume_role_with_web_identity(role_arn("github"), "gha", github.sign(claims))


def test_audience_outside_client_id_list_is_invalid(anonymous: AuthzClient, eks: DevIssuer) -> None:
    with pytest.raises(errors.InvalidIdentityToken, match="Incorrect token audience"):
        anonymous.assume_role_with_web_identity(IRSA, "pod", _token(eks, aud=["someone-else"]))


def test_azp_is_the_audience_and_aud_becomes_oaud(anonymous: AuthzClient, eks: DevIssuer) -> None:
    token = _token(eks, aud=["api://reports", "other"], azp="sts.amazonaws.com")
    response = anonymous.assume_role_with_web_identity(IRSA, "pod", token)
    assert response.audience == "sts.amazonaws.com"
    with pytest.raises(errors.InvalidIdentityToken, match="Incorrect token audience"):
        anonymous.assume_role_with_web_identity(
            IRSA, "pod", _token(eks, aud=["sts.amazonaws.com"], azp="not-registered")
        )


def test_expired_token_is_expired_token_beyond_the_leeway(
    anonymous: AuthzClient, eks: DevIssuer
) -> None:
    now = int(time.time())
    within = _token(eks, iat=now - 600, nbf=now - 600, exp=now - 30)  # leeway is 60 s
    anonymous.assume_role_with_web_identity(IRSA, "pod", within)
    expired = _token(eks, iat=now - 600, nbf=now - 600, exp=now - 120)
    with pytest.raises(errors.ExpiredToken, match="Token expired"):
        anonymous.assume_role_with_web_identity(IRSA, "pod", expired)


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_token_from_the_future_is_invalid(
    anonymous: AuthzClient, eks: DevIssuer, claim: str
) -> None:
    token = _token(eks, **{claim: int(time.time()) + 600})
    with pytest.raises(errors.InvalidIdentityToken, match=claim):
        anonymous.assume_role_with_web_identity(IRSA, "pod", token)


@pytest.mark.parametrize("claim", ["exp", "sub"])
def test_token_without_a_required_claim_is_invalid(
    anonymous: AuthzClient, eks: DevIssuer, claim: str
) -> None:
    token = _token(eks, **{claim: None})
    with pytest.raises(errors.InvalidIdentityToken, match=f"`{claim}`"):
        anonymous.assume_role_with_web_identity(IRSA, "pod", token)


def test_signature_by_another_key_is_invalid(anonymous: AuthzClient, eks: DevIssuer) -> None:
    impostor = DevIssuer(eks.issuer)
    token = impostor.sign(eks.claims("default", "reports"), headers={"kid": _kid(eks)})
    with pytest.raises(errors.InvalidIdentityToken, match="signature"):
        anonymous.assume_role_with_web_identity(IRSA, "pod", token)


def _kid(issuer: DevIssuer) -> str:
    return str(issuer.jwks()["keys"][0]["kid"])


def test_issuer_without_a_provider_in_the_role_account_is_invalid(
    anonymous: AuthzClient, eks: DevIssuer
) -> None:
    token = _token(eks, iss="https://accounts.example.com")
    with pytest.raises(
        errors.InvalidIdentityToken,
        match=re.escape(
            "No OpenIDConnect provider found in your account for https://accounts.example.com"
        ),
    ):
        anonymous.assume_role_with_web_identity(IRSA, "pod", token)
    # a provider of another account does not count: the role's account must have it
    with pytest.raises(errors.InvalidIdentityToken, match="No OpenIDConnect provider"):
        anonymous.assume_role_with_web_identity(
            "arn:aws:iam::111122223333:role/irsa", "pod", _token(eks)
        )


def test_tags_claim_becomes_session_tags_when_trust_allows_tag_session(
    server: E2EServer, anonymous: AuthzClient, eks: DevIssuer
) -> None:
    tags = {"principal_tags": {"team": ["analytics"]}, "transitive_tag_keys": ["team"]}
    token = _token(eks, **{"https://aws.amazon.com/tags": tags})
    response = anonymous.assume_role_with_web_identity(role_arn("tagged"), "pod", token)
    assert response.packed_policy_size > 0
    assert _authorize(server, response, "s3:ListBucket", "arn:aws:s3:::reports")
    # the irsa trust policy does not allow sts:TagSession: the tags claim is refused
    with pytest.raises(errors.AccessDenied):
        anonymous.assume_role_with_web_identity(IRSA, "pod", token)
    # without the claim the tag condition fails
    plain = anonymous.assume_role_with_web_identity(role_arn("tagged"), "pod", _token(eks))
    assert not _authorize(server, plain, "s3:ListBucket", "arn:aws:s3:::reports")


@pytest.mark.parametrize(
    "claim",
    [
        {"principal_tags": {"team": ["a", "b"]}},
        {"principal_tags": {"aws:team": ["a"]}},
        {"principal_tags": {"team": ["a"]}, "transitive_tag_keys": ["other"]},
        {"principal_tags": {f"k{i}": ["v"] for i in range(51)}},
        "not-an-object",
    ],
)
def test_bad_tags_claim_is_idp_rejected_claim(
    anonymous: AuthzClient, eks: DevIssuer, claim: Any
) -> None:
    token = _token(eks, **{"https://aws.amazon.com/tags": claim})
    with pytest.raises(errors.IDPRejectedClaim):
        anonymous.assume_role_with_web_identity(role_arn("tagged"), "pod", token)


def test_duration_up_to_the_role_maximum(anonymous: AuthzClient, eks: DevIssuer) -> None:
    longest = anonymous.assume_role_with_web_identity(
        IRSA, "pod", _token(eks), duration_seconds=7200
    )
    assert longest.effective_duration_seconds == 7200
    shortest = anonymous.assume_role_with_web_identity(
        IRSA, "pod", _token(eks), duration_seconds=900
    )
    assert shortest.effective_duration_seconds == 900
    with pytest.raises(errors.ValidationError, match="MaxSessionDuration"):
        anonymous.assume_role_with_web_identity(IRSA, "pod", _token(eks), duration_seconds=7201)
    with pytest.raises(errors.ValidationError, match="durationSeconds"):
        anonymous.assume_role_with_web_identity(IRSA, "pod", _token(eks), duration_seconds=899)


def test_session_policy_narrows_the_session(
    server: E2EServer, anonymous: AuthzClient, eks: DevIssuer
) -> None:
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}],
        }
    )
    response = anonymous.assume_role_with_web_identity(IRSA, "pod", _token(eks), policy=policy)
    assert _authorize(server, response, "s3:PutObject", REPORT)
    assert not _authorize(server, response, "s3:GetObject", REPORT)
    with pytest.raises(errors.ValidationError, match="does not exist"):
        anonymous.assume_role_with_web_identity(
            IRSA, "pod", _token(eks), policy_arns=["arn:aws:iam::444455556666:policy/missing"]
        )


def test_parameter_rules(anonymous: AuthzClient, eks: DevIssuer) -> None:
    with pytest.raises(errors.ValidationError, match="roleSessionName"):
        anonymous.assume_role_with_web_identity(IRSA, "bad name!", _token(eks))
    with pytest.raises(errors.ValidationError, match="webIdentityToken"):
        anonymous.assume_role_with_web_identity(IRSA, "pod", "x" * 20001)
    with pytest.raises(errors.InvalidIdentityToken, match="ProviderId"):
        anonymous.assume_role_with_web_identity(
            IRSA, "pod", _token(eks), provider_id="www.amazon.com"
        )
    response = anonymous.assume_role_with_web_identity(IRSA, "pod", _token(eks), provider_id=EKS)
    assert response.provider == EKS


def test_missing_role_is_denied_like_an_untrusting_one(
    anonymous: AuthzClient, eks: DevIssuer
) -> None:
    with pytest.raises(errors.AccessDenied) as missing:
        anonymous.assume_role_with_web_identity(role_arn("no-such-role"), "pod", _token(eks))
    with pytest.raises(errors.AccessDenied) as untrusting:
        anonymous.assume_role_with_web_identity(role_arn("github"), "pod", _token(eks))
    assert missing.value.message == untrusting.value.message


def test_caller_credentials_are_neither_needed_nor_used(server: E2EServer, eks: DevIssuer) -> None:
    alice = server.access_key("arn:aws:iam::444455556666:user/nobody")
    with server.client(alice) as client:  # an unknown key would fail any other RPC
        with pytest.raises(errors.InvalidClientTokenId):
            client.get_caller_identity()
        response = client.assume_role_with_web_identity(IRSA, "pod", _token(eks))
    assert response.assumed_role_user.arn.endswith("/irsa/pod")


def test_the_audit_log_records_the_call_without_the_token(
    server: E2EServer, anonymous: AuthzClient, eks: DevIssuer
) -> None:
    token = _token(eks)
    anonymous.assume_role_with_web_identity(IRSA, "pod", token)
    events = server.audit_events(1)
    text = server.audit_path.read_text(encoding="utf-8")
    assert any(e.get("eventName", e.get("method")) == "AssumeRoleWithWebIdentity" for e in events)
    assert token.split(".")[2] not in text
