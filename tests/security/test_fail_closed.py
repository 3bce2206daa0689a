"""Revocation fails open (issue 11 item 5), written as the attacks, against a real server.

At 0b9b4d1, with the credentials store unreadable, a deactivated access key kept working (137
OK in 3 s: the server kept its old records and only one call a second failed), and a store
holding invalid JSON showed callers the server's file path and the parse position. Now, once
the server sees the change (it re-checks the file at most once a second: the stated bound on
stale state), every authentication by that store is refused with ``ServiceUnavailable``
(UNAVAILABLE, retryable) until the file can be read again; the caller never sees a path or a
parse position (the server log has them); each refusal is audited and counted.

The tests run as root in CI, where ``chmod 000`` does not stop reads: "unreadable" is a
directory standing where the file was (reading it fails with EISDIR).
"""

from __future__ import annotations

import contextlib
import shutil
import time
from pathlib import Path
from typing import Any

import grpc
import pyotp
import pytest

from authz import errors
from authz.client.credentials import AccessKeyCredentials
from authz.sts.credentials import CredentialStore
from tests.integration.e2e.harness import E2EServer, ServerFactory
from tests.integration.e2e.repo_builder import RepoBuilder

ACCOUNT = "111111111111"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
GUARDED = f"arn:aws:iam::{ACCOUNT}:role/guarded"
RECHECK = 1.0  # CredentialStore's default recheck interval
ATTACK_SECONDS = 3.0


def _doc(statement: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [statement]}


def build_repo(root: Path) -> Path:
    repo = RepoBuilder()
    repo.user(ACCOUNT, "alice", inline=[_doc({"Effect": "Allow", "Action": "sts:AssumeRole",
                                              "Resource": "*"})])  # fmt: skip
    trust = {"Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": "sts:AssumeRole"}
    repo.role(ACCOUNT, "guarded", trust_policy=_doc(trust))
    return repo.write(root)


@pytest.fixture
def env(start_server: ServerFactory, tmp_path: Path) -> E2EServer:
    return start_server(build_repo(tmp_path / "repo"))


def make_unreadable(path: Path) -> Path:
    """Move the file aside and put a directory in its place; returns the moved copy."""
    aside = path.with_name(path.name + ".aside")
    path.rename(aside)
    path.mkdir()
    return aside


def restore(path: Path, aside: Path) -> None:
    shutil.rmtree(path)
    aside.rename(path)


def hammer(env: E2EServer, creds: AccessKeyCredentials, seconds: float) -> list[Any]:
    """GetCallerIdentity in a loop for ``seconds``: the exception of each call (None = OK)."""
    outcomes: list[Any] = []
    deadline = time.monotonic() + seconds
    with env.client(creds) as client:
        while time.monotonic() < deadline:
            try:
                client.get_caller_identity()
                outcomes.append(None)
            except errors.AuthzError as err:
                outcomes.append(err)
    return outcomes


def assert_no_server_detail(err: errors.AuthzError, env: E2EServer) -> None:
    """Nothing the caller receives (message, status details, trailers) names a server path or
    a parse position."""
    cause: Any = err.__cause__
    assert isinstance(cause, grpc.RpcError)
    seen = [err.message, str(cause.details())]
    for item in cause.trailing_metadata() or ():
        value = item[1]
        seen.append(value.decode("latin-1") if isinstance(value, bytes) else str(value))
    workdir = str(env.settings.credentials_file.parent)
    for text in seen:
        assert workdir not in text
        assert ".json" not in text
        for position in ("line ", "column ", "char "):
            assert position not in text, text


def test_deactivated_key_with_an_unreadable_store_is_refused(env: E2EServer) -> None:
    alice = env.access_key(ALICE)
    assert hammer(env, alice, 0.1)[0] is None  # control: the key works
    store = env.settings.credentials_file
    key_id = alice.key_id
    CredentialStore(store).set_status(key_id, "Inactive")  # `authz keys deactivate`
    make_unreadable(store)
    time.sleep(RECHECK + 0.1)  # the stated bound on stale state
    outcomes = hammer(env, alice, ATTACK_SECONDS)
    accepted = sum(1 for o in outcomes if o is None)
    assert accepted == 0, f"{accepted} of {len(outcomes)} calls accepted a deactivated key"
    assert all(isinstance(o, errors.ServiceUnavailable) for o in outcomes), {
        type(o).__name__ for o in outcomes
    }
    assert outcomes[0].details["grpc_code"] == grpc.StatusCode.UNAVAILABLE.name
    assert_no_server_detail(outcomes[0], env)
    events = env.audit_events(len(outcomes) + 1)
    assert events[-1].get("errorCode") == "ServiceUnavailable"
    count = env.backend.security_events()["security_credentials_store_unavailable"]
    assert count >= len(outcomes)


def test_invalid_json_store_refuses_without_showing_path_or_parse_position(
    env: E2EServer,
) -> None:
    alice = env.access_key(ALICE)
    assert hammer(env, alice, 0.1)[0] is None
    env.settings.credentials_file.write_text('{"version": 1, "access_keys": {,}}\n')
    time.sleep(RECHECK + 0.1)
    outcomes = hammer(env, alice, 1.0)
    assert outcomes and all(isinstance(o, errors.ServiceUnavailable) for o in outcomes)
    for outcome in outcomes[:3]:
        assert_no_server_detail(outcome, env)


def test_store_that_becomes_readable_again_serves_its_current_content(env: E2EServer) -> None:
    alice = env.access_key(ALICE)
    other = env.access_key(ALICE)
    store = env.settings.credentials_file
    CredentialStore(store).set_status(alice.key_id, "Inactive")
    aside = make_unreadable(store)
    time.sleep(RECHECK + 0.1)
    assert isinstance(hammer(env, other, 0.1)[0], errors.ServiceUnavailable)
    restore(store, aside)
    time.sleep(RECHECK + 0.1)
    assert hammer(env, other, 0.1)[0] is None  # readable again: an active key works
    refused = hammer(env, alice, 0.1)[0]
    assert isinstance(refused, errors.InvalidClientTokenId)  # and the deactivation holds


def test_a_code_that_cannot_be_recorded_is_refused_without_showing_the_state_store(
    env: E2EServer,
) -> None:
    """The one-time-code ledger cannot be written (here: its table is gone): a right code is
    refused with ServiceUnavailable rather than accepted unrecorded (it could be replayed)."""
    import sqlite3

    serial, seed = env.mfa_device(ALICE, "alice-phone")
    alice = env.access_key(ALICE)
    path = env.settings.state_url.removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("ALTER TABLE mfa_used_codes RENAME TO mfa_used_codes_gone")
        conn.commit()
    with env.client(alice) as client, pytest.raises(errors.ServiceUnavailable) as raised:
        client.assume_role(GUARDED, "mfa", serial_number=serial, token_code=pyotp.TOTP(seed).now())
    assert raised.value.details["grpc_code"] == grpc.StatusCode.UNAVAILABLE.name
    assert_no_server_detail(raised.value, env)
    assert "state.db" not in raised.value.message and "sqlite" not in raised.value.message
    assert env.backend.security_events()["security_mfa_store_unavailable"] == 1
