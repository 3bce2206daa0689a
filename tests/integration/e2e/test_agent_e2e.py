"""``authz agent``: boto3 with only the container-provider variables gets role credentials
from the agent, and new ones after the agent refreshed the session."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

import boto3
import pytest

from authz.agent import CredentialsAgent
from authz.client import AuthzClient
from authz.errors import ValidationError
from tests.integration.e2e.harness import E2EServer, ServerFactory

BOB = "arn:aws:iam::111122223333:user/Bob"
FOO = "arn:aws:iam::444455556666:role/foo"


@pytest.fixture
def server(start_server: ServerFactory, example_repo: Path) -> E2EServer:
    return start_server(example_repo, aws_listen="127.0.0.1:0")


def only_container_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, server: E2EServer, uri: str, token: str
) -> None:
    for name in list(os.environ):
        if name.startswith(("AWS_", "AUTHZ_")):
            monkeypatch.delenv(name)
    assert server.server.aws is not None
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri)
    monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", token)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", f"http://127.0.0.1:{server.server.aws.port}")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))


def test_boto3_uses_the_agent_across_a_refresh(
    server: E2EServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = AuthzClient(server.target, server.access_key(BOB))
    # a 900-second session renewed once less than 898 s are left: a refresh every ~2 s
    provider = client.assume_role_provider(
        FOO, "agent", duration_seconds=900, refresh_margin=timedelta(seconds=898)
    )
    agent = CredentialsAgent(provider, FOO, "test-token")
    agent.start()
    try:
        only_container_env(monkeypatch, tmp_path, server, agent.uri, "test-token")
        session = boto3.Session(region_name="us-east-1")
        sts = session.client("sts")
        keys = []
        for _ in range(2):
            assert sts.get_caller_identity()["Arn"].endswith("assumed-role/foo/agent")
            frozen = session.get_credentials().get_frozen_credentials()
            keys.append(frozen.access_key)
            time.sleep(2.5)
        assert keys[0] != keys[1] and all(k.startswith("ASIA") for k in keys)
        assert provider.refresh_count >= 2
    finally:
        agent.stop()
        client.close()


def test_the_agent_wants_its_token_and_loopback(server: E2EServer) -> None:
    client = AuthzClient(server.target, server.access_key(BOB))
    agent = CredentialsAgent(client.assume_role_provider(FOO, "agent"), FOO, "right")
    agent.start()
    try:
        for token in ("", "wrong"):
            request = urllib.request.Request(agent.uri, headers={"Authorization": token})
            with pytest.raises(urllib.error.HTTPError) as info:
                urllib.request.urlopen(request, timeout=5)
            assert info.value.code == 401
            info.value.close()
        other = urllib.request.Request(agent.uri + "x", headers={"Authorization": "right"})
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(other, timeout=5)
        assert info.value.code == 404
        info.value.close()
    finally:
        agent.stop()
    with pytest.raises(ValidationError):
        CredentialsAgent(client.assume_role_provider(FOO, "x"), FOO, "t", "0.0.0.0:0")
    client.close()


def test_the_agent_command(
    server: E2EServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = server.access_key(BOB)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AUTHZ_"))}
    env.update({"AUTHZ_ACCESS_KEY_ID": key.key_id, "AUTHZ_SECRET_ACCESS_KEY": key.secret})
    proc = subprocess.Popen(
        [sys.executable, "-m", "authz.cli", "agent", "--role-arn", FOO, "--target", server.target],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = dict(proc.stdout.readline().strip().split("=", 1) for _ in range(2))
        only_container_env(monkeypatch, tmp_path, server,
                           lines["AWS_CONTAINER_CREDENTIALS_FULL_URI"],
                           lines["AWS_CONTAINER_AUTHORIZATION_TOKEN"])  # fmt: skip
        sts = boto3.Session(region_name="us-east-1").client("sts")
        assert sts.get_caller_identity()["Arn"].endswith("assumed-role/foo/authz-agent")
    finally:
        proc.terminate()
        proc.communicate(timeout=10)  # reaps it and closes its pipes
