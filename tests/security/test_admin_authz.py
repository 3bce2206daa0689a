"""Every authenticated caller was an administrator: a user with no policies at all simulated an
admin role's policies (decisions, matched statement ids; NoSuchEntity enumerated principals),
read GetStatus (revision, counts, reload errors with file paths) and triggered Reload. Now each
of authz's own RPCs is authorized by IAM (``authz.permissions``, docs/security.md): denied calls
are AccessDenied / PERMISSION_DENIED with AWS's text; an enforcement point may not name an
assumed-role session by ARN (its policies, tags and MFA state are unknown without its token).

Against a real in-process server on 127.0.0.1 (tests/integration/e2e/harness.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest

from authz import errors
from authz.client import AuthzClient
from tests.integration.e2e.harness import E2EServer, ServerFactory
from tests.integration.e2e.repo_builder import RepoBuilder

ACCOUNT = "111111111111"
NOBODY = f"arn:aws:iam::{ACCOUNT}:user/nobody"  # no policies at all
OPERATOR = f"arn:aws:iam::{ACCOUNT}:user/operator"  # may assume the admin role
PEP = f"arn:aws:iam::{ACCOUNT}:user/pep"  # authz:AuthorizeOnBehalf
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/admin"
V = "2012-10-17"
POLICY = json.dumps(
    {"Version": V, "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
)


def _allow(*actions: str, resource: str = "*") -> dict[str, Any]:
    return {
        "Version": V,
        "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": resource}],
    }


def build_repo(root: Path) -> Path:
    repo = RepoBuilder()
    repo.user(ACCOUNT, "nobody")
    repo.user(ACCOUNT, "operator", inline=[_allow("sts:AssumeRole", resource=ADMIN)])
    repo.user(ACCOUNT, "pep", inline=[_allow("authz:AuthorizeOnBehalf")])
    trust = {
        "Version": V,
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": OPERATOR}, "Action": "sts:AssumeRole"}
        ],
    }
    repo.role(
        ACCOUNT,
        "admin",
        trust_policy=trust,
        inline=[
            _allow(
                "authz:Reload",
                "authz:PreviewReload",
                "authz:GetStatus",
                "authz:RevokeSession",
                "iam:SimulatePrincipalPolicy",
                "iam:SimulateCustomPolicy",
                "access-analyzer:ValidatePolicy",
                "sts:AssumeRole",
            )
        ],
    )
    return repo.write(root)  # fmt: skip


@pytest.fixture
def env(start_server: ServerFactory, tmp_path: Path) -> E2EServer:
    return start_server(build_repo(tmp_path / "repo"))


CALLS: dict[str, tuple[str, str, Callable[[AuthzClient], object]]] = {
    # name: (action, resource, the call)
    "SimulatePrincipalPolicy": (
        "iam:SimulatePrincipalPolicy",
        ADMIN,
        lambda c: c.simulate_principal_policy(policy_source_arn=ADMIN, action_names=["s3:*"]),
    ),
    "SimulatePrincipalPolicy on a missing principal": (
        "iam:SimulatePrincipalPolicy",
        f"arn:aws:iam::{ACCOUNT}:role/ghost",
        lambda c: c.simulate_principal_policy(
            policy_source_arn=f"arn:aws:iam::{ACCOUNT}:role/ghost", action_names=["s3:*"]
        ),
    ),
    "SimulateCustomPolicy": (
        "iam:SimulateCustomPolicy",
        "*",
        lambda c: c.simulate_custom_policy(policy_input_list=[POLICY], action_names=["s3:Get"]),
    ),
    "ValidatePolicy": ("access-analyzer:ValidatePolicy", "*", lambda c: c.validate_policy(POLICY)),
    "GetStatus": ("authz:GetStatus", "*", lambda c: c.get_status()),
    "Reload": ("authz:Reload", "*", lambda c: c.reload()),
    "PreviewReload": ("authz:PreviewReload", "*", lambda c: c.preview_reload(max_requests=10)),
    "RevokeSession": ("authz:RevokeSession", "*", lambda c: c.revoke_session(session_id="a" * 32)),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_a_user_without_policies_is_refused_every_admin_call(env: E2EServer, name: str) -> None:
    action, resource, call = CALLS[name]
    with env.client(env.access_key(NOBODY)) as client, pytest.raises(errors.AccessDenied) as raised:
        call(client)
    exc = raised.value
    assert exc.details["grpc_code"] == grpc.StatusCode.PERMISSION_DENIED.name
    assert exc.message.startswith(
        f"User: {NOBODY} is not authorized to perform: {action} on resource: {resource}"
    )
    assert "NoSuchEntity" not in exc.message and "ghost" not in exc.message.split(resource)[1]


def test_the_admin_role_may_make_every_admin_call(env: E2EServer) -> None:
    _, session = env.assume(env.access_key(OPERATOR), ADMIN, "ops")
    with env.client(session) as client:
        for name, (_, _, call) in CALLS.items():
            if "missing" in name:
                with pytest.raises(errors.NoSuchEntity):  # AWS's answer, once allowed
                    call(client)
            else:
                call(client)
        assert client.get_status().revision


def test_the_metrics_exporter_still_reads_the_status(env: E2EServer) -> None:
    """In-process callers (``identity=None``) are not asked for a permission."""
    assert env.backend.status(None).revision


def test_on_behalf_needs_the_permission(env: E2EServer) -> None:
    nobody = env.client(env.access_key(NOBODY))
    with (
        nobody as client,
        pytest.raises(errors.AccessDenied, match="AuthorizeOnBehalf on resource"),
    ):
        client.authorize("s3:GetObject", "arn:aws:s3:::b/k", principal_arn=OPERATOR)
    with env.client(env.access_key(PEP)) as client:
        answer = client.authorize("s3:GetObject", "arn:aws:s3:::b/k", principal_arn=OPERATOR)
    assert answer.principal_arn == OPERATOR


def test_on_behalf_naming_a_session_arn_is_refused(env: E2EServer) -> None:
    """Without its token the server knows neither the session's policies nor its tags nor its
    MFA state: deciding on the role's policies alone would grant more than the session has."""
    response, session = env.assume(env.access_key(OPERATOR), ADMIN, "ops")
    session_arn = response.assumed_role_user.arn
    with env.client(env.access_key(PEP)) as client:
        with pytest.raises(errors.ValidationError, match="assumed-role session"):
            client.authorize("authz:Reload", "*", principal_arn=session_arn)
        by_token = client.authorize("authz:Reload", "*", session_token=session.token)
    assert by_token.principal_arn == session_arn


