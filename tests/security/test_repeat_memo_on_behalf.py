"""The Authorize repeat memo for questions asked on behalf of a principal (``principalArn``):
a repeated question is answered without asking the backend again, but never to a caller who
may not ask it, from an address the permission does not cover, with a permission that reads
the clock, or after a reload that took the permission away (issue 15, step 4).

Each test is the attack: replaying the exact bytes an enforcement point sent, from another
caller or another network, or after its permission changed. Against a real in-process server
on 127.0.0.1 (tests/integration/e2e/harness.py); the backend's ``authorize`` is counted to see
which answers came from the memo (the server is given a counting wrapper of it).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from authz import errors
from authz._gen.authz.v1 import authorizer_pb2
from authz.backend import AuthzBackend
from authz.client.client import build_authorize_request
from authz.server.ports import AuthorizeParams, AuthorizeResult, Identity
from tests.integration.e2e.harness import E2EServer, ServerFactory
from tests.integration.e2e.repo_builder import RepoBuilder

ACCOUNT = "111111111111"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
PEP = f"arn:aws:iam::{ACCOUNT}:user/pep"  # may ask on behalf of anyone
FENCED = f"arn:aws:iam::{ACCOUNT}:user/fenced"  # may ask only from 10.0.0.0/8
UNTIL = f"arn:aws:iam::{ACCOUNT}:user/until"  # may ask until 2100 (reads the clock)
ALLOWED = authorizer_pb2.DECISION_ALLOWED
V = "2012-10-17"
DATA = "arn:aws:s3:::data/report.csv"


def _policy(action: str, resource: str, **condition: Any) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": action, "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return {"Version": V, "Statement": [statement]}


def build_repo(root: Path, *, pep_may_ask: bool = True) -> Path:
    repo = RepoBuilder()
    repo.user(ACCOUNT, "alice", inline=[_policy("s3:GetObject", "arn:aws:s3:::data/*")])
    repo.user(
        ACCOUNT,
        "pep",
        inline=[_policy("authz:AuthorizeOnBehalf" if pep_may_ask else "s3:ListBucket", "*")],
    )
    repo.user(
        ACCOUNT,
        "fenced",
        inline=[_policy("authz:AuthorizeOnBehalf", "*", IpAddress={"aws:SourceIp": "10.0.0.0/8"})],
    )
    repo.user(
        ACCOUNT,
        "until",
        inline=[
            _policy(
                "authz:AuthorizeOnBehalf",
                "*",
                DateLessThan={"aws:CurrentTime": "2100-01-01T00:00:00Z"},
            )
        ],
    )
    if root.exists():
        shutil.rmtree(root)
    return repo.write(root)


class _Counting:
    """The backend, with the actions its ``authorize`` is asked appended to ``seen`` (everything
    else delegated): the server is given this instead of the backend."""

    def __init__(self, inner: AuthzBackend, seen: list[str]) -> None:
        self._inner = inner
        self._seen = seen

    def authorize(self, identity: Identity, params: AuthorizeParams) -> AuthorizeResult:
        self._seen.append(params.action)
        return self._inner.authorize(identity, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.fixture
def asked() -> list[str]:
    """The actions the servicer asks the backend to decide, in order."""
    return []


@pytest.fixture
def env(start_server: ServerFactory, tmp_path: Path, asked: list[str]) -> E2EServer:
    return start_server(
        build_repo(tmp_path / "repo"),
        trusted_proxies=["127.0.0.1"],
        serve_through=lambda backend: _Counting(backend, asked),
    )


def test_a_repeated_on_behalf_question_is_answered_from_the_memo(
    env: E2EServer, asked: list[str]
) -> None:
    """Control: the memo does answer a repeat (otherwise the tests below prove nothing)."""
    with env.client(env.access_key(PEP)) as client:
        first = client.authorize("s3:GetObject", DATA, principal_arn=ALICE)
        assert asked == ["authz:AuthorizeOnBehalf", "s3:GetObject"]
        # decisions are kept from their second evaluation on (authz.engine.cache)
        second = client.authorize("s3:GetObject", DATA, principal_arn=ALICE)
        assert len(asked) == 4
        again = client.authorize("s3:GetObject", DATA, principal_arn=ALICE)
    assert first.decision == ALLOWED and second == first and again == first
    assert len(asked) == 4  # the repeat reached neither decision


def test_a_remembered_answer_is_not_given_to_a_caller_who_may_not_ask(
    env: E2EServer, asked: list[str]
) -> None:
    with env.client(env.access_key(PEP)) as client:
        assert client.authorize("s3:GetObject", DATA, principal_arn=ALICE).decision == ALLOWED
    with env.client(env.access_key(ALICE)) as client:  # the same bytes, from alice
        for _ in range(2):
            with pytest.raises(errors.AccessDenied, match="AuthorizeOnBehalf"):
                client.authorize("s3:GetObject", DATA, principal_arn=ALICE)
        with pytest.raises(errors.AccessDenied, match="AuthorizeOnBehalf"):
            client.authorize_batch([build_authorize_request("s3:GetObject", DATA,
                                                            principal_arn=ALICE)])  # fmt: skip


def test_a_network_fenced_permission_to_ask_is_checked_from_each_address(
    env: E2EServer, asked: list[str]
) -> None:
    key = env.access_key(FENCED)
    with env.client(key, forwarded_for="10.1.2.3") as inside:
        for _ in range(3):
            assert inside.authorize("s3:GetObject", DATA, principal_arn=ALICE).decision == ALLOWED
    assert len(asked) == 4  # kept from the second evaluation on, for this address
    with env.client(key, forwarded_for="192.0.2.1") as outside:  # the same bytes, elsewhere
        for _ in range(2):
            with pytest.raises(errors.AccessDenied, match="AuthorizeOnBehalf"):
                outside.authorize("s3:GetObject", DATA, principal_arn=ALICE)


def test_a_permission_to_ask_that_reads_the_clock_is_checked_on_every_call(
    env: E2EServer, asked: list[str]
) -> None:
    with env.client(env.access_key(UNTIL)) as client:
        for _ in range(3):
            assert client.authorize("s3:GetObject", DATA, principal_arn=ALICE).decision == ALLOWED
    assert asked.count("authz:AuthorizeOnBehalf") == 3 and asked.count("s3:GetObject") == 3


def test_a_reload_that_takes_the_permission_away_applies_to_remembered_answers(
    env: E2EServer, tmp_path: Path, asked: list[str]
) -> None:
    with env.client(env.access_key(PEP)) as client:
        for _ in range(2):
            assert client.authorize("s3:GetObject", DATA, principal_arn=ALICE).decision == ALLOWED
        build_repo(tmp_path / "repo", pep_may_ask=False)
        outcome = env.backend.reloader.reload(wait=True, timeout=30)
        assert outcome is not None and outcome.error is None and outcome.changed
        with pytest.raises(errors.AccessDenied, match="AuthorizeOnBehalf"):
            client.authorize("s3:GetObject", DATA, principal_arn=ALICE)


def test_a_batch_checks_the_permission_to_ask_once_per_principal(
    env: E2EServer, asked: list[str]
) -> None:
    """One AuthorizeOnBehalf decision per named principal and call, not one per item."""
    items = [
        build_authorize_request("s3:GetObject", f"arn:aws:s3:::data/{i}", principal_arn=ALICE)
        for i in range(5)
    ]
    with env.client(env.access_key(PEP)) as client:
        results = client.authorize_batch(items)
    assert [r.decision for r in results] == [ALLOWED] * 5
    assert asked == ["authz:AuthorizeOnBehalf"]  # the items go through authorize_batch


def test_the_permission_to_ask_is_decided_once_per_revision_and_address(
    env: E2EServer, asked: list[str]
) -> None:
    """Different questions from one enforcement point: AuthorizeOnBehalf is decided for the
    first two only while the revision serves (a decision is kept from its second evaluation
    on: ``authz.engine.cache``); from another address it is decided again (and refused, for
    the fenced one)."""
    key = env.access_key(FENCED)
    with env.client(key, forwarded_for="10.1.2.3") as inside:
        for i in range(4):
            inside.authorize("s3:GetObject", f"arn:aws:s3:::data/{i}", principal_arn=ALICE)
    assert asked == ["authz:AuthorizeOnBehalf", "s3:GetObject"] * 2 + ["s3:GetObject"] * 2
    with (
        env.client(key, forwarded_for="192.0.2.1") as outside,
        pytest.raises(errors.AccessDenied, match="AuthorizeOnBehalf"),
    ):
        outside.authorize("s3:GetObject", "arn:aws:s3:::data/9", principal_arn=ALICE)
    assert asked[-1] == "authz:AuthorizeOnBehalf"
