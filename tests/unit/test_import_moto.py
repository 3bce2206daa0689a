"""Import of dumps produced by a real AWS emulator: moto's GetAccountAuthorizationDetails (no
``PolicyName`` in ``Policies[]``, every AWS managed policy including two whose resources name
``arn:aws:iam::aws:role-template/…``, no ``MaxSessionDuration``), validated and answering
decisions through the product's API; re-import is a sync."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from authz.cli import main
from authz.engine.snapshot import authorize, build_snapshot
from authz.errors import ValidationError
from authz.repo import check_repository
from authz.repo.importer import import_authorization_details, role_durations
from authz.sts.assume_role import TtlPolicy, session_duration

boto3 = pytest.importorskip("boto3")
moto = pytest.importorskip("moto")

ACCT = "123456789012"
POLICY = f"arn:aws:iam::{ACCT}:policy"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
OMNI = "arn:aws:iam::aws:policy/aws-service-role/AWSCloudWatchOmniServiceRolePolicy"


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _allow(action: str | list[str], resource: str = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


TRUST = _doc(
    {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCT}:root"},
        "Action": "sts:AssumeRole",
    }
)


def _account(iam: Any) -> None:
    """Users, groups, roles, several managed-policy versions, a boundary, tags and attached
    AWS managed policies."""
    writer = iam.create_policy(PolicyName="DataWriter", PolicyDocument=_doc(_allow("s3:GetObject")))
    arn = writer["Policy"]["Arn"]
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=_doc(_allow("s3:*")), SetAsDefault=True)
    iam.create_policy_version(
        PolicyArn=arn, PolicyDocument=_doc(_allow("*")), SetAsDefault=False
    )  # a newer, non-default version: must not apply
    iam.create_policy(
        PolicyName="S3ReadBoundary",
        Path="/boundaries/",
        PolicyDocument=_doc(_allow(["s3:GetObject", "s3:ListBucket", "sqs:*"])),
    )
    iam.create_policy(
        PolicyName="TeamTagged",
        PolicyDocument=_doc(
            _allow(
                "sqs:SendMessage",
                f"arn:aws:sqs:us-east-1:{ACCT}:*",
                Condition={"StringEquals": {"aws:PrincipalTag/team": "data"}},
            )
        ),
    )
    iam.create_group(GroupName="readers")
    iam.attach_group_policy(GroupName="readers", PolicyArn=READ_ONLY)
    iam.create_group(GroupName="data", Path="/teams/")
    iam.put_group_policy(
        GroupName="data",
        PolicyName="NoDelete",
        PolicyDocument=_doc({"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"}),
    )
    iam.attach_group_policy(GroupName="data", PolicyArn=arn)
    iam.create_user(UserName="alice", Tags=[{"Key": "team", "Value": "data"}])
    iam.add_user_to_group(GroupName="readers", UserName="alice")
    iam.add_user_to_group(GroupName="data", UserName="alice")
    iam.attach_user_policy(UserName="alice", PolicyArn=f"{POLICY}/TeamTagged")
    iam.create_user(UserName="bob", Path="/contractors/", Tags=[{"Key": "team", "Value": "ops"}])
    iam.add_user_to_group(GroupName="readers", UserName="bob")
    iam.attach_user_policy(UserName="bob", PolicyArn=f"{POLICY}/TeamTagged")
    iam.create_user(UserName="carol")
    iam.attach_user_policy(UserName="carol", PolicyArn=S3_READ)
    iam.create_role(
        RoleName="etl",
        AssumeRolePolicyDocument=TRUST,
        MaxSessionDuration=7200,
        PermissionsBoundary=f"{POLICY}/boundaries/S3ReadBoundary",
        Tags=[{"Key": "team", "Value": "data"}],
    )
    iam.attach_role_policy(RoleName="etl", PolicyArn=arn)
    iam.put_role_policy(
        RoleName="etl", PolicyName="Queue", PolicyDocument=_doc(_allow("sqs:ReceiveMessage"))
    )
    iam.create_role(RoleName="auditor", AssumeRolePolicyDocument=TRUST)
    iam.attach_role_policy(RoleName="auditor", PolicyArn=READ_ONLY)


def _strip(response: dict[str, Any]) -> dict[str, Any]:
    response.pop("ResponseMetadata", None)
    return json.loads(json.dumps(response, default=str))  # dates as the AWS CLI prints them


@pytest.fixture(scope="module")
def dumps() -> Iterator[dict[str, Any]]:
    """Details and list-roles output before and after deletions upstream (computed once)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")  # attach AWS managed policies
    for key in ("AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"):
        mp.delenv(key, raising=False)
    try:
        with moto.mock_aws():
            iam = boto3.client(
                "iam", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
            )
            _account(iam)
            out = {
                "details": _strip(iam.get_account_authorization_details()),
                "roles": _strip(iam.list_roles()),
                "get_role": _strip(iam.get_role(RoleName="etl")),
            }
            iam.remove_user_from_group(GroupName="readers", UserName="bob")
            iam.detach_user_policy(UserName="bob", PolicyArn=f"{POLICY}/TeamTagged")
            iam.delete_user(UserName="bob")
            iam.delete_role_policy(RoleName="etl", PolicyName="Queue")
            iam.detach_role_policy(RoleName="etl", PolicyArn=f"{POLICY}/DataWriter")
            iam.delete_role(RoleName="etl")
            out["after"] = _strip(
                iam.get_account_authorization_details(
                    Filter=["User", "Role", "Group", "LocalManagedPolicy"]
                )
            )
            yield out
    finally:
        mp.undo()


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, dumps: dict[str, Any]) -> Path:
    out = tmp_path_factory.mktemp("moto-repo")
    import_authorization_details(dumps["details"], ACCT, out, role_durations(dumps["roles"]))
    return out


