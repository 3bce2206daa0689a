"""Loose parameters (issue 11 item 8), each written as the attack it stops, against a real
server: what a caller sends to AssumeRole is validated exactly as AWS validates it, and the
files the server writes about callers are private."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import grpc
import pytest

from authz import errors
from authz.client.credentials import AccessKeyCredentials
from tests.integration.e2e.harness import E2EServer, ServerFactory
from tests.integration.e2e.repo_builder import RepoBuilder


def test_audit_log_is_created_private(start_server: ServerFactory, example_repo: Path) -> None:
    """Attack: another local user reads who asked what (audit.jsonl was created 0644)."""
    old = os.umask(0o022)  # the usual umask: the server must not rely on a stricter one
    try:
        env = start_server(example_repo)
    finally:
        os.umask(old)
    mode = stat.S_IMODE(env.audit_path.stat().st_mode)
    assert mode == 0o600, oct(mode)


# -- AssumeRole parameters -------------------------------------------------------------------
ACCOUNT = "111111111111"
OTHER = "222222222222"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
APP = f"arn:aws:iam::{ACCOUNT}:role/app"
OWN_POLICY = f"arn:aws:iam::{ACCOUNT}:policy/ReadData"
FOREIGN_POLICY = f"arn:aws:iam::{OTHER}:policy/ReadData"
MFA = f"arn:aws:iam::{ACCOUNT}:mfa/alice-phone"


def _doc(statement: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [statement]}


READ = _doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})


def write_repo(root: Path, *, duplicate_role_id: bool = False) -> Path:
    """alice may assume ``app`` with tags and a source identity; a managed policy of the same
    name exists in both accounts."""
    repo = RepoBuilder()
    repo.user(ACCOUNT, "alice", user_id="AIDAALICE000000000001",
              inline=[_doc({"Effect": "Allow", "Action": "sts:*", "Resource": "*"})])  # fmt: skip
    actions = ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]
    trust = _doc({"Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": actions})
    repo.role(ACCOUNT, "app", role_id="AROAAPP00000000000001", trust_policy=trust, inline=[READ])
    if duplicate_role_id:
        repo.role(ACCOUNT, "copy", role_id="AROAAPP00000000000001", trust_policy=trust)
    repo.managed_policy(OWN_POLICY, READ)
    repo.managed_policy(FOREIGN_POLICY, READ)
    if root.exists():
        shutil.rmtree(root)
    return repo.write(root)


@pytest.fixture
def env(start_server: ServerFactory, tmp_path: Path) -> E2EServer:
    return start_server(write_repo(tmp_path / "repo"))


@pytest.fixture
def alice(env: E2EServer) -> AccessKeyCredentials:
    return env.access_key(ALICE)


LOOSE: dict[str, dict[str, Any]] = {
    "session name with Unicode letters": {"role_session_name": "sessión"},
    "session name with a trailing newline": {"role_session_name": "session\n"},
    "source identity with Unicode letters": {"source_identity": "jösé"},
    "source identity with a trailing newline": {"source_identity": "jose\n"},
    "source identity starting with aws:": {"source_identity": "aws:admin"},
    "source identity starting with AWS: (case-insensitive)": {"source_identity": "AWS:admin"},
    "external id with Unicode letters": {"external_id": "ëxternal"},
    "external id with a trailing newline": {"external_id": "external\n"},
    "token code of non-ASCII digits": {"serial_number": MFA, "token_code": "١٢٣٤٥٦"},
    "serial number with Unicode letters": {"serial_number": MFA + "é", "token_code": "123456"},
    "tag key starting with aws:": {"tags": {"aws:team": "blue"}},
    "tag key starting with AWS: (case-insensitive)": {"tags": {"AWS:Team": "blue"}},
    "tag value with a newline": {"tags": {"team": "blue\nred"}},
    "tag value with a tab": {"tags": {"team": "blue\tred"}},
    "tag key with a unit separator": {"tags": {"te\x1fam": "blue"}},
    "51 session tags": {"tags": {f"k{i}": "v" for i in range(51)}},
    "managed session policy of another account": {"policy_arns": [FOREIGN_POLICY]},
}


@pytest.mark.parametrize("params", LOOSE.values(), ids=list(LOOSE))
def test_loose_assume_role_parameters_are_refused(
    env: E2EServer, alice: AccessKeyCredentials, params: dict[str, Any]
) -> None:
    """Attack: values AWS refuses (Unicode where AWS is ASCII, a hidden newline, reserved
    ``aws:`` names, control characters, another account's policy) passed into the session."""
    call = {"role_session_name": "ok-session", **params}
    with env.client(alice) as client, pytest.raises(errors.ValidationError) as raised:
        client.assume_role(APP, **call)
    assert raised.value.details["grpc_code"] == grpc.StatusCode.INVALID_ARGUMENT.name


ACCEPTED: dict[str, dict[str, Any]] = {
    "ASCII names of every allowed character": {
        "role_session_name": "a-Z_0.9+=,@",
        "source_identity": "Jose_1+=,.@-",
        "external_id": "ext:/id_1",
    },
    "tags with Unicode letters, numbers and spaces": {"tags": {"équipe": "bleu ciel 42"}},
    "50 session tags": {"tags": {f"k{i}": "v" for i in range(50)}},
    "managed session policy of the role's account": {"policy_arns": [OWN_POLICY]},
}


@pytest.mark.parametrize("params", ACCEPTED.values(), ids=list(ACCEPTED))
def test_valid_parameters_are_still_accepted(
    env: E2EServer, alice: AccessKeyCredentials, params: dict[str, Any]
) -> None:
    call = {"role_session_name": "ok-session", **params}
    with env.client(alice) as client:
        assert client.assume_role(APP, **call).assumed_role_user.arn


def test_duplicate_role_id_is_a_repository_problem(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    """Attack: a second role with another role's RoleId, so that credentials and policies
    bound to that id could stand for either role."""
    env = start_server(write_repo(tmp_path / "repo"))
    write_repo(tmp_path / "repo", duplicate_role_id=True)
    outcome = env.backend.reloader.reload(wait=True, timeout=30)
    assert outcome is not None and outcome.error is not None
    assert "AROAAPP00000000000001" in outcome.error
    assert "copy" not in json.dumps(sorted(env.backend.holder.current.repository.roles_by_arn))
