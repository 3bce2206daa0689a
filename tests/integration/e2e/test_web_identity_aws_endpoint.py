"""AssumeRoleWithWebIdentity on the AWS-compatible endpoint, with the AWS SDK's own machinery:
boto3's unsigned ``assume_role_with_web_identity`` call, and botocore's web identity credential
provider (``AWS_WEB_IDENTITY_TOKEN_FILE`` + ``AWS_ROLE_ARN``) pointed at the endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import pytest
from botocore import UNSIGNED
from botocore.config import Config

from authz.oidc.devissuer import DevIssuer
from tests.integration.e2e.harness import E2EServer, ServerFactory
from tests.integration.e2e.web_identity_kit import EKS, GITHUB, SA_SUB, build_repo, role_arn

IRSA = role_arn("irsa")


@pytest.fixture
def eks() -> DevIssuer:
    return DevIssuer(f"https://{EKS}")


@pytest.fixture
def server(start_server: ServerFactory, tmp_path: Path, eks: DevIssuer) -> E2EServer:
    repo = build_repo(tmp_path / "repo", eks, DevIssuer(f"https://{GITHUB}"))
    return start_server(repo, aws_listen="127.0.0.1:0")


def _url(server: E2EServer) -> str:
    assert server.server.aws is not None
    return f"http://127.0.0.1:{server.server.aws.port}"


def _sts(server: E2EServer, **kwargs: Any) -> Any:
    return boto3.client("sts", endpoint_url=_url(server), region_name="us-east-1", **kwargs)


def test_boto3_call_is_unsigned_and_answers_in_aws_shape(server: E2EServer, eks: DevIssuer) -> None:
    sts = _sts(server, config=Config(signature_version=UNSIGNED))
    token = eks.mint("default", "reports")
    response = sts.assume_role_with_web_identity(
        RoleArn=IRSA, RoleSessionName="pod", WebIdentityToken=token, DurationSeconds=900
    )
    assert response["SubjectFromWebIdentityToken"] == SA_SUB
    assert response["Provider"] == EKS and response["Audience"] == "sts.amazonaws.com"
    assert response["AssumedRoleUser"]["Arn"] == "arn:aws:sts::444455556666:assumed-role/irsa/pod"
    session = response["Credentials"]
    identity = _sts(
        server,
        aws_access_key_id=session["AccessKeyId"],
        aws_secret_access_key=session["SecretAccessKey"],
        aws_session_token=session["SessionToken"],
    ).get_caller_identity()
    assert identity["Arn"] == "arn:aws:sts::444455556666:assumed-role/irsa/pod"
    events = server.audit_events(2)
    assert [e["eventName"] for e in events[:1]] == ["AssumeRoleWithWebIdentity"]
    assert token.split(".")[2] not in server.audit_path.read_text(encoding="utf-8")


def test_errors_keep_their_aws_codes(server: E2EServer, eks: DevIssuer) -> None:
    sts = _sts(server, config=Config(signature_version=UNSIGNED))
    cases = [
        (eks.mint("default", "other"), "AccessDenied"),
        (eks.mint("default", "reports", audience="elsewhere"), "InvalidIdentityToken"),
        (DevIssuer("https://nobody.example").mint(), "InvalidIdentityToken"),
        (eks.mint("default", "reports", now=1_000_000_000), "ExpiredToken"),
    ]
    for token, code in cases:
        with pytest.raises(botocore.exceptions.ClientError) as info:
            sts.assume_role_with_web_identity(
                RoleArn=IRSA, RoleSessionName="pod", WebIdentityToken=token
            )
        assert info.value.response["Error"]["Code"] == code, token


def test_botocore_web_identity_provider_with_only_a_token_file(
    server: E2EServer, eks: DevIssuer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What an IRSA pod runs: boto3 with the token file and role in the environment and the
    STS endpoint configured; botocore exchanges the token itself."""
    token_file = tmp_path / "token"
    token_file.write_text(eks.mint("default", "reports"))
    for name in list(__import__("os").environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token_file))
    monkeypatch.setenv("AWS_ROLE_ARN", IRSA)
    monkeypatch.setenv("AWS_ROLE_SESSION_NAME", "irsa-pod")
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", _url(server))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    session = boto3.Session(region_name="us-east-1")
    identity = session.client("sts").get_caller_identity()
    assert identity["Arn"] == "arn:aws:sts::444455556666:assumed-role/irsa/irsa-pod"
    assert session.get_credentials().method == "assume-role-with-web-identity"