def test_the_emulator_dump_is_what_real_dumps_look_like(dumps: dict[str, Any]) -> None:
    policies = dumps["details"]["Policies"]
    assert all("PolicyName" not in p for p in policies)  # the reason names come from the ARN
    assert OMNI in {p["Arn"] for p in policies}
    assert all("MaxSessionDuration" not in r for r in dumps["details"]["RoleDetailList"])


def test_emulator_dump_imports_and_validates(repo: Path) -> None:
    result = check_repository(repo)
    assert result.problems == []
    policy = json.loads((repo / f"accounts/{ACCT}/policies/DataWriter.json").read_text())
    assert policy["Document"]["Statement"][0]["Action"] == "s3:*"  # the default version (v2)
    assert (repo / "aws-managed/ReadOnlyAccess.json").is_file()
    # AWS's own policy with an `arn:aws:iam::aws:role-template/…` resource is accepted
    assert (repo / "aws-managed/AWSCloudWatchOmniServiceRolePolicy.json").is_file()
    assert not any("AWSCloudWatchOmni" in w.file for w in result.warnings)
    role = json.loads((repo / f"accounts/{ACCT}/roles/etl.json").read_text())
    assert role["MaxSessionDuration"] == 7200
    assert role["PermissionsBoundary"]["PermissionsBoundaryArn"].endswith("S3ReadBoundary")


def test_imported_account_answers_as_aws_documents(repo: Path) -> None:
    snap = build_snapshot(repo, git=False)
    alice = snap.caller(f"arn:aws:iam::{ACCT}:user/alice")
    bob = snap.caller(f"arn:aws:iam::{ACCT}:user/contractors/bob")
    carol = snap.caller(f"arn:aws:iam::{ACCT}:user/carol")
    obj = "arn:aws:s3:::bucket/key"
    queue = f"arn:aws:sqs:us-east-1:{ACCT}:jobs"
    # group-attached AWS managed policy
    assert authorize(snap, bob, "s3:GetObject", obj).allowed
    assert authorize(snap, bob, "ec2:DescribeInstances", "*").allowed
    assert not authorize(snap, bob, "s3:PutObject", obj).allowed  # implicit deny
    # customer managed default version (s3:*), the non-default v3 (`*`) ignored
    assert authorize(snap, alice, "s3:PutObject", obj).allowed
    assert not authorize(snap, alice, "iam:CreateUser", "*").allowed
    # explicit deny in a group inline policy beats every allow
    assert not authorize(snap, alice, "s3:DeleteObject", obj).allowed
    # aws:PrincipalTag from the imported tags
    assert authorize(snap, alice, "sqs:SendMessage", queue).allowed
    assert not authorize(snap, bob, "sqs:SendMessage", queue).allowed
    assert authorize(snap, carol, "s3:ListBucket", "arn:aws:s3:::bucket").allowed
    assert not authorize(snap, carol, "ec2:DescribeInstances", "*").allowed
    # role: identity ∩ boundary; the session carries the role's policies
    etl = snap.caller(f"arn:aws:sts::{ACCT}:assumed-role/etl/job-1")
    assert authorize(snap, etl, "s3:GetObject", obj).allowed
    assert not authorize(snap, etl, "s3:PutObject", obj).allowed  # outside the boundary
    assert authorize(snap, etl, "sqs:ReceiveMessage", queue).allowed
    assert not authorize(snap, etl, "ec2:DescribeInstances", "*").allowed  # not in identity
    # a trust policy naming the account root delegates to the account's identity policies:
    # without an identity allow for sts:AssumeRole, alice may not assume the role
    decision = authorize(snap, alice, "sts:AssumeRole", f"arn:aws:iam::{ACCT}:role/etl")
    assert not decision.allowed and decision.failing_layer is not None
    assert decision.failing_layer.value == "identity"


