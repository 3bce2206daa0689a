"""Replicas that disagree about MFA and revocations (issue 18), written as the attacks, against
two real servers ("replica A" and "replica B") sharing one state database, on SQLite and on
PostgreSQL.

With the JSON stores of earlier releases each machine kept its own ledger of used codes, its
own failed-attempt counters and no revocations but the repository's: a code sniffed from a
request to A could be replayed on B inside its 30-second window, a guesser could spread
guesses over the replicas (each allowing ``mfa_max_failures``), and a stolen session could only
be stopped by a repository commit. Now the ledger's primary key refuses a code used anywhere,
the counters are shared (and counted before the check), an operator's revocation reaches every
replica within ``state_poll_ms`` + one reload, and a replica that lost the database refuses
rather than guessing (codes at once; session tokens once its view is older than
``state_stale_seconds``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyotp
import pytest

from authz import cli, errors
from authz.client.credentials import AccessKeyCredentials, Credentials
from tests.integration.e2e.harness import E2EServer, ServerFactory
from tests.integration.e2e.repo_builder import RepoBuilder

ACCOUNT = "111111111111"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
MALLORY = f"arn:aws:iam::{ACCOUNT}:user/mallory"
GUARDED = f"arn:aws:iam::{ACCOUNT}:role/guarded"
POLL_MS = 100
STALE_SECONDS = 1.0
LIMIT = 5  # mfa_max_failures (default)


def _doc(statement: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [statement]}


def build_repo(root: Path) -> Path:
    repo = RepoBuilder()
    for name in ("alice", "mallory"):
        repo.user(ACCOUNT, name, inline=[_doc({"Effect": "Allow", "Action": "*",
                                               "Resource": "*"})])  # fmt: skip
    trust = {"Effect": "Allow", "Principal": {"AWS": [ALICE, MALLORY]},
             "Action": "sts:AssumeRole",
             "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}  # fmt: skip
    read = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
    repo.role(ACCOUNT, "guarded", trust_policy=_doc(trust), inline=[_doc(read)])
    return repo.write(root)


Replicas = tuple[E2EServer, E2EServer]


@pytest.fixture
def replicas(start_server: ServerFactory, tmp_path: Path, state_url: str) -> Replicas:
    """Two servers sharing the state database, its key, the signing keys and the repository
    (what a fleet shares); the access-key store is shared as well."""
    repo = build_repo(tmp_path / "repo")
    shared: dict[str, Any] = {
        "state_url": state_url,
        "state_key_file": tmp_path / "state.key",
        "keys_dir": tmp_path / "keys",
        "credentials_file": tmp_path / "credentials.json",
        "state_poll_ms": POLL_MS,
        "state_stale_seconds": STALE_SECONDS,
    }
    if state_url.startswith("postgresql"):  # replicas share a key made beforehand
        assert cli.main(["state", "keygen", "--key-file", str(tmp_path / "state.key")]) == 0
    return start_server(repo, **shared), start_server(repo, **shared)


def access_key(replicas: Replicas, user_arn: str) -> AccessKeyCredentials:
    """A long-term key created through replica A, once replica B accepts it too."""
    a, b = replicas
    creds = a.access_key(user_arn)
    deadline = time.monotonic() + 5.0
    with b.client(creds) as client:
        while True:
            try:
                client.get_caller_identity()
                return creds
            except errors.InvalidClientTokenId:
                assert time.monotonic() < deadline, "replica B never saw the new access key"
                time.sleep(0.05)


def outcome(env: E2EServer, creds: Credentials, **params: Any) -> str:
    """AssumeRole of the guarded role: "ok" or the AWS error code."""
    try:
        env.assume(creds, GUARDED, "session", **params)
    except errors.AuthzError as err:
        return err.code
    return "ok"


def test_a_code_sniffed_from_replica_a_is_refused_by_replica_b(replicas: Replicas) -> None:
    a, b = replicas
    serial, seed = a.mfa_device(ALICE, "phone")
    b.backend.state.watcher.poll_once()  # type: ignore[union-attr]
    alice = access_key(replicas, ALICE)
    code = pyotp.TOTP(seed).now()
    assert outcome(a, alice, serial_number=serial, token_code=code) == "ok"
    # the same request, captured and replayed to the other replica inside the window
    assert outcome(b, alice, serial_number=serial, token_code=code) == "AccessDenied"


def test_the_same_code_raced_to_both_replicas_is_accepted_once(replicas: Replicas) -> None:
    a, b = replicas
    serial, seed = a.mfa_device(ALICE, "phone")
    b.backend.state.watcher.poll_once()  # type: ignore[union-attr]
    alice = access_key(replicas, ALICE)
    code = pyotp.TOTP(seed).now()
    start = threading.Barrier(4)  # fewer than mfa_max_failures: every attempt is checked
    results: list[str] = []

    def send(env: E2EServer) -> None:
        start.wait()
        results.append(outcome(env, alice, serial_number=serial, token_code=code))

    threads = [threading.Thread(target=send, args=((a, b)[i % 2],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["AccessDenied"] * 3 + ["ok"]


def test_guesses_spread_over_replicas_get_the_limit_of_one(replicas: Replicas) -> None:
    a, b = replicas
    serial, seed = a.mfa_device(MALLORY, "phone")
    mallory = access_key(replicas, MALLORY)
    valid = {pyotp.TOTP(seed).at(time.time() + d) for d in (-60, -30, 0, 30, 60)}
    guesses = [c for c in (f"{i * 7919 % 1_000_000:06d}" for i in range(60)) if c not in valid]
    outcomes = [
        outcome((a, b)[i % 2], mallory, serial_number=serial, token_code=code)
        for i, code in enumerate(guesses[:40])
    ]
    checked = outcomes.count("AccessDenied")
    assert checked == LIMIT, outcomes  # not LIMIT per replica
    assert outcomes[LIMIT:] == ["Throttling"] * (40 - LIMIT)
    right = pyotp.TOTP(seed).now()
    assert outcome(b, mallory, serial_number=serial, token_code=right) == "Throttling"


def _wait_refused(call: Callable[[], object], limit: float) -> float:
    """Seconds until ``call`` raises ``InvalidClientTokenId`` (polled every 5 ms)."""
    started = time.monotonic()
    while True:
        try:
            call()
        except errors.InvalidClientTokenId:
            return time.monotonic() - started
        assert time.monotonic() - started < limit, f"still accepted after {limit} s"
        time.sleep(0.005)


@pytest.mark.parametrize("by", ["--access-key-id", "--session-id"])
def test_a_session_revoked_by_the_operator_is_refused_on_every_replica(
    replicas: Replicas, state_url: str, by: str
) -> None:
    a, b = replicas
    serial, seed = a.mfa_device(ALICE, "phone")
    alice = access_key(replicas, ALICE)
    code = pyotp.TOTP(seed).now()
    response, session = a.assume(alice, GUARDED, "stolen", serial_number=serial, token_code=code)
    with b.client(session) as client:  # the stolen session works on the other replica
        assert client.get_caller_identity().arn.endswith("/stolen")
    target = response.credentials.access_key_id
    if by == "--session-id":
        [session_id] = (a.backend.verifier.verify(response.credentials.session_token).session_id,)
        target = session_id
    argv = ["sessions", "revoke", "--state-url", state_url, by, target, "--reason", "stolen"]
    assert cli.main(argv) == 0  # the operator, from a third process's connection
    with b.client(session) as on_b, a.client(session) as on_a:
        elapsed = _wait_refused(on_b.get_caller_identity, 5.0)
        _wait_refused(on_a.get_caller_identity, 5.0)
    # the stated bound: state_poll_ms + one reload (+ margin for a loaded machine)
    assert elapsed < POLL_MS / 1000 + 1.0, elapsed
    print(f"revocation refused on replica B after {elapsed * 1000:.0f} ms (poll {POLL_MS} ms)")
    with a.client(alice) as client:  # long-term keys are not sessions: unaffected
        assert client.get_caller_identity().arn == ALICE


def _cut_off(env: E2EServer, state_url: str, request: pytest.FixtureRequest) -> None:
    """The replica loses its database: PostgreSQL refuses the database's connections and
    drops the open ones; a SQLite replica's connections are closed."""
    if not state_url.startswith("postgresql"):
        env.backend.state.db.close()  # type: ignore[union-attr]
        return
    import psycopg

    server = request.getfixturevalue("postgres_server")
    name = state_url.rsplit("/", 1)[1]
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )


def test_a_replica_that_lost_the_database_refuses_codes_and_then_sessions(
    replicas: Replicas, state_url: str, request: pytest.FixtureRequest
) -> None:
    a, _ = replicas
    serial, seed = a.mfa_device(ALICE, "phone")
    alice = access_key(replicas, ALICE)
    code = pyotp.TOTP(seed).now()
    _, session = a.assume(alice, GUARDED, "before", serial_number=serial, token_code=code)
    _cut_off(a, state_url, request)
    right = pyotp.TOTP(seed).at(time.time() + 30)  # a right, unused code
    # a code could not be recorded: refused at once (it would be replayable elsewhere)
    assert outcome(a, alice, serial_number=serial, token_code=right) == "ServiceUnavailable"
    # a session might have been revoked meanwhile: refused once the view is stale
    deadline = time.monotonic() + STALE_SECONDS + 5.0
    with a.client(session) as client:
        while True:
            try:
                client.get_caller_identity()
            except errors.ServiceUnavailable:
                break
            assert time.monotonic() < deadline, "sessions still accepted with a stale view"
            time.sleep(0.05)
    assert a.backend.security_events()["security_state_stale_refusals"] >= 1
