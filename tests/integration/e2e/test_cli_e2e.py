"""The client commands against a real server, with AWS CLI habits: credentials from an
``authz keys create --profile`` entry or the AWS variables (as boto3 resolves them), ``Key=…,
Value=…`` session tags, ``check`` answering in words and exiting 1 on a deny, and a service
error told apart from a usage error by its exit code."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from authz.cli import main
from authz.client import AuthzClient
from tests.integration.e2e.harness import Pki, ServerFactory

BOB = "arn:aws:iam::111122223333:user/Bob"
FOO = "arn:aws:iam::444455556666:role/foo"
REPORT = "arn:aws:s3:::example-reports/2024/q1.csv"
_ENV = (
    "AUTHZ_SESSION_TOKEN", "AUTHZ_ACCESS_KEY_ID", "AUTHZ_SECRET_ACCESS_KEY",
    "AUTHZ_CREDENTIALS_FILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
)  # fmt: skip


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.aws of the machine


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_keys_create_profile_is_read_by_boto3_and_the_client(
    start_server: ServerFactory,
    example_repo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    state = {"state_url": f"sqlite:///{tmp_path / 'state.db'}",
             "state_key_file": tmp_path / "state.key"}  # fmt: skip
    shared = tmp_path / "aws" / "credentials"
    code, out, err = _run(
        capsys, "keys", "create", "--state-url", state["state_url"],
        "--state-key-file", str(state["state_key_file"]), "--user", BOB,
        "--profile", "bob", "--credentials-path", str(shared),
    )  # fmt: skip
    assert code == 0 and "SecretAccessKey" not in out and "AWS_PROFILE=bob" in err
    key_id = json.loads(out)["AccessKey"]["AccessKeyId"]
    assert stat.S_IMODE(shared.stat().st_mode) == 0o600
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(shared))
    monkeypatch.setenv("AWS_PROFILE", "bob")
    botocore_session = pytest.importorskip("botocore.session")
    resolved = botocore_session.get_session().get_credentials()
    assert resolved is not None and resolved.access_key == key_id  # boto3 reads the same entry

    env = start_server(example_repo, **state)
    code, out, _ = _run(capsys, "sts", "get-caller-identity", "--target", env.target)
    assert code == 0 and json.loads(out)["Arn"] == BOB
    with AuthzClient.from_environment(env.target) as client:
        assert client.get_caller_identity().arn == BOB
    code, out, _ = _run(
        capsys, "sts", "get-caller-identity", "--target", env.target,
        "--query", "Account", "--output", "text",
    )  # fmt: skip
    assert out.strip() == "111122223333"
    monkeypatch.setenv("AWS_PROFILE", "nobody")
    code, _, err = _run(capsys, "sts", "get-caller-identity", "--target", env.target)
    assert code == 2 and "(nobody) could not be found" in err


def test_aws_variables_session_tags_and_check(
    start_server: ServerFactory,
    example_repo: Path,
    pki: Pki,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # over TLS: the server states aws:SecureTransport (the bucket policy denies plaintext)
    tls = {"tls_cert": pki.directory / "server.crt", "tls_key": pki.directory / "server.key"}
    env = start_server(example_repo, **tls)
    monkeypatch.setenv("AUTHZ_CA_FILE", str(pki.directory / "ca.crt"))
    bob = env.access_key(BOB)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", bob.key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", bob.secret)
    target = ("--target", env.target)
    assume = ("sts", "assume-role", *target, "--role-arn", FOO, "--role-session-name", "demo")
    code, out, err = _run(
        capsys, *assume, "--tags", "Key=project,Value=q1", "Key=cost,Value=42"
    )  # the tags reach the server: Bob's identity policies do not allow sts:TagSession
    assert code == 254 and "sts:TagSession" in json.loads(err)["Error"]["Message"]
    code, out, err = _run(capsys, *assume, "--duration-seconds", "7200")
    assert code == 0, err
    session = json.loads(out)
    assert session["EffectiveDurationSeconds"] == 7200
    # the AWS variables of the session, as `aws sts assume-role` users export them
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", session["Credentials"]["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", session["Credentials"]["SecretAccessKey"])
    monkeypatch.setenv("AWS_SESSION_TOKEN", session["Credentials"]["SessionToken"])
    code, out, _ = _run(capsys, "sts", "get-caller-identity", *target)
    assert json.loads(out)["Arn"] == "arn:aws:sts::444455556666:assumed-role/foo/demo"

    secure = ("--context-entries", "ContextKeyName=s3:prefix,ContextKeyValues=2024/")
    code, out, _ = _run(
        capsys, "check", *target, "--action", "s3:GetObject", "--resource", REPORT, *secure
    )
    assert code == 0 and out.startswith("ALLOWED: arn:aws:sts::444455556666:assumed-role/foo")
    code, out, _ = _run(
        capsys, "check", *target, "--action", "s3:DeleteObject", "--resource", REPORT, *secure
    )
    assert code == 1
    assert out.startswith("DENIED:") and "implicit deny in the identity layer" in out
    code, out, _ = _run(
        capsys, "check", *target, "--action", "s3:DeleteObject", "--resource", REPORT,
        *secure, "--output", "json",
    )  # fmt: skip
    assert code == 1 and json.loads(out)["Decision"] == "ImplicitDeny"


def test_service_error_usage_error_and_bad_tags_exit_differently(
    start_server: ServerFactory,
    example_repo: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = start_server(example_repo)
    bob = env.access_key(BOB)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", bob.key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", bob.secret)
    other = "arn:aws:iam::444455556666:role/ci-deployer"
    code, _, err = _run(
        capsys, "sts", "assume-role", "--target", env.target,
        "--role-arn", other, "--role-session-name", "xx",
    )  # fmt: skip
    assert code == 254 and json.loads(err)["Error"]["Code"] == "AccessDenied", err
    code, _, err = _run(
        capsys, "sts", "assume-role", "--target", env.target,
        "--role-arn", FOO, "--role-session-name", "xx", "--tags", "nonsense",
    )  # fmt: skip
    assert code == 2 and "--tags `nonsense`" in err
