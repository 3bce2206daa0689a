"""Credentials outlive their identity (issue 11 item 2), written as the attacks, against a
real server: a role session or an access key stands for the role or user with the unique id it
was issued for. Once the role or user is deleted, re-created (a new RoleId / UserId) or renamed,
the old credentials are refused with ``InvalidClientTokenId`` — they never authenticate, and
never pick up the permissions of a new entity that took the name.

Each repository change is written to disk and activated the way the file watcher or SIGHUP
does it (``reloader.reload``), so the tests do not depend on who may call the Reload RPC.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest

from authz import errors
from authz._gen.authz.v1 import authorizer_pb2
from authz.client.credentials import AccessKeyCredentials, Credentials
from tests.integration.e2e.harness import E2EServer, ServerFactory, trailer_error_code
from tests.integration.e2e.repo_builder import RepoBuilder

ACCOUNT = "111111111111"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
APP = f"arn:aws:iam::{ACCOUNT}:role/app"
NEXT = f"arn:aws:iam::{ACCOUNT}:role/next"
DATA = "arn:aws:s3:::data/report.csv"
ALLOWED = authorizer_pb2.DECISION_ALLOWED


def _allow(action: str, resource: str = "*") -> dict[str, Any]:
    statement = {"Effect": "Allow", "Action": action, "Resource": resource}
    return {"Version": "2012-10-17", "Statement": [statement]}


def _trust(principal: str) -> dict[str, Any]:
    statement = {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}
    return {"Version": "2012-10-17", "Statement": [statement]}


def write_repo(
    root: Path,
    *,
    alice_id: str | None = "AIDAALICE000000000001",
    app: tuple[str, str] | None = ("app", "AROAAPP00000000000001"),
    next_id: str = "AROANEXT0000000000001",
) -> Path:
    """alice (may assume anything, read data) → ``app`` (name, RoleId) → next (chaining).
    ``alice_id=None`` / ``app=None`` leave the user / role out (deleted)."""
    repo = RepoBuilder()
    if alice_id is not None:
        repo.user(ACCOUNT, "alice", user_id=alice_id, inline=[_allow("sts:AssumeRole")])
    else:
        repo.account(ACCOUNT)
    if app is not None:
        name, role_id = app
        repo.role(ACCOUNT, name, role_id=role_id, trust_policy=_trust(ALICE),
                  inline=[_allow("s3:GetObject", "arn:aws:s3:::data/*"),
                          _allow("sts:AssumeRole")])  # fmt: skip
    repo.role(ACCOUNT, "next", role_id=next_id, trust_policy=_trust(APP),
              inline=[_allow("s3:GetObject", "arn:aws:s3:::data/*")])  # fmt: skip
    if root.exists():
        shutil.rmtree(root)
    return repo.write(root)


def republish(env: E2EServer, root: Path, **changes: Any) -> None:
    """Write the changed repository and activate it as the watcher / SIGHUP would."""
    write_repo(root, **changes)
    outcome = env.backend.reloader.reload(wait=True, timeout=30)
    assert outcome is not None and outcome.error is None, outcome


def expect_refused(env: E2EServer, credentials: Credentials) -> None:
    """The credentials no longer authenticate: InvalidClientTokenId on every kind of call."""
    with env.client(credentials) as client:
        calls: list[Callable[[], Any]] = [
            client.get_caller_identity,
            lambda: client.authorize("s3:GetObject", DATA),
            lambda: client.assume_role(NEXT, "again"),
        ]
        for call in calls:
            with pytest.raises(errors.InvalidClientTokenId) as raised:
                call()
            assert raised.value.details["grpc_code"] == grpc.StatusCode.UNAUTHENTICATED.name
            assert trailer_error_code(raised.value) == "InvalidClientTokenId"


def reads_data(env: E2EServer, credentials: Credentials) -> bool:
    with env.client(credentials) as client:
        return client.authorize("s3:GetObject", DATA).decision == ALLOWED


@pytest.fixture
def repo_root(tmp_path: Path) -> Path:
    return write_repo(tmp_path / "repo")


@pytest.fixture
def env(start_server: ServerFactory, repo_root: Path) -> E2EServer:
    return start_server(repo_root)


@pytest.fixture
def alice(env: E2EServer) -> AccessKeyCredentials:
    return env.access_key(ALICE)


# -- role sessions ---------------------------------------------------------------------------
def test_session_of_a_deleted_role_is_refused(
    env: E2EServer, repo_root: Path, alice: AccessKeyCredentials
) -> None:
    _, session = env.assume(alice, APP, "s1")
    assert reads_data(env, session)  # control: the session works while its role exists
    republish(env, repo_root, app=None)
    expect_refused(env, session)


def test_session_of_a_recreated_role_does_not_get_the_new_roles_permissions(
    env: E2EServer, repo_root: Path, alice: AccessKeyCredentials
) -> None:
    _, old = env.assume(alice, APP, "s1")
    republish(env, repo_root, app=("app", "AROAAPP00000000000002"))  # same ARN, new RoleId
    expect_refused(env, old)
    _, new = env.assume(alice, APP, "s2")  # control: a session of the new role works
    assert reads_data(env, new)


def test_session_of_a_renamed_role_is_refused(
    env: E2EServer, repo_root: Path, alice: AccessKeyCredentials
) -> None:
    _, session = env.assume(alice, APP, "s1")
    republish(env, repo_root, app=("app-renamed", "AROAAPP00000000000001"))
    expect_refused(env, session)


def test_chained_session_is_refused_when_an_earlier_role_of_its_chain_is_recreated(
    env: E2EServer, repo_root: Path, alice: AccessKeyCredentials
) -> None:
    _, app_session = env.assume(alice, APP, "s1")
    _, chained = env.assume(app_session, NEXT, "s2")
    assert reads_data(env, chained)  # control
    republish(env, repo_root, app=("app", "AROAAPP00000000000002"))  # next itself unchanged
    expect_refused(env, chained)


def test_chained_session_is_refused_when_an_earlier_role_of_its_chain_is_deleted(
    env: E2EServer, repo_root: Path, alice: AccessKeyCredentials
) -> None:
    _, app_session = env.assume(alice, APP, "s1")
    _, chained = env.assume(app_session, NEXT, "s2")
    republish(env, repo_root, app=None)
    expect_refused(env, chained)


# -- access keys -----------------------------------------------------------------------------
def test_access_key_of_a_deleted_user_is_refused(
    env: E2EServer, repo_root: Path, alice: AccessKeyCredentials
) -> None:
    assert env.assume(alice, APP, "s1")  # control: the key works
    republish(env, repo_root, alice_id=None)
    expect_refused(env, alice)


def test_old_access_key_of_a_recreated_user_is_refused(
    env: E2EServer, repo_root: Path, alice: AccessKeyCredentials
) -> None:
    env.assume(alice, APP, "s1")  # the key in use before the user is re-created
    republish(env, repo_root, alice_id="AIDAALICE000000000002")
    expect_refused(env, alice)
    fresh = env.access_key(ALICE)  # control: a key issued to the new alice works
    env.assume(fresh, APP, "s2")


def test_key_created_with_a_user_id_is_refused_for_a_recreated_user_even_before_first_use(
    env: E2EServer, repo_root: Path
) -> None:
    key_id, secret = env.backend.credentials.create(ALICE, "AIDAALICE000000000001")
    republish(env, repo_root, alice_id="AIDAALICE000000000002")
    expect_refused(env, AccessKeyCredentials(key_id, secret))


def test_access_key_of_a_renamed_user_is_refused(
    env: E2EServer, repo_root: Path, alice: AccessKeyCredentials
) -> None:
    env.assume(alice, APP, "s1")
    write_repo(repo_root)
    users = repo_root / "accounts" / ACCOUNT / "users"
    doc = json.loads((users / "alice.json").read_text())
    doc["UserName"] = "alice-renamed"
    (users / "alice.json").unlink()
    (users / "alice-renamed.json").write_text(json.dumps(doc))
    outcome = env.backend.reloader.reload(wait=True, timeout=30)
    assert outcome is not None and outcome.error is None, outcome
    expect_refused(env, alice)


def test_legacy_key_is_bound_to_the_user_id_at_first_use(env: E2EServer, repo_root: Path) -> None:
    """Migration: a key recorded before keys carried a UserId is bound at its first use."""
    store = env.backend.credentials
    key_id, secret = store.create(ALICE)  # no UserId recorded, as in an old store
    key = AccessKeyCredentials(key_id, secret)
    assert [i.user_id for i in store.list() if i.access_key_id == key_id] == [None]
    env.assume(key, APP, "s1")
    bound = [i.user_id for i in store.list() if i.access_key_id == key_id]
    assert bound == ["AIDAALICE000000000001"]
    republish(env, repo_root, alice_id="AIDAALICE000000000002")
    expect_refused(env, key)