def test_max_session_duration_comes_from_list_roles(repo: Path) -> None:
    snap = build_snapshot(repo, git=False)
    etl = snap.repository.role_by_name(ACCT, "etl")
    assert etl is not None and etl.max_session_duration == 7200
    assert session_duration(7200, etl.max_session_duration, False, TtlPolicy()).seconds == 7200
    auditor = snap.repository.role_by_name(ACCT, "auditor")
    assert auditor is not None and auditor.max_session_duration == 3600
    with pytest.raises(ValidationError, match="exceeds the MaxSessionDuration"):
        session_duration(7200, auditor.max_session_duration, False, TtlPolicy())


def test_without_roles_input_each_role_is_named(dumps: dict[str, Any], tmp_path: Path) -> None:
    summary = import_authorization_details(dumps["details"], ACCT, tmp_path, dry_run=True)
    notes = "\n".join(summary.notices)
    assert "role `etl`" in notes and "role `auditor`" in notes and "3600 s" in notes
    from_get_role = role_durations(dumps["get_role"])
    assert from_get_role == {"etl": 7200}
    summary = import_authorization_details(
        dumps["details"], ACCT, tmp_path, from_get_role, dry_run=True
    )
    assert [n for n in summary.notices if "`etl`" in n] == []
    assert [n for n in summary.notices if "`auditor`" in n] != []


def test_reimport_after_deletions_removes_them(
    dumps: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import_authorization_details(dumps["details"], ACCT, tmp_path, role_durations(dumps["roles"]))
    bob = tmp_path / f"accounts/{ACCT}/users/bob.json"
    etl = tmp_path / f"accounts/{ACCT}/roles/etl.json"
    assert bob.is_file() and etl.is_file()
    after = tmp_path / "after.json"
    after.write_text(json.dumps(dumps["after"]))
    args = ["import", "--authorization-details", str(after), "--account", ACCT]
    assert main([*args, "--out", str(tmp_path), "--dry-run"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["DryRun"] is True
    assert sorted(plan["Removed"]) == [
        f"accounts/{ACCT}/roles/etl.json",
        f"accounts/{ACCT}/users/bob.json",
    ]
    assert bob.is_file() and etl.is_file()  # the dry run wrote nothing
    assert main([*args, "--out", str(tmp_path)]) == 0
    done = capsys.readouterr()
    summary = json.loads(done.out)
    assert summary["Removed"] == plan["Removed"] and summary["DryRun"] is False
    assert "0 changed, 2 removed" in done.err  # auditor keeps its recorded 3600 s
    assert not bob.exists() and not etl.exists()
    assert (tmp_path / "aws-managed/ReadOnlyAccess.json").is_file()  # shared, kept
    assert "auditor" not in done.err  # its duration came from the earlier import
    snap = build_snapshot(tmp_path, git=False)
    with pytest.raises(Exception, match="bob"):
        snap.caller(f"arn:aws:iam::{ACCT}:user/contractors/bob")
    alice = snap.caller(f"arn:aws:iam::{ACCT}:user/alice")
    assert authorize(snap, alice, "s3:PutObject", "arn:aws:s3:::b/k").allowed


def test_paginated_and_url_encoded_dumps_import_the_same(
    dumps: dict[str, Any], tmp_path: Path
) -> None:
    details = dumps["details"]
    policies = details["Policies"]
    encoded = json.loads(json.dumps(details))
    for role in encoded["RoleDetailList"]:  # the raw API URL-encodes every document
        role["AssumeRolePolicyDocument"] = quote(json.dumps(role["AssumeRolePolicyDocument"]))
    for policy in encoded["Policies"]:
        for version in policy["PolicyVersionList"]:
            version["Document"] = quote(json.dumps(version["Document"]))
    pages = [
        {**{k: v for k, v in encoded.items() if k != "Policies"}, "IsTruncated": True},
        {"Policies": encoded["Policies"][: len(policies) // 2], "IsTruncated": True},
        {"Policies": encoded["Policies"][len(policies) // 2 :], "IsTruncated": False},
    ]
    plain, paged = tmp_path / "plain", tmp_path / "paged"
    import_authorization_details(details, ACCT, plain)
    import_authorization_details(pages, ACCT, paged)
    files = sorted(p.relative_to(plain) for p in plain.rglob("*.json"))
    assert files == sorted(p.relative_to(paged) for p in paged.rglob("*.json"))
    for rel in files:
        assert json.loads((plain / rel).read_text()) == json.loads((paged / rel).read_text())
