"""Existence oracle: a caller with no right to a role learned whether it exists — from the
AccessDenied wording ("because no role trust policy allows…" only for existing roles) and from
ValidationError / MalformedPolicyDocument appearing only for existing roles (a session policy,
``PolicyArns``, ``DurationSeconds`` against ``MaxSessionDuration``). Now a missing role answers
exactly as an existing role that does not trust the caller, and what depends on the role is
checked only once the caller is allowed; allowed callers still get AWS's messages. The same for
SimulatePrincipalPolicy: NoSuchEntity only for callers allowed ``iam:SimulatePrincipalPolicy``.

Against a real in-process server on 127.0.0.1 (tests/integration/e2e/harness.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from authz import errors
from authz.client.credentials import AccessKeyCredentials
from tests.integration.e2e.harness import E2EServer, ServerFactory
from tests.integration.e2e.repo_builder import RepoBuilder

ACCOUNT = "111111111111"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"  # may call sts:AssumeRole on anything
NOBODY = f"arn:aws:iam::{ACCOUNT}:user/nobody"  # no policies
EXISTING = f"arn:aws:iam::{ACCOUNT}:role/existing"  # trusts nobody (MaxSessionDuration 3600)
MISSING = f"arn:aws:iam::{ACCOUNT}:role/missing"
MINE = f"arn:aws:iam::{ACCOUNT}:role/mine"  # trusts alice (MaxSessionDuration 3600)
V = "2012-10-17"


def build_repo(root: Path) -> Path:
    repo = RepoBuilder()
    everything = {"Version": V, "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                               "Resource": "*"}]}  # fmt: skip
    repo.user(ACCOUNT, "alice", inline=[everything])
    repo.user(ACCOUNT, "nobody")
    nobody_trusted = {"Version": V, "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/other"},
         "Action": "sts:AssumeRole"}]}  # fmt: skip
    alice_trusted = {"Version": V, "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": "sts:AssumeRole"}]}  # fmt: skip
    repo.user(ACCOUNT, "other")
    repo.role(ACCOUNT, "existing", trust_policy=nobody_trusted, max_session_duration=3600)
    repo.role(ACCOUNT, "mine", trust_policy=alice_trusted, max_session_duration=3600)
    return repo.write(root)


@pytest.fixture
def env(start_server: ServerFactory, tmp_path: Path) -> E2EServer:
    return start_server(build_repo(tmp_path / "repo"))


def refusal(env: E2EServer, creds: AccessKeyCredentials, role: str, **params: Any) -> str:
    """The error of AssumeRole(role) as ``CODE: message`` with the role ARN masked."""
    with pytest.raises(errors.AuthzError) as raised:
        env.assume(creds, role, "probe", **params)
    exc = raised.value
    return f"{exc.code}: {exc.message}".replace(role, "<role>")


PROBES: dict[str, dict[str, Any]] = {
    "plain": {},
    "DurationSeconds above the role's maximum": {"duration_seconds": 43200},
    "a malformed session policy": {"policy": '{"Version": "2012-10-17", "Statement": ['},
    "a PolicyArns entry that does not exist": {
        "policy_arns": [f"arn:aws:iam::{ACCOUNT}:policy/nope"]
    },
}


@pytest.mark.parametrize("caller", [ALICE, NOBODY])
@pytest.mark.parametrize("probe", list(PROBES))
def test_a_missing_role_and_a_refusing_role_answer_alike(
    env: E2EServer, caller: str, probe: str
) -> None:
    creds = env.access_key(caller)
    missing = refusal(env, creds, MISSING, **PROBES[probe])
    existing = refusal(env, creds, EXISTING, **PROBES[probe])
    assert missing == existing
    assert missing.startswith(
        f"AccessDenied: User: {caller} is not authorized to perform: sts:AssumeRole on resource: "
        "<role>"
    )


def test_an_allowed_caller_still_gets_awss_messages(env: E2EServer) -> None:
    alice = env.access_key(ALICE)
    duration = refusal(env, alice, MINE, duration_seconds=43200)
    assert duration.startswith("ValidationError: ") and "DurationSeconds" in duration
    arns = refusal(env, alice, MINE, policy_arns=[f"arn:aws:iam::{ACCOUNT}:policy/nope"])
    assert arns == (
        f"ValidationError: Policy arn:aws:iam::{ACCOUNT}:policy/nope does not exist or is not "
        "attachable."
    )
    malformed = refusal(env, alice, MINE, policy='{"Version": "2012-10-17", "Statement": [')
    assert malformed.startswith("MalformedPolicyDocument: ")
    env.assume(alice, MINE, "fine")  # and the role works


def test_simulate_principal_policy_does_not_enumerate_principals(env: E2EServer) -> None:
    answers = []
    with env.client(env.access_key(NOBODY)) as client:
        for arn in (EXISTING, MISSING):
            with pytest.raises(errors.AuthzError) as raised:
                client.simulate_principal_policy(policy_source_arn=arn, action_names=["s3:*"])
            answers.append(f"{raised.value.code}: {raised.value.message}".replace(arn, "<arn>"))
    assert answers[0] == answers[1] and answers[0].startswith("AccessDenied: ")
