"""MFA can be guessed (issue 11 item 6), written as the attack, against a real server: with one
user's access keys, send TOTP guesses to AssumeRole until one is accepted. At 0b9b4d1 every
guess was checked (1,016 a second: a valid code in about five minutes). Now, after
``mfa_max_failures`` wrong codes (default 5), codes are refused unchecked with ``Throttling``
for a lockout window that doubles per further failure; the owner signs in once it has passed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import grpc
import pyotp
import pytest

from authz import errors
from authz.client.credentials import AccessKeyCredentials
from tests.integration.e2e.harness import E2EServer, ServerFactory
from tests.integration.e2e.repo_builder import RepoBuilder

ACCOUNT = "111111111111"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
BOB = f"arn:aws:iam::{ACCOUNT}:user/bob"
GUARDED = f"arn:aws:iam::{ACCOUNT}:role/guarded"
GUESSES = 1000
LIMIT = 5  # the default mfa_max_failures


def _doc(statement: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [statement]}


def build_repo(root: Path) -> Path:
    repo = RepoBuilder()
    for name in ("alice", "bob"):
        repo.user(ACCOUNT, name, inline=[_doc({"Effect": "Allow", "Action": "sts:AssumeRole",
                                               "Resource": "*"})])  # fmt: skip
    mfa = {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    trust = {"Effect": "Allow", "Principal": {"AWS": [ALICE, BOB]}, "Action": "sts:AssumeRole",
             "Condition": mfa}  # fmt: skip
    repo.role(ACCOUNT, "guarded", trust_policy=_doc(trust))
    return repo.write(root)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def env(start_server: ServerFactory, tmp_path: Path) -> E2EServer:
    return start_server(build_repo(tmp_path / "repo"))


@pytest.fixture
def device(env: E2EServer) -> tuple[str, pyotp.TOTP]:
    serial, seed = env.mfa_device(ALICE, "alice-phone")
    return serial, pyotp.TOTP(seed)


def wrong_codes(totp: pyotp.TOTP, count: int) -> list[str]:
    """``count`` codes none of which is valid now (the current step and one either side)."""
    now = time.time()
    valid = {totp.at(now + d) for d in (-60, -30, 0, 30, 60)}
    return [c for c in (f"{i * 7919 % 1_000_000:06d}" for i in range(count + 5)) if c not in valid][
        :count
    ]


def guess(env: E2EServer, creds: AccessKeyCredentials, serial: str, codes: list[str]) -> list[str]:
    """Send each code; the AWS error code of each answer ("ok" when a session was issued)."""
    outcomes = []
    with env.client(creds) as client:
        for code in codes:
            try:
                client.assume_role(GUARDED, "guess", serial_number=serial, token_code=code)
                outcomes.append("ok")
            except errors.AuthzError as err:
                outcomes.append(err.code)
    return outcomes


def test_a_thousand_guesses_are_refused_after_the_limit(
    env: E2EServer, device: tuple[str, pyotp.TOTP]
) -> None:
    serial, totp = device
    alice = env.access_key(ALICE)
    outcomes = guess(env, alice, serial, wrong_codes(totp, GUESSES))
    checked = [o for o in outcomes if o == "AccessDenied"]
    assert "ok" not in outcomes
    assert len(checked) <= LIMIT, f"{len(checked)} of {GUESSES} guesses were checked"
    assert outcomes[LIMIT:] == ["Throttling"] * (GUESSES - LIMIT)
    # while locked, even the right code is refused unchecked (the window cannot be searched)
    assert guess(env, alice, serial, [totp.now()]) == ["Throttling"]


def test_throttling_is_aws_style_audited_and_counted(
    env: E2EServer, device: tuple[str, pyotp.TOTP]
) -> None:
    serial, totp = device
    alice = env.access_key(ALICE)
    guess(env, alice, serial, wrong_codes(totp, LIMIT))
    with env.client(alice) as client, pytest.raises(errors.Throttling) as raised:
        client.assume_role(GUARDED, "guess", serial_number=serial, token_code=totp.now())
    assert raised.value.details["grpc_code"] == grpc.StatusCode.RESOURCE_EXHAUSTED.name
    assert raised.value.message.startswith("Rate exceeded")
    events = env.audit_events(LIMIT + 1)
    assert [e.get("errorCode") for e in events[-(LIMIT + 1) :]] == (
        ["AccessDenied"] * LIMIT + ["Throttling"]
    )
    counters = env.backend.security_events()
    assert counters["security_mfa_failures"] == LIMIT
    assert counters["security_mfa_lockouts"] == 1
    assert counters["security_mfa_throttled"] == 1


def test_the_owner_signs_in_after_the_lockout_window(
    env: E2EServer, device: tuple[str, pyotp.TOTP]
) -> None:
    serial, totp = device
    clock = FakeClock()
    env.backend.sts.mfa_limiter.clock = clock
    alice = env.access_key(ALICE)
    outcomes = guess(env, alice, serial, wrong_codes(totp, GUESSES))
    assert outcomes.count("AccessDenied") == LIMIT
    window = env.settings.mfa_lockout_seconds
    clock.now += window  # the window has passed: one more guess is checked ...
    assert guess(env, alice, serial, wrong_codes(totp, 1)) == ["AccessDenied"]
    clock.now += window * 2 - 1  # ... and locks again, for twice as long
    assert guess(env, alice, serial, [totp.now()]) == ["Throttling"]
    clock.now += 1
    response, _ = env.assume(alice, GUARDED, "owner", serial_number=serial, token_code=totp.now())
    assert response.assumed_role_user.arn.endswith("/owner")
    # a success resets the count: the owner's next typo is an ordinary failure
    assert guess(env, alice, serial, wrong_codes(totp, 1)) == ["AccessDenied"]


def test_another_user_cannot_lock_the_owner_out(
    env: E2EServer, device: tuple[str, pyotp.TOTP]
) -> None:
    """Guessing with someone else's device counts against the guesser, never the device."""
    serial, totp = device
    bob = env.access_key(BOB)
    outcomes = guess(env, bob, serial, wrong_codes(totp, 20))
    assert outcomes.count("AccessDenied") <= LIMIT
    alice = env.access_key(ALICE)
    response, _ = env.assume(alice, GUARDED, "owner", serial_number=serial, token_code=totp.now())
    assert response.assumed_role_user.arn.endswith("/owner")
