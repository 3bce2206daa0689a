"""Caller-asserted facts: a principal (or an enforcement point) sends context keys that only the
server may state — principal tags, organization, service-ness, user name, the clock, the
connection — to pass conditions or skip explicit Denies. Each is refused with a
``ValidationError`` naming the key, on Authorize and AuthorizeBatch alike, and the Denies keep
biting with the server's own values (docs/security.md, ``authz.iam.context_keys``).

Against a real in-process server on 127.0.0.1 (tests/integration/e2e/harness.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from authz import errors
from authz._gen.authz.v1 import authorizer_pb2
from authz.client.client import build_authorize_request
from authz.client.credentials import AccessKeyCredentials
from tests.integration.e2e.harness import E2EServer, ServerFactory
from tests.integration.e2e.repo_builder import RepoBuilder

ACCOUNT = "111111111111"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"  # no tags at all
CLEARED = f"arn:aws:iam::{ACCOUNT}:user/cleared"  # clearance=top, home=cleared (control)
PEP = f"arn:aws:iam::{ACCOUNT}:user/pep"  # an enforcement point (authz:AuthorizeOnBehalf)
APP = f"arn:aws:iam::{ACCOUNT}:role/app"
ALLOWED = authorizer_pb2.DECISION_ALLOWED
EXPLICIT_DENY = authorizer_pb2.DECISION_EXPLICIT_DENY
V = "2012-10-17"


def _st(action: str, resource: str, effect: str = "Allow", **condition: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"Effect": effect, "Action": action, "Resource": resource}
    if condition:
        out["Condition"] = condition
    return out


def _get(path: str, effect: str = "Allow", **condition: Any) -> dict[str, Any]:
    return _st("s3:GetObject", f"arn:aws:s3:::{path}", effect, **condition)


READER = {
    "Version": V,
    "Statement": [
        _get("secret/*", StringEquals={"aws:PrincipalTag/clearance": "top"}),
        _get("home/${aws:PrincipalTag/home}/*"),
        _get("org/*", StringEquals={"aws:PrincipalOrgID": "o-elsewhere"}),
        _get("svc/*", Bool={"aws:PrincipalIsAWSService": "true"}),
        _get("tls/*", Bool={"aws:SecureTransport": "true"}),
        _get("grant/*", DateLessThan={"aws:CurrentTime": "2001-01-01T00:00:00Z"}),
        _get("epoch/*", NumericLessThan={"aws:EpochTime": "978307200"}),
        _get("data/*"),
        _get("net/*"),
        # an embargo until 2100, and a network fence: explicit Denies the caller must not skip
        _get("data/*", "Deny", DateLessThan={"aws:CurrentTime": "2100-01-01T00:00:00Z"}),
        _get("net/*", "Deny", NotIpAddress={"aws:SourceIp": "10.0.0.0/8"}),
    ],
}


def build_repo(root: Path) -> Path:
    repo = RepoBuilder()
    repo.user(
        ACCOUNT, "alice", inline=[READER, {"Version": V, "Statement": [_st("sts:AssumeRole", APP)]}]
    )
    repo.user(ACCOUNT, "cleared", inline=[READER], tags={"clearance": "top", "home": "cleared"})
    repo.user(
        ACCOUNT, "pep", inline=[{"Version": V, "Statement": [_st("authz:AuthorizeOnBehalf", "*")]}]
    )
    trust = {
        "Version": V,
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": "sts:AssumeRole"}],
    }
    repo.role(
        ACCOUNT,
        "app",
        trust_policy=trust,
        inline=[
            {
                "Version": V,
                "Statement": [_st("s3:GetObject", "arn:aws:s3:::home/${aws:username}/*")],
            }
        ],
    )
    return repo.write(root)  # fmt: skip


@pytest.fixture
def env(start_server: ServerFactory, tmp_path: Path) -> E2EServer:
    return start_server(build_repo(tmp_path / "repo"), trusted_proxies=["127.0.0.1"])


@pytest.fixture
def alice(env: E2EServer) -> AccessKeyCredentials:
    return env.access_key(ALICE)


# (key as sent, value, the resource the spoof would open)
SPOOFS = [
    ("aws:PrincipalTag/clearance", "top", "arn:aws:s3:::secret/plans.pdf"),
    ("AWS:PRINCIPALTAG/CLEARANCE", "top", "arn:aws:s3:::secret/plans.pdf"),
    ("aws:PrincipalTag/home", "admin", "arn:aws:s3:::home/admin/keys.txt"),  # ${...} variable
    ("aws:PrincipalOrgID", "o-elsewhere", "arn:aws:s3:::org/x"),
    ("aws:PrincipalIsAWSService", "true", "arn:aws:s3:::svc/x"),
    ("aws:SecureTransport", "true", "arn:aws:s3:::tls/x"),
    ("aws:SourceIp", "10.1.2.3", "arn:aws:s3:::net/x"),
    ("aws:CurrentTime", "2000-06-01T00:00:00Z", "arn:aws:s3:::grant/x"),  # an expired grant
    ("aws:CurrentTime", "2101-01-01T00:00:00Z", "arn:aws:s3:::data/x"),  # past the embargo
    ("aws:EpochTime", "1", "arn:aws:s3:::epoch/x"),
]


@pytest.mark.parametrize(("key", "value", "resource"), SPOOFS)
def test_a_principal_cannot_assert_server_owned_facts(
    env: E2EServer, alice: AccessKeyCredentials, key: str, value: str, resource: str
) -> None:
    spoof = {key: value}
    with env.client(alice) as client:
        with pytest.raises(errors.ValidationError, match=f"`{key.lower()}`"):
            client.authorize("s3:GetObject", resource, context=spoof)
        items = [
            build_authorize_request("s3:GetObject", "arn:aws:s3:::data/other"),
            build_authorize_request("s3:GetObject", resource, context=spoof),
        ]
        with pytest.raises(errors.ValidationError, match=f"`{key.lower()}`"):
            client.authorize_batch(items)
        # without the claim, the server's own facts decide: never allowed for alice
        assert client.authorize("s3:GetObject", resource).decision != ALLOWED


def test_explicit_denies_on_the_clock_and_the_network_still_bite(
    env: E2EServer, alice: AccessKeyCredentials
) -> None:
    with env.client(alice) as client:
        embargo = client.authorize("s3:GetObject", "arn:aws:s3:::data/x")
        fence = client.authorize("s3:GetObject", "arn:aws:s3:::net/x")
    assert embargo.decision == EXPLICIT_DENY and fence.decision == EXPLICIT_DENY
    # the network fact comes from the connection: a trusted proxy's x-forwarded-for counts
    with env.client(alice, forwarded_for="10.9.8.7") as client:
        assert client.authorize("s3:GetObject", "arn:aws:s3:::net/x").decision == ALLOWED


def test_the_servers_own_principal_facts_decide(env: E2EServer) -> None:
    """Control: the same conditions pass for a principal that really has the tags."""
    with env.client(env.access_key(CLEARED)) as client:
        assert client.authorize("s3:GetObject", "arn:aws:s3:::secret/plans.pdf").decision == ALLOWED
        home = client.authorize("s3:GetObject", "arn:aws:s3:::home/cleared/x")
        admin = client.authorize("s3:GetObject", "arn:aws:s3:::home/admin/x")
    assert home.decision == ALLOWED and admin.decision != ALLOWED


def test_a_role_session_cannot_claim_a_user_name(
    env: E2EServer, alice: AccessKeyCredentials
) -> None:
    _, session = env.assume(alice, APP, "s1")
    with env.client(session) as client:
        with pytest.raises(errors.ValidationError, match="`aws:username`"):
            client.authorize(
                "s3:GetObject", "arn:aws:s3:::home/admin/x", context={"aws:username": "admin"}
            )
        with pytest.raises(errors.ValidationError, match="`aws:username`"):
            client.authorize_batch(
                [build_authorize_request("s3:GetObject", "arn:aws:s3:::home/admin/x",
                                         context={"aws:username": "admin"})]
            )  # fmt: skip
        assert client.authorize("s3:GetObject", "arn:aws:s3:::home/admin/x").decision != ALLOWED


def test_an_enforcement_point_states_the_origin_but_not_the_principal(env: E2EServer) -> None:
    """On behalf of alice, a PEP may state the end user's source address (the server cannot
    see it), never alice's tags or the clock."""
    with env.client(env.access_key(PEP)) as client:
        inside = client.authorize(
            "s3:GetObject", "arn:aws:s3:::net/x", principal_arn=ALICE,
            context={"aws:SourceIp": "10.1.2.3"},
        )  # fmt: skip
        outside = client.authorize(
            "s3:GetObject", "arn:aws:s3:::net/x", principal_arn=ALICE,
            context={"aws:SourceIp": "192.0.2.1"},
        )  # fmt: skip
        assert inside.decision == ALLOWED and outside.decision == EXPLICIT_DENY
        for key, value in (
            ("aws:PrincipalTag/clearance", "top"),
            ("aws:CurrentTime", "2101-01-01T00:00:00Z"),
        ):
            with pytest.raises(errors.ValidationError, match=f"`{key.lower()}`"):
                client.authorize("s3:GetObject", "arn:aws:s3:::secret/x", principal_arn=ALICE,
                                 context={key: value})  # fmt: skip


def test_distinct_tag_claims_do_not_compile_partitions(
    env: E2EServer, alice: AccessKeyCredentials
) -> None:
    """A new tag value per request once compiled a new partition each time (cache thrash)."""
    with env.client(alice) as client:
        client.authorize("s3:GetObject", "arn:aws:s3:::home/x/y")
        before = env.backend.holder.current.cache_stats()["partition_misses"]
        for i in range(30):
            with pytest.raises(errors.ValidationError):
                client.authorize(
                    "s3:GetObject", f"arn:aws:s3:::home/u{i}/y",
                    context={"aws:PrincipalTag/home": f"u{i}"},
                )  # fmt: skip
    assert env.backend.holder.current.cache_stats()["partition_misses"] == before
