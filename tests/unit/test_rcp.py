"""Resource control policies in a repository: which RCPs cap a request (the resource account's,
member accounts only, services RCPs support, never a service-linked role), the organization.json
format next to SCPs, RCP document rules, and decisions that name the denying RCP statement."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from authz.engine.decision import EvalDecision, Layer
from authz.engine.snapshot import Snapshot, authorize, build_snapshot
from authz.errors import RepositoryError

MEMBER, MANAGEMENT, OUTSIDE = "111111111111", "999999999999", "222222222222"
ALLOW_ALL = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
DENY_DATA = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "NoData",
            "Effect": "Deny",
            "Principal": "*",
            "Action": ["s3:*", "ec2:*", "kms:*"],
            "Resource": "*",
        }
    ],
}


def _write(path: Path, doc: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))


def _repo(root: Path, rcp: Any = DENY_DATA, at: str = "ou") -> Path:
    for account in (MEMBER, MANAGEMENT, OUTSIDE):
        _write(
            root / f"accounts/{account}/users/alice.json",
            {
                "UserName": "alice",
                "UserPolicyList": [{"PolicyName": "all", "PolicyDocument": ALLOW_ALL}],
            },
        )
        _write(
            root / f"accounts/{account}/resources/bucket.json",
            {"ResourceArn": f"arn:aws:s3:::bucket-{account}"},
        )
    slr = {
        "RoleName": "AWSServiceRoleForSupport",
        "Path": "/aws-service-role/support.amazonaws.com/",
        "AssumeRolePolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "sts:AssumeRole",
                    "Principal": {"Service": "support.amazonaws.com"},
                }
            ],
        },
        "RolePolicyList": [{"PolicyName": "all", "PolicyDocument": ALLOW_ALL}],
    }
    _write(root / f"accounts/{MEMBER}/roles/AWSServiceRoleForSupport.json", slr)
    ou: dict[str, Any] = {"Id": "ou-apps", "PolicyIds": ["p-full"], "Accounts": [MEMBER]}
    if at == "ou":
        ou["PolicyIds"].append("r-deny")
    elif at == "account":
        ou["Accounts"] = [{"Id": MEMBER, "PolicyIds": ["r-deny"]}]
    org = {
        "Id": "o-example",
        "ManagementAccountId": MANAGEMENT,
        "Policies": [
            {"Id": "p-full", "Name": "FullAWSAccess", "Document": ALLOW_ALL},
            {"Id": "r-deny", "Name": "NoData", "Type": "RESOURCE_CONTROL_POLICY", "Document": rcp},
        ],
        "Root": {
            "Id": "r-root",
            "PolicyIds": ["p-full"] + (["r-deny"] if at == "root" else []),
            "Accounts": [MANAGEMENT],
            "Children": [ou],
        },
    }
    _write(root / "organization.json", org)
    return root


def _decide(snapshot: Snapshot, caller_arn: str, action: str, resource: str) -> Any:
    return authorize(snapshot, snapshot.caller(caller_arn), action, resource)


@pytest.mark.parametrize("at", ["root", "ou", "account"])
def test_an_rcp_at_each_level_caps_the_member_accounts_resources(tmp_path: Path, at: str) -> None:
    snapshot = build_snapshot(_repo(tmp_path, at=at), git=False)
    decision = _decide(
        snapshot,
        f"arn:aws:iam::{MEMBER}:user/alice",
        "s3:GetObject",
        f"arn:aws:s3:::bucket-{MEMBER}/k",
    )
    assert decision.decision is EvalDecision.EXPLICIT_DENY
    assert decision.failing_layer is Layer.RCP
    assert [(m.policy, m.statement) for m in decision.matched] == [("rcp/NoData", "NoData")]
    assert decision.reason("s3:GetObject") == "with an explicit deny in a resource control policy"


def test_rcps_follow_the_resource_account_not_the_caller(tmp_path: Path) -> None:
    snapshot = build_snapshot(_repo(tmp_path), git=False)
    outsider = f"arn:aws:iam::{OUTSIDE}:user/alice"
    # the member's own principal on the outside account's bucket: not capped (no RCP there);
    # the cross-account grant is missing, so it is an implicit deny from the resource side
    own = _decide(
        snapshot,
        f"arn:aws:iam::{MEMBER}:user/alice",
        "s3:GetObject",
        f"arn:aws:s3:::bucket-{OUTSIDE}/k",
    )
    assert own.failing_layer is not Layer.RCP
    capped = _decide(snapshot, outsider, "s3:GetObject", f"arn:aws:s3:::bucket-{MEMBER}/k")
    assert capped.decision is EvalDecision.EXPLICIT_DENY and capped.failing_layer is Layer.RCP


def test_the_management_account_is_never_capped(tmp_path: Path) -> None:
    snapshot = build_snapshot(_repo(tmp_path, at="root"), git=False)
    decision = _decide(
        snapshot,
        f"arn:aws:iam::{MANAGEMENT}:user/alice",
        "s3:GetObject",
        f"arn:aws:s3:::bucket-{MANAGEMENT}/k",
    )
    assert decision.decision is EvalDecision.ALLOWED


def test_services_rcps_do_not_support_are_not_capped(tmp_path: Path) -> None:
    snapshot = build_snapshot(_repo(tmp_path), git=False)
    alice = f"arn:aws:iam::{MEMBER}:user/alice"
    ec2 = _decide(
        snapshot, alice, "ec2:TerminateInstances", f"arn:aws:ec2:us-east-1:{MEMBER}:instance/i-1"
    )
    assert ec2.decision is EvalDecision.ALLOWED
    kms = _decide(snapshot, alice, "kms:ListKeys", "*")  # "*": the caller's own account
    assert kms.decision is EvalDecision.EXPLICIT_DENY and kms.failing_layer is Layer.RCP


def test_a_service_linked_role_is_never_capped(tmp_path: Path) -> None:
    snapshot = build_snapshot(_repo(tmp_path), git=False)
    path = "aws-service-role/support.amazonaws.com"
    role = f"arn:aws:iam::{MEMBER}:role/{path}/AWSServiceRoleForSupport"
    decision = _decide(snapshot, role, "s3:GetObject", f"arn:aws:s3:::bucket-{MEMBER}/k")
    assert decision.decision is EvalDecision.ALLOWED


def test_rcp_documents_need_principal_star(tmp_path: Path) -> None:
    bad = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Deny", "Principal": {"AWS": MEMBER}, "Action": "s3:*", "Resource": "*"}
        ],
    }
    with pytest.raises(RepositoryError) as err:
        build_snapshot(_repo(tmp_path, rcp=bad), git=False)
    problem = err.value.problems[0]
    assert problem.file == "organization.json" and problem.code == "MalformedPolicyDocument"
    assert "Principal" in problem.message


def test_an_unknown_policy_type_is_a_problem(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    org = json.loads((root / "organization.json").read_text())
    org["Policies"][1]["Type"] = "TAG_POLICY"
    (root / "organization.json").write_text(json.dumps(org))
    with pytest.raises(RepositoryError) as err:
        build_snapshot(root, git=False)
    messages = [p.message for p in err.value.problems]
    assert any("policy type `TAG_POLICY`" in m for m in messages), messages


def test_a_root_with_only_an_rcp_still_needs_an_scp(tmp_path: Path) -> None:
    root = _repo(tmp_path, at="root")
    org = json.loads((root / "organization.json").read_text())
    org["Root"]["PolicyIds"] = ["r-deny"]
    (root / "organization.json").write_text(json.dumps(org))
    with pytest.raises(RepositoryError) as err:
        build_snapshot(root, git=False)
    assert any("has no SCP attached" in p.message for p in err.value.problems)
