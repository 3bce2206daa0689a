"""Attack: wildcard patterns that make a backtracking matcher run for seconds while holding the
GIL, so one caller stalls every other caller and the health check (issue 10, "backtracking
wildcard matching"). Against a real server on 127.0.0.1.

Every call carries a gRPC deadline of a few seconds, so a server that still backtracks fails
these tests with DEADLINE_EXCEEDED (or a latency assertion) instead of hanging the suite.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from authz._gen.authz.v1 import authorizer_pb2
from authz.client import AuthzClient
from authz.client.credentials import Credentials
from authz.errors import AuthzError
from tests.integration.e2e.harness import E2EServer, ServerFactory
from tests.integration.e2e.repo_builder import RepoBuilder

ACCOUNT = "111111111111"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
NOBODY = f"arn:aws:iam::{ACCOUNT}:user/nobody"
READER = f"arn:aws:iam::{ACCOUNT}:role/reader"
# "arn:aws:s3:::data/" + "*a"×10 + "?b": exponential for a backtracking regex on "data/a…a".
HOSTILE = "arn:aws:s3:::data/" + "*a" * 10 + "?b"
VICTIM = "arn:aws:s3:::data/" + "a" * 36
ATTACK_DEADLINE = 5.0  # seconds; the 0b9b4d1 server needed ~7 s for one such call
FAST = 1.0  # a decision on a hostile pattern, in seconds (measured: a few ms)
RESPONSIVE = 0.100  # health check and an unrelated Authorize during the attack


def _allow(resource: str, action: str = "s3:GetObject") -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}],
    }


@pytest.fixture
def env(start_server: ServerFactory, tmp_path: Path) -> E2EServer:
    repo = RepoBuilder()
    repo.user(ACCOUNT, "alice", inline=[_allow("*", "s3:*")])
    repo.user(ACCOUNT, "nobody", inline=[_allow("*", "iam:SimulateCustomPolicy")])
    repo.role(
        ACCOUNT,
        "reader",
        trust_policy={
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": "sts:AssumeRole"}
            ],
        },
        inline=[_allow("*", "s3:*")],
    )
    repo.write(tmp_path / "repo")
    return start_server(tmp_path / "repo")


def _client(env: E2EServer, credentials: Credentials | None) -> AuthzClient:
    client = env.client(credentials)
    client.timeout = ATTACK_DEADLINE
    return client


def _timed(call: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


class _Attack:
    """``threads`` callers repeating ``call`` until stopped; records each call's duration or
    error (an error is the RPC failing, e.g. DEADLINE_EXCEEDED on a backtracking server)."""

    def __init__(self, call: Callable[[], Any], threads: int = 2) -> None:
        self.durations: list[float] = []
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._call = call
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                elapsed, _ = _timed(self._call)
                self.durations.append(elapsed)
            except (AuthzError, grpc.RpcError) as err:
                self.errors.append(err)
                return

    def __enter__(self) -> _Attack:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(ATTACK_DEADLINE + 2)


@pytest.fixture
def health(env: E2EServer) -> Iterator[Callable[[], int]]:
    channel = grpc.insecure_channel(env.target)
    stub = health_pb2_grpc.HealthStub(channel)

    def check() -> int:
        request = health_pb2.HealthCheckRequest(service="")
        return int(stub.Check(request, timeout=ATTACK_DEADLINE).status)

    check()  # connect before measuring
    yield check
    channel.close()


def _assert_responsive(
    env: E2EServer, health: Callable[[], int], bystander: AuthzClient, attack: _Attack
) -> None:
    """While ``attack`` runs: health checks and an unrelated Authorize answer within 100 ms."""
    time.sleep(0.05)  # let the attack reach the server
    for _ in range(5):
        elapsed, status = _timed(health)
        assert status == health_pb2.HealthCheckResponse.SERVING
        assert elapsed < RESPONSIVE, f"health check took {elapsed * 1000:.0f} ms during the attack"
        elapsed, answer = _timed(
            lambda: bystander.authorize("s3:GetObject", "arn:aws:s3:::other/report.csv")
        )
        assert answer.decision == authorizer_pb2.DECISION_ALLOWED
        assert elapsed < RESPONSIVE, f"unrelated Authorize took {elapsed * 1000:.0f} ms"
        time.sleep(0.02)


def test_session_policy_pattern_decides_fast_and_nobody_waits(
    env: E2EServer, health: Callable[[], int]
) -> None:
    """(a) A 138-character session policy pattern, then Authorize on data/a×36."""
    alice = env.access_key(ALICE)
    session_policy = json.dumps(_allow(HOSTILE))
    _, session = env.assume(alice, READER, "attacker", policy=session_policy)
    attacker = _client(env, session)
    bystander = _client(env, alice)
    bystander.authorize("s3:GetObject", "arn:aws:s3:::other/warm-up")

    elapsed, answer = _timed(lambda: attacker.authorize("s3:GetObject", VICTIM))
    assert answer.decision == authorizer_pb2.DECISION_IMPLICIT_DENY  # no trailing "b"
    assert elapsed < FAST, f"hostile pattern took {elapsed:.2f} s"
    matching = attacker.authorize("s3:GetObject", VICTIM[:-1] + "xb")
    assert matching.decision == authorizer_pb2.DECISION_ALLOWED  # the pattern still matches

    with _Attack(lambda: attacker.authorize("s3:GetObject", VICTIM)) as attack:
        _assert_responsive(env, health, bystander, attack)
    assert not attack.errors, attack.errors[0]
    assert attack.durations and max(attack.durations) < FAST
    attacker.close()
    bystander.close()


def test_simulate_custom_policy_pattern_by_a_user_without_permissions(
    env: E2EServer, health: Callable[[], int]
) -> None:
    """(b) The same pattern through SimulateCustomPolicy, by a user allowed nothing but the
    simulation itself (SimulateCustomPolicy is IAM-authorized since issue 11)."""
    nobody = _client(env, env.access_key(NOBODY))
    bystander = _client(env, env.access_key(ALICE))
    bystander.authorize("s3:GetObject", "arn:aws:s3:::other/warm-up")

    def simulate() -> Any:
        return nobody.simulate_custom_policy(
            policy_input_list=[json.dumps(_allow(HOSTILE))],
            action_names=["s3:GetObject"],
            resource_arns=[VICTIM, VICTIM[:-1] + "xb"],
            caller_arn=NOBODY,
        )

    elapsed, response = _timed(simulate)
    assert elapsed < FAST, f"hostile simulation took {elapsed:.2f} s"
    decisions = [r.eval_decision for r in response.evaluation_results]
    assert decisions == ["implicitDeny", "allowed"]

    with _Attack(simulate) as attack:
        _assert_responsive(env, health, bystander, attack)
    assert not attack.errors, attack.errors[0]
    assert attack.durations and max(attack.durations) < FAST
    nobody.close()
    bystander.close()


def test_two_star_csv_pattern_on_a_40k_resource(env: E2EServer) -> None:
    """(c) ``arn:aws:s3:::*/*/??.csv`` against a 40,000-character resource: a fast decision,
    or a fast ValidationError from a resource-length limit."""
    alice = env.access_key(ALICE)
    session_policy = json.dumps(_allow("arn:aws:s3:::*/*/??.csv"))
    _, session = env.assume(alice, READER, "csv", policy=session_policy)
    attacker = _client(env, session)
    resource = "arn:aws:s3:::" + "/" * 40_000

    start = time.perf_counter()
    try:
        answer = attacker.authorize("s3:GetObject", resource)
        outcome = answer.decision
    except AuthzError as err:
        assert err.code == "ValidationError", err  # refused at the door is also fine
        outcome = None
    elapsed = time.perf_counter() - start
    assert elapsed < FAST, f"two-star pattern on 40k characters took {elapsed:.2f} s"
    if outcome is not None:
        assert outcome == authorizer_pb2.DECISION_IMPLICIT_DENY
    assert (
        attacker.authorize("s3:GetObject", "arn:aws:s3:::bucket/q/ab.csv").decision
        == authorizer_pb2.DECISION_ALLOWED
    )
    attacker.close()