def test_only_an_admin_revokes_a_session_and_it_is_refused_at_once(env: E2EServer) -> None:
    """A session revoked through the RPC (state database, no repository commit); a caller
    without ``authz:RevokeSession`` cannot revoke anyone's session (a denial of service)."""
    response, stolen = env.assume(env.access_key(OPERATOR), ADMIN, "stolen")
    key_id = response.credentials.access_key_id
    with env.client(env.access_key(NOBODY)) as client, pytest.raises(errors.AccessDenied):
        client.revoke_session(access_key_id=key_id)
    with env.client(stolen) as client:
        client.get_caller_identity()  # still valid: the refused call revoked nothing
    _, admin = env.assume(env.access_key(OPERATOR), ADMIN, "ops")
    with env.client(admin) as client:
        answer = client.revoke_session(access_key_id=key_id, reason="laptop stolen")
        assert (answer.kind, answer.id) == ("access_key_id", key_id)
        assert answer.expires_at.seconds > answer.revoked_at.seconds
        with pytest.raises(errors.ValidationError, match="exactly one"):
            client.revoke_session()
    with env.client(stolen) as client, pytest.raises(errors.InvalidClientTokenId):
        client.get_caller_identity()
    with env.client(admin) as client:  # other sessions of the same role are unaffected
        assert client.get_caller_identity().arn.endswith("/ops")
    events = env.audit_events(1)
    assert any(e.get("eventName") == "RevokeSession" for e in events), events[-3:]
