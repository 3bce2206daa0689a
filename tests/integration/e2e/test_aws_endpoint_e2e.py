"""The AWS-compatible endpoint with real AWS clients: boto3/botocore and the AWS CLI.

Every request here is signed by botocore (directly, through boto3, or inside ``aws``); the
server verifies SigV4 and answers in AWS's XML. Errors are asserted by their AWS codes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import pytest

from tests.integration.e2e.harness import E2EServer, ServerFactory

BOB = "arn:aws:iam::111122223333:user/Bob"
FOO = "arn:aws:iam::444455556666:role/foo"
ADMIN_ROLE = "arn:aws:iam::111122223333:role/authz-admin"
DANA = "arn:aws:iam::111122223333:user/Dana"
TEAM_BUCKET = "arn:aws:s3:::teambucket"
BOOKS = "arn:aws:dynamodb:us-west-2:123456789012:table/Books"
AWS = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")


@pytest.fixture
def server(start_server: ServerFactory, example_repo: Path) -> E2EServer:
    return start_server(example_repo, aws_listen="127.0.0.1:0")


def url_of(server: E2EServer) -> str:
    assert server.server.aws is not None
    return f"http://127.0.0.1:{server.server.aws.port}"


def client(server: E2EServer, service: str, creds: dict[str, str], **kwargs: Any) -> Any:
    return boto3.client(
        service,
        endpoint_url=url_of(server),
        region_name=kwargs.pop("region_name", "us-east-1"),
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds.get("SessionToken"),
        **kwargs,
    )


def long_term(server: E2EServer, user: str) -> dict[str, str]:
    key_id, secret = server.backend.credentials.create(user)
    return {"AccessKeyId": key_id, "SecretAccessKey": secret}


def error_code(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(*args, **kwargs)
    return str(info.value.response["Error"]["Code"])


def admin_session(server: E2EServer) -> dict[str, str]:
    sts = client(server, "sts", long_term(server, DANA))
    return dict(sts.assume_role(RoleArn=ADMIN_ROLE, RoleSessionName="admin")["Credentials"])


# -- boto3 -----------------------------------------------------------------------------------


def test_assume_role_and_use_the_session(server: E2EServer) -> None:
    bob = long_term(server, BOB)
    sts = client(server, "sts", bob)
    assert sts.get_caller_identity()["Arn"] == BOB
    response = sts.assume_role(RoleArn=FOO, RoleSessionName="demo", DurationSeconds=900)
    assert response["AssumedRoleUser"]["Arn"] == "arn:aws:sts::444455556666:assumed-role/foo/demo"
    session = response["Credentials"]
    assert session["AccessKeyId"].startswith("ASIA")
    identity = client(server, "sts", session).get_caller_identity()
    assert identity["Arn"] == "arn:aws:sts::444455556666:assumed-role/foo/demo"
    assert identity["Account"] == "444455556666"


def test_a_session_needs_its_secret_and_its_token(server: E2EServer) -> None:
    sts = client(server, "sts", long_term(server, BOB))
    session = sts.assume_role(RoleArn=FOO, RoleSessionName="pop")["Credentials"]
    wrong_secret = {**session, "SecretAccessKey": "A" * 40}
    assert error_code(client(server, "sts", wrong_secret).get_caller_identity) == (
        "SignatureDoesNotMatch"
    )
    no_token = {k: v for k, v in session.items() if k != "SessionToken"}
    assert error_code(client(server, "sts", no_token).get_caller_identity) == (
        "InvalidClientTokenId"
    )
    other = sts.assume_role(RoleArn=FOO, RoleSessionName="other")["Credentials"]
    swapped = {**session, "SessionToken": other["SessionToken"]}  # a token of another session
    assert error_code(client(server, "sts", swapped).get_caller_identity) == (
        "InvalidClientTokenId"
    )


def test_assume_role_denied_is_access_denied(server: E2EServer) -> None:
    sts = client(server, "sts", long_term(server, BOB))
    assert error_code(sts.assume_role, RoleArn=ADMIN_ROLE, RoleSessionName="xx") == "AccessDenied"


def test_validation_errors_keep_their_aws_code(server: E2EServer) -> None:
    sts = client(server, "sts", long_term(server, BOB))
    code = error_code(sts.assume_role, RoleArn=FOO, RoleSessionName="not allowed!")
    assert code == "ValidationError"


def test_unknown_key_wrong_region_and_other_actions(server: E2EServer) -> None:
    bob = long_term(server, BOB)
    unknown = {"AccessKeyId": "AKIAAAAAAAAAAAAAAAAA", "SecretAccessKey": "x" * 40}
    assert error_code(client(server, "sts", unknown).get_caller_identity) == (
        "InvalidClientTokenId"
    )
    elsewhere = client(server, "sts", bob, region_name="eu-west-1")
    assert error_code(elsewhere.get_caller_identity) == "SignatureDoesNotMatch"
    assert error_code(client(server, "iam", bob).list_users) == "InvalidAction"
    assert error_code(client(server, "sts", bob).get_session_token) == "InvalidAction"


def test_simulate_custom_and_principal_policy(server: E2EServer) -> None:
    iam = client(server, "iam", admin_session(server))
    statement = {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": TEAM_BUCKET}
    policy = json.dumps({"Version": "2012-10-17", "Statement": statement})
    result = iam.simulate_custom_policy(
        PolicyInputList=[policy],
        ActionNames=["s3:ListBucket", "s3:GetObject"],
        ResourceArns=[TEAM_BUCKET],
    )
    decisions = {r["EvalActionName"]: r["EvalDecision"] for r in result["EvaluationResults"]}
    assert decisions == {"s3:ListBucket": "allowed", "s3:GetObject": "implicitDeny"}
    assert result["IsTruncated"] is False
    principal = iam.simulate_principal_policy(
        PolicySourceArn=BOB, ActionNames=["sts:AssumeRole"], ResourceArns=[FOO]
    )
    assert principal["EvaluationResults"][0]["EvalActionName"] == "sts:AssumeRole"
    bob_iam = client(server, "iam", long_term(server, BOB))
    assert error_code(bob_iam.simulate_custom_policy, PolicyInputList=[policy],
                      ActionNames=["s3:ListBucket"]) == "AccessDenied"  # fmt: skip


def test_presigned_get_caller_identity_url(server: E2EServer) -> None:
    sts = client(server, "sts", long_term(server, BOB))
    url = sts.generate_presigned_url("get_caller_identity", ExpiresIn=60, HttpMethod="GET")
    assert "X-Amz-Signature=" in url and "X-Amz-Credential=" in url
    with urllib.request.urlopen(url, timeout=10) as response:
        assert BOB in response.read().decode()
    with pytest.raises(urllib.error.HTTPError) as info:  # accepted once
        urllib.request.urlopen(url, timeout=10)
    assert info.value.code == 400 and b"<Code>RequestExpired</Code>" in info.value.read()


def test_assume_role_provider_refreshes_a_short_session(
    server: E2EServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """boto3's AssumeRoleProvider (``role_arn`` + ``source_profile``) assumes the role through
    ``AWS_ENDPOINT_URL_STS`` and refreshes: a 900-second session is inside botocore's 15-minute
    advisory window, so each use of the credentials assumes the role again."""
    bob = long_term(server, BOB)
    config = tmp_path / "config"
    config.write_text(
        "[profile base]\n"
        f"aws_access_key_id = {bob['AccessKeyId']}\n"
        f"aws_secret_access_key = {bob['SecretAccessKey']}\n"
        "region = us-east-1\n"
        "[profile foo]\n"
        f"role_arn = {FOO}\nsource_profile = base\nduration_seconds = 900\n"
        "role_session_name = refreshing\nregion = us-east-1\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", url_of(server))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    session = boto3.Session(profile_name="foo")
    sts = session.client("sts")
    seen = set()
    for _ in range(3):
        assert sts.get_caller_identity()["Arn"].endswith("assumed-role/foo/refreshing")
        seen.add(session.get_credentials().get_frozen_credentials().access_key)
        time.sleep(1.05)  # a new second: the refresh's AssumeRole is not byte-identical
    assert len(seen) >= 2 and all(k.startswith("ASIA") for k in seen)


def test_audit_records_http_calls_without_secrets(server: E2EServer) -> None:
    bob = long_term(server, BOB)
    session = client(server, "sts", bob).assume_role(RoleArn=FOO, RoleSessionName="audited")
    secret = session["Credentials"]["SecretAccessKey"]
    events = server.audit_events(2)
    assume = [e for e in events if e.get("eventName") == "AssumeRole"]
    assert assume, events
    text = server.audit_path.read_text()
    assert secret not in text and bob["SecretAccessKey"] not in text
    assert session["Credentials"]["SessionToken"] not in text


# -- the AWS CLI -----------------------------------------------------------------------------


@pytest.fixture
def aws_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    if AWS is None:
        pytest.skip("the `aws` command (awscli, a dev dependency) is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({
        "AWS_CONFIG_FILE": str(tmp_path / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials"),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_PAGER": "",
    })  # fmt: skip
    yield env


def aws(env: dict[str, str], creds: dict[str, str], *args: str) -> Any:
    run_env = {**env, "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
               "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"]}  # fmt: skip
    if "SessionToken" in creds:
        run_env["AWS_SESSION_TOKEN"] = creds["SessionToken"]
    assert AWS is not None
    done = subprocess.run(
        [AWS, *args, "--output", "json"], env=run_env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_aws_cli_assume_role_then_get_caller_identity(
    server: E2EServer, aws_env: dict[str, str]
) -> None:
    endpoint = url_of(server)
    out = aws(aws_env, long_term(server, BOB), "sts", "assume-role", "--endpoint-url", endpoint,
              "--role-arn", FOO, "--role-session-name", "cli")  # fmt: skip
    session = out["Credentials"]
    identity = aws(aws_env, session, "sts", "get-caller-identity", "--endpoint-url", endpoint)
    assert identity["Arn"] == "arn:aws:sts::444455556666:assumed-role/foo/cli"


def test_aws_cli_simulate_policies(server: E2EServer, aws_env: dict[str, str]) -> None:
    endpoint = url_of(server)
    admin = admin_session(server)
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "dynamodb:CreateBackup",
        "Resource": BOOKS}]})  # fmt: skip
    custom = aws(aws_env, admin, "iam", "simulate-custom-policy", "--endpoint-url", endpoint,
                 "--policy-input-list", policy, "--action-names", "dynamodb:CreateBackup",
                 "--resource-arns", BOOKS)  # fmt: skip
    assert custom["EvaluationResults"][0]["EvalDecision"] == "allowed"
    principal = aws(aws_env, admin, "iam", "simulate-principal-policy", "--endpoint-url",
                    endpoint, "--policy-source-arn", BOB, "--action-names",
                    "codecommit:ListRepositories")  # fmt: skip
    result = principal["EvaluationResults"][0]
    assert result["EvalActionName"] == "codecommit:ListRepositories"
    assert result["EvalDecision"] in ("allowed", "implicitDeny", "explicitDeny")


def test_get_context_keys_for_custom_and_principal_policy(
    start_server: ServerFactory, example_repo: Path, aws_env: dict[str, str]
) -> None:
    role_file = example_repo / "accounts" / "111122223333" / "roles" / "authz-admin.json"
    role = json.loads(role_file.read_text())
    role["RolePolicyList"][0]["PolicyDocument"]["Statement"].append({"Effect": "Allow",
        "Action": "iam:GetContextKeysFor*", "Resource": "*"})  # fmt: skip
    role_file.write_text(json.dumps(role))
    server = start_server(example_repo, aws_listen="127.0.0.1:0")
    iam = client(server, "iam", admin_session(server))
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Condition": {
            "StringEquals": {"aws:PrincipalTag/Team": "blue"},
            "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}},
        {"Effect": "Deny", "Action": "*", "Resource": "*",
         "Condition": {"Bool": {"AWS:SecureTransport": "false"}}},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*",
         "Condition": {"StringLike": {"AWS:SOURCEIP": "10.*"}}}]})  # fmt: skip
    keys = iam.get_context_keys_for_custom_policy(PolicyInputList=[policy])["ContextKeyNames"]
    assert keys == ["aws:PrincipalTag/Team", "aws:SourceIp", "AWS:SecureTransport"]
    bob = iam.get_context_keys_for_principal_policy(PolicySourceArn=BOB)["ContextKeyNames"]
    assert bob == []  # Bob's, his group's and their managed policies have no conditions
    extra = iam.get_context_keys_for_principal_policy(PolicySourceArn=BOB, PolicyInputList=[policy])
    assert extra["ContextKeyNames"] == keys
    nobody = "arn:aws:iam::111122223333:user/Nobody"
    code = error_code(iam.get_context_keys_for_principal_policy, PolicySourceArn=nobody)
    assert code == "NoSuchEntity"
    # Bob may (IAMReadOnlyAccess: iam:Get*); a session of role foo may not
    sts = client(server, "sts", long_term(server, BOB))
    foo = sts.assume_role(RoleArn=FOO, RoleSessionName="no-iam")["Credentials"]
    foo_iam = client(server, "iam", foo)
    assert error_code(foo_iam.get_context_keys_for_custom_policy, PolicyInputList=[policy]) == (
        "AccessDenied"
    )
    out = aws(aws_env, admin_session(server), "iam", "get-context-keys-for-custom-policy",
              "--endpoint-url", url_of(server), "--policy-input-list", policy)  # fmt: skip
    assert out["ContextKeyNames"] == keys


def test_access_denied_carries_an_encoded_message_that_only_permitted_callers_decode(
    start_server: ServerFactory, example_repo: Path
) -> None:
    role_file = example_repo / "accounts" / "111122223333" / "roles" / "authz-admin.json"
    role = json.loads(role_file.read_text())
    role["RolePolicyList"][0]["PolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "Action": "sts:DecodeAuthorizationMessage", "Resource": "*"}
    )
    role_file.write_text(json.dumps(role))
    server = start_server(example_repo, aws_listen="127.0.0.1:0")
    bob_sts = client(server, "sts", long_term(server, BOB))
    with pytest.raises(botocore.exceptions.ClientError) as info:
        bob_sts.assume_role(RoleArn=ADMIN_ROLE, RoleSessionName="not-bob")
    message = info.value.response["Error"]["Message"]
    assert info.value.response["Error"]["Code"] == "AccessDenied"
    head, marker, encoded = message.partition(" Encoded authorization failure message: ")
    assert marker and encoded and "is not authorized to perform: sts:AssumeRole" in head
    admin_sts = client(server, "sts", admin_session(server))
    decoded = json.loads(admin_sts.decode_authorization_message(EncodedMessage=encoded)[
        "DecodedMessage"])  # fmt: skip
    assert decoded["allowed"] is False and decoded["explicitDeny"] is False
    assert decoded["context"]["principal"]["arn"] == BOB
    assert decoded["context"]["message"] == head
    assert decoded["failures"]["items"]  # which layer refused
    forged = encoded[:-4] + ("AAAA" if not encoded.endswith("AAAA") else "BBBB")
    assert error_code(admin_sts.decode_authorization_message, EncodedMessage=forged) == (
        "InvalidAuthorizationMessageException"
    )
    assert error_code(bob_sts.decode_authorization_message, EncodedMessage=encoded) == (
        "AccessDenied"  # Bob lacks sts:DecodeAuthorizationMessage
    )
