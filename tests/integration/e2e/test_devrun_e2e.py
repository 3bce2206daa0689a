"""``make run``'s playground and printed commands against a real server: TLS with the local CA
(the server states ``aws:SecureTransport``; the example bucket policy denies plaintext reads),
Bob assumes ``foo``, the session reads the reports and may not delete them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from authz import cli, devrun
from tests.integration.e2e.harness import ServerFactory


def test_the_printed_commands_work_over_tls(
    start_server: ServerFactory,
    example_repo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    local = tmp_path / "local"
    bob = devrun.ensure_playground(local)
    tls = devrun.ensure_tls(local)
    assert devrun.ensure_tls(local) == tls and (tls / "server.key").stat().st_mode & 0o077 == 0
    env = start_server(
        example_repo,
        keys_dir=local / "keys",
        credentials_file=local / "credentials.json",
        tls_cert=tls / "server.crt",
        tls_key=tls / "server.key",
    )
    text = devrun.instructions(bob, env.target, tls)
    assert f"AUTHZ_CA_FILE={tls / 'ca.crt'}" in text and f"--target {env.target}" in text
    monkeypatch.setenv("AUTHZ_CA_FILE", str(tls / "ca.crt"))
    monkeypatch.setenv("AUTHZ_CREDENTIALS_FILE", str(bob))
    target = ["--target", env.target]
    assert cli.main(["sts", "assume-role", *target, "--role-arn", devrun.FOO,
                     "--role-session-name", "demo"]) == 0  # fmt: skip
    session = tmp_path / "foo-session.json"
    session.write_text(capsys.readouterr().out)
    monkeypatch.setenv("AUTHZ_CREDENTIALS_FILE", str(session))
    decisions = []
    for action in ("s3:GetObject", "s3:DeleteObject"):
        resource = "arn:aws:s3:::example-reports/q1.csv"
        code = cli.main(["check", *target, "--action", action, "--resource", resource,
                         "--output", "json"])  # fmt: skip
        decisions.append((code, json.loads(capsys.readouterr().out)["Decision"]))
    assert decisions == [(0, "Allowed"), (1, "ImplicitDeny")]  # 1: a deny
