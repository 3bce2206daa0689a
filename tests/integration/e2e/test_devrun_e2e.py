"""``make run``'s playground and printed commands against a real server: TLS with the local CA
(the server states ``aws:SecureTransport``; the example bucket policy denies plaintext reads),
Bob assumes ``foo``, the session reads the reports and may not delete them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
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
        state_url=devrun.state_url(local),
        state_key_file=local / "state.key",
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


def _printed_commands(text: str) -> list[str]:
    """The shell commands of the printed text (lines starting with ``AWS_CONFIG_FILE=``,
    continuation lines joined)."""
    commands, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if current:
            current += " " + stripped.rstrip("\\").strip()
            if not stripped.endswith("\\"):
                commands.append(current)
                current = ""
        elif stripped.startswith("AWS_CONFIG_FILE="):
            if stripped.endswith("\\"):
                current = stripped.rstrip("\\").strip()
            else:
                commands.append(stripped)
    return commands


def test_the_printed_aws_cli_lines_work_verbatim(
    start_server: ServerFactory, example_repo: Path, tmp_path: Path
) -> None:
    """``make run``'s AWS CLI lines, run as printed by a shell: ``aws sts assume-role
    --endpoint-url`` as Bob over TLS, and the ``authz-foo`` profile whose ``credential_process``
    is ``authz credential-process`` (assuming ``foo`` over gRPC)."""
    aws_cli = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")
    if aws_cli is None:
        pytest.skip("the `aws` command (awscli, a dev dependency) is not installed")
    local = tmp_path / "local"
    bob = devrun.ensure_playground(local)
    tls = devrun.ensure_tls(local)
    env = start_server(
        example_repo,
        keys_dir=local / "keys",
        state_url=devrun.state_url(local),
        state_key_file=local / "state.key",
        tls_cert=tls / "server.crt",
        tls_key=tls / "server.key",
        aws_listen="127.0.0.1:0",
    )
    assert env.server.aws is not None
    aws_listen = f"127.0.0.1:{env.server.aws.port}"
    aws_dir = devrun.ensure_aws_profiles(bob, env.target, aws_listen, tls, local)
    text = devrun.aws_instructions(aws_dir, aws_listen, tls)
    assert "credential_process = " in text and "[profile authz-foo]" in text
    assume, identity = _printed_commands(text)
    assert "sts assume-role --endpoint-url https://" in assume
    shell_env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHZ_")}
    shell_env["AWS_CA_BUNDLE"] = "/nonexistent/system-bundle.pem"  # the line must override it
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        shell_env.pop(name, None)
    shell_env["PATH"] = f"{Path(aws_cli).parent}:{shell_env.get('PATH', '')}"
    outputs = []
    for command in (assume, identity):
        done = subprocess.run(["bash", "-c", command], env=shell_env, capture_output=True,
                              text=True, timeout=120, cwd=tmp_path)  # fmt: skip
        assert done.returncode == 0, (command, done.stderr)
        outputs.append(json.loads(done.stdout))
    assert outputs[0]["AssumedRoleUser"]["Arn"] == "arn:aws:sts::444455556666:assumed-role/foo/demo"
    assert outputs[1]["Arn"].startswith("arn:aws:sts::444455556666:assumed-role/foo/")
