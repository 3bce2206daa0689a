"""MFA for AssumeRole through the real gRPC server (spec §5 ``aws:MultiFactorAuthPresent`` /
``aws:MultiFactorAuthAge``, §6.1 ``SerialNumber`` / ``TokenCode``).

Devices are created the way ``authz keys create-mfa`` does it, in the server's MFA store file
while the server runs, and codes come from ``pyotp`` as an authenticator app computes them.
Each test has its own server and devices; a device accepts a code once, so a second success
within one 30-second step uses the next step's code (inside the ±1 window).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pyotp
import pytest

from authz import errors
from authz._gen.authz.v1 import authorizer_pb2
from authz.client.client import build_authorize_request
from authz.client.credentials import AccessKeyCredentials, Credentials
from authz.sts.service import MFA_FAILED
from tests.integration.e2e.harness import E2EServer, ServerFactory
from tests.integration.e2e.repo_builder import RepoBuilder

ACCOUNT = "111111111111"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
BOB = f"arn:aws:iam::{ACCOUNT}:user/bob"
GUARDED = f"arn:aws:iam::{ACCOUNT}:role/guarded"  # trust: Bool MFA true
FENCED = f"arn:aws:iam::{ACCOUNT}:role/fenced"  # trust: Deny BoolIfExists MFA false
LEAKY = f"arn:aws:iam::{ACCOUNT}:role/leaky"  # trust: Deny Bool MFA false (misses long-term)
NEXT = f"arn:aws:iam::{ACCOUNT}:role/next"  # trust: guarded/fenced sessions with MFA
DATA = "arn:aws:s3:::data/report.csv"
ALLOWED = authorizer_pb2.DECISION_ALLOWED

MFA_TRUE = {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
NO_MFA_IF_EXISTS = {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}
NO_MFA = {"Bool": {"aws:MultiFactorAuthPresent": "false"}}


def _doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _stmt(
    effect: str,
    action: str,
    condition: dict[str, Any] | None = None,
    principal: str | list[str] | None = None,
    resource: str | None = "*",
) -> dict[str, Any]:
    out: dict[str, Any] = {"Effect": effect, "Action": action}
    if principal is not None:
        out["Principal"] = {"AWS": principal}
    if resource is not None:
        out["Resource"] = resource
    if condition:
        out["Condition"] = condition
    return out


def build_repo(root: Path) -> Path:
    repo = RepoBuilder()
    mfa_only_deletes = _stmt("Deny", "s3:DeleteObject", NO_MFA_IF_EXISTS)  # spec §5 idiom
    for name in ("alice", "bob"):
        repo.user(ACCOUNT, name, inline=[_doc(
            _stmt("Allow", "sts:AssumeRole"), _stmt("Allow", "s3:*"), mfa_only_deletes,
        )])  # fmt: skip
    role_policy = _doc(
        _stmt("Allow", "s3:GetObject", MFA_TRUE),
        _stmt("Allow", "s3:DeleteObject"),
        mfa_only_deletes,
        _stmt("Allow", "sts:AssumeRole"),
    )
    trusted = ALICE
    repo.role(ACCOUNT, "guarded", inline=[role_policy], trust_policy=_doc(
        _stmt("Allow", "sts:AssumeRole", MFA_TRUE, principal=trusted, resource=None)))  # fmt: skip
    repo.role(ACCOUNT, "fenced", inline=[role_policy], trust_policy=_doc(
        _stmt("Allow", "sts:AssumeRole", principal=trusted, resource=None),
        _stmt("Deny", "sts:AssumeRole", NO_MFA_IF_EXISTS, principal=trusted, resource=None),
    ))  # fmt: skip
    repo.role(ACCOUNT, "leaky", inline=[role_policy], trust_policy=_doc(
        _stmt("Allow", "sts:AssumeRole", principal=trusted, resource=None),
        _stmt("Deny", "sts:AssumeRole", NO_MFA, principal=trusted, resource=None),
    ))  # fmt: skip
    young_mfa = {**MFA_TRUE, "NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}
    chain_trust = _stmt("Allow", "sts:AssumeRole", MFA_TRUE, principal=[GUARDED, LEAKY],
                        resource=None)  # fmt: skip
    repo.role(ACCOUNT, "next", inline=[_doc(_stmt("Allow", "s3:GetObject", young_mfa))],
              trust_policy=_doc(chain_trust))  # fmt: skip
    return repo.write(root)


@pytest.fixture
def env(start_server: ServerFactory, tmp_path: Path) -> E2EServer:
    return start_server(build_repo(tmp_path / "repo"))


@pytest.fixture
def alice(env: E2EServer) -> AccessKeyCredentials:
    return env.access_key(ALICE)


@pytest.fixture
def device(env: E2EServer) -> tuple[str, pyotp.TOTP]:
    """Alice's virtual MFA device, created in the running server's state database through
    another connection (as ``authz keys create-mfa`` would)."""
    serial, seed = env.mfa_device(ALICE, "alice-phone")
    return serial, pyotp.TOTP(seed)


def refused(env: E2EServer, creds: Credentials, role: str, **params: Any) -> errors.AuthzError:
    with pytest.raises(errors.AuthzError) as raised:
        env.assume(creds, role, "refused", **params)
    return raised.value


def allowed(env: E2EServer, creds: Credentials, action: str) -> bool:
    with env.client(creds) as client:
        return bool(client.authorize(action, DATA).decision == ALLOWED)


def test_trust_policy_requiring_mfa(
    env: E2EServer, alice: AccessKeyCredentials, device: tuple[str, pyotp.TOTP]
) -> None:
    serial, totp = device
    denied = refused(env, alice, GUARDED)
    assert denied.code == "AccessDenied"
    assert "is not authorized to perform: sts:AssumeRole" in denied.message

    code = totp.now()
    _, session = env.assume(alice, GUARDED, "with-mfa", serial_number=serial, token_code=code)
    assert allowed(env, session, "s3:GetObject")  # role policy: Bool MFA true
    assert allowed(env, session, "s3:DeleteObject")  # BoolIfExists false: not denied

    reused = refused(env, alice, GUARDED, serial_number=serial, token_code=code)
    assert (reused.code, reused.message) == ("AccessDenied", MFA_FAILED)
    wrong = f"{(int(totp.at(time.time() + 30)) + 1) % 1_000_000:06d}"
    bad = refused(env, alice, GUARDED, serial_number=serial, token_code=wrong)
    assert (bad.code, bad.message) == ("AccessDenied", MFA_FAILED)


def test_mfa_parameters_must_come_together_and_belong_to_the_caller(
    env: E2EServer, alice: AccessKeyCredentials, device: tuple[str, pyotp.TOTP]
) -> None:
    serial, totp = device
    assert refused(env, alice, GUARDED, serial_number=serial).code == "ValidationError"
    assert refused(env, alice, GUARDED, token_code=totp.now()).code == "ValidationError"
    bob = env.access_key(BOB)
    stolen = refused(env, bob, GUARDED, serial_number=serial, token_code=totp.now())
    assert (stolen.code, stolen.message) == ("AccessDenied", MFA_FAILED)
    unknown = refused(env, alice, GUARDED, serial_number=f"arn:aws:iam::{ACCOUNT}:mfa/none",
                      token_code=totp.now())  # fmt: skip
    assert (unknown.code, unknown.message) == ("AccessDenied", MFA_FAILED)
    # bob's attempt did not consume alice's code
    env.assume(alice, GUARDED, "mine", serial_number=serial, token_code=totp.now())


def test_bool_if_exists_false_denies_long_term_keys_without_mfa(
    env: E2EServer, alice: AccessKeyCredentials, device: tuple[str, pyotp.TOTP]
) -> None:
    serial, totp = device
    # Long-term keys carry no aws:MultiFactorAuthPresent: BoolIfExists false matches, Bool not.
    assert refused(env, alice, FENCED).code == "AccessDenied"
    _, leaky = env.assume(alice, LEAKY, "no-mfa")
    assert allowed(env, alice, "s3:GetObject")
    assert not allowed(env, alice, "s3:DeleteObject")
    # A session without MFA carries "false": both forms match it.
    assert not allowed(env, leaky, "s3:DeleteObject")
    assert not allowed(env, leaky, "s3:GetObject")  # Bool MFA true
    # With MFA the fence opens.
    _, fenced = env.assume(alice, FENCED, "mfa", serial_number=serial, token_code=totp.now())
    assert allowed(env, fenced, "s3:DeleteObject")
    assert allowed(env, fenced, "s3:GetObject")


def test_role_chaining_keeps_the_mfa_fact(
    env: E2EServer, alice: AccessKeyCredentials, device: tuple[str, pyotp.TOTP]
) -> None:
    serial, totp = device
    _, guarded = env.assume(alice, GUARDED, "first", serial_number=serial, token_code=totp.now())
    _, chained = env.assume(guarded, NEXT, "second")
    assert allowed(env, chained, "s3:GetObject")  # MFA true and age < 3600 in the chain
    _, leaky = env.assume(alice, LEAKY, "no-mfa")
    assert refused(env, leaky, NEXT).code == "AccessDenied"  # no MFA to inherit
    # A role session has no MFA device of its own.
    own = refused(env, leaky, NEXT, serial_number=serial, token_code=totp.at(time.time() + 30))
    assert (own.code, own.message) == ("AccessDenied", MFA_FAILED)


def test_callers_cannot_claim_mfa_in_the_request_context(
    env: E2EServer, alice: AccessKeyCredentials
) -> None:
    """aws:MultiFactorAuthPresent is a fact about the credentials: a value the caller puts in
    the Authorize context is refused (ValidationError naming the key, not silently used or
    dropped), so the MFA-only delete is never allowed on the caller's word."""
    spoof = {"aws:MultiFactorAuthPresent": "true", "aws:MultiFactorAuthAge": "1"}
    with env.client(alice) as client:
        with pytest.raises(errors.ValidationError, match="aws:multifactorauth"):
            client.authorize("s3:DeleteObject", DATA, context=spoof)
        with pytest.raises(errors.ValidationError, match="aws:multifactorauth"):
            client.authorize_batch(
                [build_authorize_request("s3:DeleteObject", DATA, context=spoof)] * 2
            )
        assert client.authorize("s3:DeleteObject", DATA).decision != ALLOWED
    _, leaky = env.assume(alice, LEAKY, "no-mfa-spoof")
    with env.client(leaky) as client:
        with pytest.raises(errors.ValidationError, match="aws:multifactorauth"):
            client.authorize("s3:GetObject", DATA, context=spoof)
        assert client.authorize("s3:GetObject", DATA).decision != ALLOWED
