"""The workload path end to end with a real server: the client SDK's ``WebIdentityCredentials``
reading a token file (re-read when the token rotates, the session refreshed before expiry),
the CLI command, and ``make run``'s printed commands run verbatim through a shell."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from authz import cli, devrun, errors
from authz.cli_devissuer import ensure_issuer
from authz.client import AuthzClient, WebIdentityCredentials
from authz.oidc.devissuer import DevIssuer, JwksServer
from tests.integration.e2e.harness import E2EServer, ServerFactory
from tests.integration.e2e.web_identity_kit import EKS, GITHUB, build_repo, role_arn

ROOT = Path(__file__).resolve().parents[3]
CI_ROLE = role_arn("ci-like")  # trusts system:serviceaccount:ci-*:*


@pytest.fixture
def eks() -> DevIssuer:
    return DevIssuer(f"https://{EKS}")


@pytest.fixture
def server(start_server: ServerFactory, tmp_path: Path, eks: DevIssuer) -> E2EServer:
    return start_server(build_repo(tmp_path / "repo", eks, DevIssuer(f"https://{GITHUB}")))


class Clock:
    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


def _write_token(path: Path, token: str) -> None:
    """As the kubelet rotates a projected token: write aside, rename over."""
    aside = path.with_suffix(".new")
    aside.write_text(token + "\n", encoding="utf-8")
    os.replace(aside, path)


def test_token_file_sessions_refresh_across_token_rotation(
    server: E2EServer, eks: DevIssuer, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    _write_token(token_file, eks.mint("ci-a", "runner"))
    clock = Clock()
    with server.client(None) as sts:
        provider = WebIdentityCredentials.from_environment(
            sts,
            {"AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file), "AWS_ROLE_ARN": CI_ROLE,
             "AWS_ROLE_SESSION_NAME": "ci-job"},
            duration_seconds=900,
            clock=clock,
        )  # fmt: skip
        with server.client(None) as plain:
            workload = AuthzClient(server.target, provider, channel=plain._channel, timeout=10)
            first = workload.get_caller_identity()
            assert first.arn == "arn:aws:sts::444455556666:assumed-role/ci-like/ci-job"
            assert provider.last_response.subject_from_web_identity_token == (
                "system:serviceaccount:ci-a:runner"
            )
            session_one = provider.credentials().token
            # the token rotates (a new service account here, so the exchange shows which
            # token it read) and the session nears its end: the next call refreshes
            _write_token(token_file, eks.mint("ci-b", "runner"))
            assert workload.get_caller_identity().arn == first.arn  # still the first session
            assert provider.refresh_count == 1
            clock.offset = timedelta(seconds=900 - 60)  # inside the 5-minute mandatory margin
            assert workload.get_caller_identity().arn == first.arn
            assert provider.refresh_count == 2
            assert provider.credentials().token != session_one
            assert provider.last_response.subject_from_web_identity_token == (
                "system:serviceaccount:ci-b:runner"
            )
            # a token file holding an expired token: the mandatory refresh fails loudly
            now = int(datetime.now(UTC).timestamp())
            _write_token(token_file, eks.sign(eks.claims("ci-c", "runner", now=now - 7200)))
            clock.offset = timedelta(seconds=2 * 900)
            with pytest.raises(errors.ExpiredToken):
                workload.get_caller_identity()


def test_missing_environment_is_named(server: E2EServer) -> None:
    with server.client(None) as sts, pytest.raises(errors.ValidationError, match="AWS_ROLE_ARN"):
        WebIdentityCredentials.from_environment(sts, {"AWS_WEB_IDENTITY_TOKEN_FILE": "/x"})


def test_cli_prints_the_aws_shape_and_the_session_works(
    server: E2EServer, eks: DevIssuer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    token_file = tmp_path / "token"
    _write_token(token_file, eks.mint("ci-x", "builder"))
    code = cli.main(["sts", "assume-role-with-web-identity", "--target", server.target,
                     "--role-arn", CI_ROLE, "--role-session-name", "cli",
                     "--web-identity-token", f"file://{token_file}"])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    doc = json.loads(out)
    assert doc["SubjectFromWebIdentityToken"] == "system:serviceaccount:ci-x:builder"
    assert doc["Provider"] == EKS and doc["Audience"] == "sts.amazonaws.com"
    assert doc["AssumedRoleUser"]["Arn"].endswith("assumed-role/ci-like/cli")
    session = tmp_path / "session.json"
    session.write_text(out)
    monkeypatch.setenv("AUTHZ_CREDENTIALS_FILE", str(session))
    assert cli.main(["sts", "get-caller-identity", "--target", server.target]) == 0
    assert json.loads(capsys.readouterr().out)["Arn"].endswith("assumed-role/ci-like/cli")


def _printed_commands(text: str) -> list[str]:
    commands, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if current:
            current += " " + stripped.rstrip("\\").strip()
            if not stripped.endswith("\\"):
                commands.append(current)
                current = ""
        elif stripped.startswith((".venv/bin/authz", "AUTHZ_CA_FILE=")):
            if stripped.endswith("\\"):
                current = stripped.rstrip("\\").strip()
            else:
                commands.append(stripped)
    return commands


def test_make_run_web_identity_commands_work_verbatim(
    start_server: ServerFactory, example_repo: Path, tmp_path: Path
) -> None:
    """``make run``'s workload lines, run by a shell in a project directory as printed: the
    example repository's dev-cluster provider and reports-exporter role, the local issuer's
    JWKS over HTTPS with the local CA, the token minted by ``authz dev-issuer mint``."""
    project = tmp_path / "project"
    local = project / ".authz-local"
    tls = devrun.ensure_tls(local)
    issuer = ensure_issuer(local / "dev-issuer")
    jwks = JwksServer(issuer, tls / "server.crt", tls / "server.key").start()
    try:
        provider = example_repo / "accounts/444455556666/oidc-providers/dev-cluster.json"
        document = json.loads(provider.read_text())
        assert document["JwksUri"] == f"https://127.0.0.1:{devrun.ISSUER_PORT}/openid/v1/jwks"
        document["JwksUri"] = jwks.jwks_uri  # the test's issuer listens on a free port
        provider.write_text(json.dumps(document))
        env = start_server(example_repo, tls_cert=tls / "server.crt",
                           tls_key=tls / "server.key", oidc_ca_file=tls / "ca.crt")  # fmt: skip
        text = devrun.web_identity_instructions(env.target, Path(".authz-local/tls"),
                                                Path(".authz-local"))  # fmt: skip
        commands = _printed_commands(text)
        assert len(commands) == 3, text
        bin_dir = project / ".venv" / "bin"
        bin_dir.mkdir(parents=True)
        (bin_dir / "authz").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m authz.cli "$@"\n')
        (bin_dir / "authz").chmod(0o755)
        shell_env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AUTHZ_"))}
        shell_env["PYTHONPATH"] = str(ROOT)
        results = []
        for command in commands:
            done = subprocess.run(["bash", "-c", command], env=shell_env, capture_output=True,
                                  text=True, timeout=120, cwd=project)  # fmt: skip
            results.append(done)
            assert done.returncode == 0, (command, done.stdout, done.stderr)
        session = json.loads((local / "exporter-session.json").read_text())
        assert session["AssumedRoleUser"]["Arn"] == (
            "arn:aws:sts::444455556666:assumed-role/reports-exporter/exporter"
        )
        assert session["SubjectFromWebIdentityToken"] == "system:serviceaccount:reports:exporter"
        assert results[2].stdout.startswith("ALLOWED: ")
    finally:
        jwks.stop()


def test_cli_with_only_a_token_file_in_the_environment(
    server: E2EServer, eks: DevIssuer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """``AWS_WEB_IDENTITY_TOKEN_FILE`` + ``AWS_ROLE_ARN`` alone: every client command runs
    as the role session the token is exchanged for."""
    token_file = tmp_path / "token"
    _write_token(token_file, eks.mint("ci-env", "runner"))
    for name in list(os.environ):
        if name.startswith(("AWS_", "AUTHZ_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token_file))
    monkeypatch.setenv("AWS_ROLE_ARN", CI_ROLE)
    monkeypatch.setenv("AWS_ROLE_SESSION_NAME", "from-env")
    assert cli.main(["sts", "get-caller-identity", "--target", server.target]) == 0
    assert json.loads(capsys.readouterr().out)["Arn"].endswith("assumed-role/ci-like/from-env")
    code = cli.main(["check", "--target", server.target, "--action", "s3:GetObject",
                     "--resource", "arn:aws:s3:::reports/a.csv"])  # fmt: skip
    assert code == 0 and capsys.readouterr().out.startswith("ALLOWED: ")
    client = AuthzClient.from_environment(server.target)
    with client:
        assert client.get_caller_identity().arn.endswith("/ci-like/from-env")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")  # the environment's keys come first
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    assert cli.main(["sts", "get-caller-identity", "--target", server.target]) != 0
