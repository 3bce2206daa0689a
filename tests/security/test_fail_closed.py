"""Revocation fails open (issue 11 item 5), written as the attacks, against a real server.

At 0b9b4d1, with the credentials store unreadable, a deactivated access key kept working (137
OK in 3 s: the server kept its old records and only one call a second failed), and a store
holding invalid JSON showed callers the server's file path and the parse position. Access keys
now live in the state database: their attacks (a deactivated key replayed on another node, a
node cut off from the database) are ``tests/security/test_state_credentials.py``. Below, what
the state database cannot record is refused without showing it.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import grpc
import pyotp
import pytest

from authz import errors
from tests.integration.e2e.harness import E2EServer, ServerFactory
from tests.integration.e2e.repo_builder import RepoBuilder

ACCOUNT = "111111111111"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
GUARDED = f"arn:aws:iam::{ACCOUNT}:role/guarded"


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


def assert_no_server_detail(err: errors.AuthzError, env: E2EServer) -> None:
    """Nothing the caller receives (message, status details, trailers) names a server path or
    a parse position."""
    cause: Any = err.__cause__
    assert isinstance(cause, grpc.RpcError)
    seen = [err.message, str(cause.details())]
    for item in cause.trailing_metadata() or ():
        value = item[1]
        seen.append(value.decode("latin-1") if isinstance(value, bytes) else str(value))
    workdir = str(env.settings.state_key_file.parent)
    for text in seen:
        assert workdir not in text
        assert ".json" not in text
        for position in ("line ", "column ", "char "):
            assert position not in text, text


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
