"""The source identities of ``authz credential-process`` and ``authz agent`` beyond access
keys, against a real server: an mTLS service identity (the certificate's SAN mapped to a
service principal the role trusts) and a web identity token file (AssumeRoleWithWebIdentity,
the file re-read at every refresh). Both commands build their client with ``_client_for`` and
their sessions with ``role_provider``; the agent serves what that provider returns."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from authz.cli_credentials import _client_for, role_provider
from authz.client.credentials import SessionCredentials
from authz.errors import AuthzError, ValidationError
from authz.oidc.devissuer import DevIssuer
from tests.integration.e2e.harness import E2EServer, Pki, ServerFactory
from tests.integration.e2e.web_identity_kit import EKS, GITHUB, build_repo, role_arn

CI_ROLE = "arn:aws:iam::444455556666:role/service-role/ci-deployer"  # trusts ci.internal
CI_SAN = "spiffe://e2e/ci"
IRSA = role_arn("irsa")


def _credential_process(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AUTHZ_"))}
    return subprocess.run(
        [sys.executable, "-m", "authz.cli", "credential-process", *args],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def _session(doc: dict[str, str]) -> SessionCredentials:
    expiration = datetime.fromisoformat(doc["Expiration"].replace("Z", "+00:00"))
    return SessionCredentials(
        doc["SessionToken"], expiration, doc["AccessKeyId"], doc["SecretAccessKey"]
    )


def _args(target: str, role: str, **extra: object) -> argparse.Namespace:
    values: dict[str, object] = {
        "role_arn": role, "profile": None, "cert_file": None, "key_file": None,
        "web_identity_token_file": None, "target": target, "ca_file": None, "timeout": 10.0,
    }  # fmt: skip
    values.update(extra)
    return argparse.Namespace(**values)


@pytest.fixture
def mtls_server(start_server: ServerFactory, example_repo: Path, pki: Pki) -> E2EServer:
    return start_server(example_repo, pki=pki, service_principals={CI_SAN: "ci.internal"})


def test_credential_process_with_an_mtls_service_identity(
    mtls_server: E2EServer, pki: Pki, tmp_path: Path
) -> None:
    cert, key = pki.client_files(CI_SAN, tmp_path)
    ca = pki.directory / "ca.crt"
    done = _credential_process(
        "--role-arn", CI_ROLE, "--cert-file", str(cert), "--key-file", str(key),
        "--ca-file", str(ca), "--target", mtls_server.target,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["Version"] == 1 and doc["AccessKeyId"].startswith("ASIA")
    with mtls_server.client(_session(doc)) as client:  # the session signs: its own identity
        arn = client.get_caller_identity().arn
    assert arn.startswith("arn:aws:sts::444455556666:assumed-role/ci-deployer/credential-process")


def test_the_agents_provider_with_an_mtls_identity_refreshes(
    mtls_server: E2EServer, pki: Pki, tmp_path: Path
) -> None:
    cert, key = pki.client_files(CI_SAN, tmp_path)
    args = _args(mtls_server.target, CI_ROLE, cert_file=str(cert), key_file=str(key),
                 ca_file=str(pki.directory / "ca.crt"))  # fmt: skip
    with _client_for(args) as client:
        provider = role_provider(
            args, client, "agent", duration_seconds=900, refresh_margin=timedelta(seconds=900)
        )
        first, second = provider.credentials(), provider.credentials()  # each one refreshes
    assert first.access_key_id != second.access_key_id
    with mtls_server.client(second) as client:
        assert client.get_caller_identity().arn.endswith(":assumed-role/ci-deployer/agent")


def test_an_unmapped_certificate_or_half_an_identity_is_refused(
    mtls_server: E2EServer, pki: Pki, tmp_path: Path
) -> None:
    cert, key = pki.client_files("spiffe://e2e/nobody", tmp_path)
    ca = str(pki.directory / "ca.crt")
    common = ["--role-arn", CI_ROLE, "--target", mtls_server.target]
    unmapped = _credential_process(*common, "--cert-file", str(cert), "--key-file", str(key),
                                   "--ca-file", ca)  # fmt: skip
    assert unmapped.returncode != 0 and not unmapped.stdout
    # no service principal for that SAN: the certificate identifies nobody the server knows
    assert json.loads(unmapped.stderr)["Error"]["Code"] == "InvalidClientTokenId"
    for flags, says in (
        (["--cert-file", str(cert), "--ca-file", ca], "go together"),
        (["--cert-file", str(cert), "--key-file", str(key)], "needs the server's --ca-file"),
    ):
        done = _credential_process(*common, *flags)
        assert done.returncode != 0 and says in done.stderr, done.stderr
    with pytest.raises(ValidationError, match="a source identity of its own"):
        _client_for(_args(mtls_server.target, CI_ROLE, profile="x",
                          web_identity_token_file=str(tmp_path / "t")))  # fmt: skip


@pytest.fixture
def eks() -> DevIssuer:
    return DevIssuer(f"https://{EKS}")


@pytest.fixture
def oidc_server(start_server: ServerFactory, tmp_path: Path, eks: DevIssuer) -> E2EServer:
    return start_server(build_repo(tmp_path / "repo", eks, DevIssuer(f"https://{GITHUB}")))


def test_credential_process_with_a_web_identity_token_file(
    oidc_server: E2EServer, eks: DevIssuer, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(eks.mint("default", "reports"))
    done = _credential_process(
        "--role-arn", IRSA, "--web-identity-token-file", str(token_file),
        "--role-session-name", "pod", "--target", oidc_server.target,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with oidc_server.client(_session(json.loads(done.stdout))) as client:
        assert client.get_caller_identity().arn == "arn:aws:sts::444455556666:assumed-role/irsa/pod"


def test_the_agents_web_identity_rereads_the_token_file(
    oidc_server: E2EServer, eks: DevIssuer, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(eks.mint("default", "reports"))
    args = _args(oidc_server.target, IRSA, web_identity_token_file=str(token_file))
    with _client_for(args) as client:
        provider = role_provider(
            args, client, "pod", duration_seconds=900, refresh_margin=timedelta(seconds=900)
        )
        assert provider.credentials().access_key_id
        token_file.write_text(DevIssuer("https://nobody.example").mint())  # a rotated, bad token
        with pytest.raises(AuthzError) as info:
            provider.credentials()
        assert info.value.code == "InvalidIdentityToken"
        token_file.write_text(eks.mint("default", "reports"))  # the kubelet's next good one
        assert provider.credentials().access_key_id
