"""The repository loader and validator: the example repository, a deliberately broken copy of it
(every planted problem reported, sorted, with file + JSON path + code), YAML spelling, unique
ids, unreadable files and directories."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from authz.cli import main
from authz.errors import RepositoryError
from authz.repo import check_repository, derive_unique_id, load_repository
from authz.repo.entities import iam_arn

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policies"
A1, A2 = "111122223333", "444455556666"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target)
    return target


def edit(path: Path, change: Any) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc, indent=2))


def test_example_repository_is_valid() -> None:
    result = check_repository(POLICIES)
    assert result.problems == []
    assert result.repository is not None
    counts = result.repository.counts
    assert counts["accounts"] == 2 and counts["users"] == 3 and counts["roles"] == 6
    assert counts["scps"] == 3
    assert len(result.repository.tests) >= 10


def plant_problems(repo: Path) -> set[tuple[str, str, str]]:
    """Break the copy in many ways; return the (file, path, code) each must produce."""
    acct1, acct2 = repo / "accounts" / A1, repo / "accounts" / A2
    (acct1 / "users" / "Carol.json").write_text('{"UserName": "Carol", "GroupList": [')
    edit(
        acct2 / "roles" / "foo.json",
        lambda d: d["AttachedManagedPolicies"][0].update(
            PolicyArn=d["AttachedManagedPolicies"][0]["PolicyArn"] + "X"
        ),
    )
    edit(acct1 / "users" / "Bob.json", lambda d: d.update(GroupList=["nobody"]))
    edit(
        acct2 / "roles" / "ci-deployer.json",
        lambda d: d["PermissionsBoundary"].update(
            PermissionsBoundaryArn=f"arn:aws:iam::{A2}:policy/Gone"
        ),
    )
    edit(
        repo / "organization.json",
        lambda d: d["Root"]["Children"][0].update(PolicyIds=["p-missing"]),
    )
    (acct1 / "users" / "bob.yaml").write_text("UserName: bob\n")
    (repo / "accounts" / "12345").mkdir()
    edit(acct1 / "roles" / "auditor.json", lambda d: d.update(MaxSessionDuration=100000))
    edit(
        acct2 / "roles" / "reports-audit.json",
        lambda d: d["AssumeRolePolicyDocument"]["Statement"][0].update(Resource="*"),
    )
    big = [{"Effect": "Allow", "Action": f"s3:Get{i:04d}", "Resource": "*"} for i in range(200)]
    edit(
        acct2 / "policies" / "ReportsReadOnly.json",
        lambda d: d["Document"]["Statement"].extend(big),
    )
    edit(
        acct2 / "roles" / "ci-deployer.json",
        lambda d: d["RolePolicyList"][0]["PolicyDocument"]["Statement"][0].update(Effect="allow"),
    )
    edit(acct1 / "groups" / "developers.json", lambda d: d.update(AttachedManagedPolicy=[]))
    (repo / "tests" / "broken.yaml").write_text(
        "tests:\n  - name: x\n    principal: p\n    action: a\n    resource: r\n    expect: Maybe\n"
    )
    u, r = f"accounts/{A1}/users", f"accounts/{A2}/roles"
    return {
        (f"{u}/Carol.json", "$", "invalid_json"),
        (f"{r}/foo.json", "$.AttachedManagedPolicies[0].PolicyArn", "NoSuchEntity"),
        (f"{u}/Bob.json", "$.GroupList[0]", "NoSuchEntity"),
        (f"{r}/ci-deployer.json", "$.PermissionsBoundary.PermissionsBoundaryArn", "NoSuchEntity"),
        ("organization.json", "$.Root.Children[0].PolicyIds[0]", "NoSuchEntity"),
        (f"{u}/bob.yaml", "$", "EntityAlreadyExists"),
        ("accounts/12345/", "", "ValidationError"),
        (f"accounts/{A1}/roles/auditor.json", "$.MaxSessionDuration", "ValidationError"),
        (
            f"{r}/reports-audit.json",
            "$.AssumeRolePolicyDocument.Statement[0].Resource",
            "MalformedPolicyDocument",
        ),
        (f"accounts/{A2}/policies/ReportsReadOnly.json", "$.Document", "LimitExceeded"),
        (
            f"{r}/ci-deployer.json",
            "$.RolePolicyList[0].PolicyDocument.Statement[0].Effect",
            "MalformedPolicyDocument",
        ),
        (f"accounts/{A1}/groups/developers.json", "$.AttachedManagedPolicy", "unknown_field"),
        ("tests/broken.yaml", "$.tests[0].expect", "invalid_field"),
    }


def test_validate_lists_every_planted_problem(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    planted = plant_problems(repo)
    assert main(["validate", "--repo", str(repo), "--json"]) == 1
    problems = json.loads(capsys.readouterr().out)["Problems"]
    found = {(p["File"], p["Path"], p["Code"]) for p in problems}
    assert planted <= found, planted - found
    keys = [(p["File"], p["Path"], p["Code"], p["Message"]) for p in problems]
    assert keys == sorted(keys)
    assert all(p["Message"] for p in problems)


def test_validate_text_output_and_messages(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plant_problems(repo)
    assert main(["validate", "--repo", str(repo)]) == 1
    out = capsys.readouterr().out
    assert (
        f"accounts/{A1}/users/Bob.json:$.GroupList[0]: NoSuchEntity: group `nobody` not found"
        in out
    )
    assert "statement `TrustCarol`: Has prohibited field Resource." in out
    assert "Cannot exceed quota for PolicySize: 6144" in out
    assert "account id `12345` must be 12 digits" in out
    assert out.strip().endswith("problem(s)")
    with pytest.raises(RepositoryError) as err:
        load_repository(repo)
    assert len(err.value.problems) >= 13


def test_validate_clean_repo_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--repo", str(POLICIES)]) == 0
    assert "repository is valid" in capsys.readouterr().out


def test_yaml_is_an_alternative_spelling(repo: Path) -> None:
    roles = repo / "accounts" / A2 / "roles"
    before = load_repository(repo).roles_by_arn[f"arn:aws:iam::{A2}:role/foo"]
    (roles / "foo.json").unlink()
    (roles / "foo.yaml").write_text(
        "RoleName: foo\nMaxSessionDuration: 7200\nAssumeRolePolicyDocument:\n"
        "  Version: 2012-10-17\n  Statement:\n    - Sid: TrustBob\n      Effect: Allow\n"
        f"      Principal: {{AWS: 'arn:aws:iam::{A1}:user/Bob'}}\n"
        "      Action: [sts:AssumeRole, sts:TagSession]\n"
        "AttachedManagedPolicies:\n"
        "  - PolicyName: ReportsReadOnly\n"
        f"    PolicyArn: 'arn:aws:iam::{A2}:policy/ReportsReadOnly'\n"
        "Tags: {team: reports}\n"
    )
    after = load_repository(repo).roles_by_arn[f"arn:aws:iam::{A2}:role/foo"]
    assert after.trust_policy.digest == before.trust_policy.digest
    assert after.trust_policy.version == "2012-10-17"
    assert after.tags == {"team": "reports"} and after.max_session_duration == 7200


def test_invalid_yaml_is_reported(repo: Path) -> None:
    (repo / "accounts" / A1 / "users" / "Dan.yaml").write_text("UserName: [Dan\n")
    problems = check_repository(repo).problems
    assert [(p.file, p.code) for p in problems] == [
        (f"accounts/{A1}/users/Dan.yaml", "invalid_yaml")
    ]


def test_duplicate_json_keys_are_reported(repo: Path) -> None:
    (repo / "accounts" / A1 / "users" / "Dan.json").write_text(
        '{"UserName": "Dan", "UserName": "D"}'
    )
    problems = check_repository(repo).problems
    assert [(p.code, p.message) for p in problems] == [("invalid_json", "duplicate key `UserName`")]


def test_duplicate_yaml_keys_are_reported(repo: Path) -> None:
    (repo / "accounts" / A1 / "users" / "Dan.yaml").write_text("UserName: Dan\nUserName: D\n")
    problems = check_repository(repo).problems
    assert [(p.file, p.code) for p in problems] == [
        (f"accounts/{A1}/users/Dan.yaml", "invalid_yaml")
    ]
    assert "duplicate key `UserName` at line 2" in problems[0].message


def test_unique_ids_are_derived_deterministically() -> None:
    arn = iam_arn(A1, "user", "/", "Bob")
    uid = derive_unique_id("user", arn)
    assert uid == derive_unique_id("user", arn) and len(uid) == 21 and uid.startswith("AIDA")
    assert uid.isalnum() and uid.isupper()
    assert derive_unique_id("role", arn).startswith("AROA")
    repository = load_repository(POLICIES)
    assert repository.users_by_arn[arn].unique_id == uid
    role = repository.roles_by_arn[f"arn:aws:iam::{A2}:role/foo"]
    assert repository.by_unique_id[role.unique_id] is role


def test_explicit_unique_id_is_kept(repo: Path) -> None:
    edit(
        repo / "accounts" / A1 / "users" / "Bob.json",
        lambda d: d.update(UserId="AIDAEXAMPLEBOB1234567"),
    )
    repository = load_repository(repo)
    assert (
        repository.users_by_arn[f"arn:aws:iam::{A1}:user/Bob"].unique_id == "AIDAEXAMPLEBOB1234567"
    )


def test_revocation_fields_are_loaded() -> None:
    role = load_repository(POLICIES).roles_by_arn[
        f"arn:aws:iam::{A2}:role/service-role/ci-deployer"
    ]
    assert role.revoke_sessions_issued_before == datetime(2024, 1, 1, tzinfo=UTC)
    assert role.revoked_session_ids == frozenset()


def test_bad_revocation_time_is_reported(repo: Path) -> None:
    edit(
        repo / "accounts" / A2 / "roles" / "foo.json",
        lambda d: d.update(RevokeSessionsIssuedBefore="yesterday", RevokedSessionIds=["s-1"]),
    )
    problems = check_repository(repo).problems
    assert [(p.path, p.code) for p in problems] == [
        ("$.RevokeSessionsIssuedBefore", "ValidationError")
    ]


def test_scp_levels_follow_the_ou_path() -> None:
    org = load_repository(POLICIES).organization
    assert org is not None
    levels = org.scp_levels(A2)
    assert [[p.name for p in level] for level in levels] == [
        ["scp/FullAWSAccess", "scp/DenyLeavingTheOrganization"],
        ["scp/FullAWSAccess", "scp/DenyBucketDeletion"],
    ]
    assert org.scp_levels("999988887777") == ()  # management account: SCPs do not apply
    assert org.scp_levels("000000000000") == ()  # not in the organization


def test_unreadable_directory_is_reported(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = repo / "accounts" / A2 / "roles"
    original = os.scandir

    def scandir(path: Any) -> Any:
        if Path(path).resolve() == target.resolve():
            raise PermissionError(13, "Permission denied")
        return original(path)

    monkeypatch.setattr(os, "scandir", scandir)
    problems = check_repository(repo).problems
    assert (f"accounts/{A2}/roles/", "unreadable_directory") in {(p.file, p.code) for p in problems}
    assert any("permission denied" in p.message for p in problems)


def test_unreadable_file_is_reported(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = repo / "organization.json"
    original = os.open

    def os_open(path: Any, flags: int, *args: Any) -> int:
        if Path(path) == target:
            raise PermissionError(13, "Permission denied")
        return original(path, flags, *args)

    monkeypatch.setattr("authz.repo.layout.os.open", os_open)
    problems = check_repository(repo).problems
    assert [(p.file, p.code) for p in problems] == [("organization.json", "unreadable_file")]


def test_missing_repository_is_a_problem(tmp_path: Path) -> None:
    problems = check_repository(tmp_path / "nope").problems
    assert [p.code for p in problems] == ["unreadable_directory"]


def test_unknown_directories_are_reported(repo: Path) -> None:
    (repo / "acounts").mkdir()
    (repo / "accounts" / A1 / "role").mkdir()
    found = {(p.file, p.code) for p in check_repository(repo).problems}
    assert found == {("acounts/", "unknown_entry"), (f"accounts/{A1}/role", "unknown_entry")}


def test_quota_problems_carry_the_path(repo: Path) -> None:
    edit(
        repo / "accounts" / A1 / "users" / "Bob.json",
        lambda d: d.update(Tags=[{"Key": "k" * 129, "Value": "v"}], Path="no-slash"),
    )
    found = {(p.path, p.code) for p in check_repository(repo).problems}
    assert found == {("$.Tags[0].Key", "ValidationError"), ("$.Path", "ValidationError")}
