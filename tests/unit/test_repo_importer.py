"""Import of ``aws iam get-account-authorization-details`` output into repository files."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest

from authz.cli import main
from authz.engine.snapshot import authorize, build_snapshot
from authz.errors import ValidationError
from authz.repo import check_repository
from authz.repo.importer import convert, decode_document, import_authorization_details

FIXTURE = Path(__file__).parent / "fixtures" / "authorization-details.json"
ACCT = "123456789012"
DOC = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
}


def test_documents_plain_encoded_or_objects() -> None:
    text = json.dumps(DOC)
    encoded = quote(text, safe="")
    assert decode_document(DOC, "x") == decode_document(text, "x") == decode_document(encoded, "x")
    assert decode_document(text.replace(" ", "+"), "x") == DOC  # form-encoded spaces
    with pytest.raises(ValidationError, match="neither JSON nor URL-encoded"):
        decode_document("%7Bnot json", "Policies[0]")


def test_import_writes_a_valid_repository(tmp_path: Path) -> None:
    summary = import_authorization_details(json.loads(FIXTURE.read_text()), ACCT, tmp_path)
    assert summary.counts == {"users": 2, "groups": 1, "roles": 2, "policies": 2, "aws-managed": 1}
    assert check_repository(tmp_path).problems == []
    role = json.loads((tmp_path / f"accounts/{ACCT}/roles/app-server.json").read_text())
    assert role["Path"] == "/service-role/" and role["RoleId"] == "AROAI4QRP7UFT7EXAMPLE"
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "ec2.amazonaws.com"
    }
    assert "RoleLastUsed" not in role and "InstanceProfileList" not in role
    policy = json.loads((tmp_path / f"accounts/{ACCT}/policies/AppLogsWriter.json").read_text())
    assert policy["Document"]["Statement"][0]["Sid"] == "WriteAppLogs"  # the default version
    assert (tmp_path / "aws-managed/AmazonS3ReadOnlyAccess.json").is_file()


def test_imported_repository_decides(tmp_path: Path) -> None:
    import_authorization_details(json.loads(FIXTURE.read_text()), ACCT, tmp_path)
    snap = build_snapshot(tmp_path, git=False)
    alice = snap.caller(f"arn:aws:iam::{ACCT}:user/alice")
    assert alice.unique_id == "AIDAJQABLZS4A3QDU576Q"
    admin = f"arn:aws:iam::{ACCT}:role/admin"
    mfa = {"aws:MultiFactorAuthPresent": "true"}
    assert authorize(snap, alice, "sts:AssumeRole", admin, mfa).allowed
    assert not authorize(snap, alice, "sts:AssumeRole", admin, {}).allowed
    mine = f"arn:aws:iam::{ACCT}:user/alice"
    assert authorize(
        snap, alice, "iam:EnableMFADevice", mine
    ).allowed  # group inline, ${aws:username}
    bruno = snap.caller(f"arn:aws:iam::{ACCT}:user/contractors/bruno")
    assert authorize(snap, bruno, "s3:GetObject", "arn:aws:s3:::any/key").allowed
    assert not authorize(snap, bruno, "iam:EnableMFADevice", mine).allowed
    session = snap.caller(f"arn:aws:sts::{ACCT}:assumed-role/app-server/i-0abc")
    assert authorize(snap, session, "s3:GetObject", "arn:aws:s3:::app-config/db.json").allowed
    log = f"arn:aws:logs:us-east-1:{ACCT}:log-group:/app/web"
    assert authorize(snap, session, "logs:PutLogEvents", log).allowed


def test_paginated_input_is_merged() -> None:
    data = json.loads(FIXTURE.read_text())
    pages = [
        {"UserDetailList": data["UserDetailList"], "IsTruncated": True, "Marker": "m"},
        {k: v for k, v in data.items() if k != "UserDetailList"},
    ]
    assert convert(pages, ACCT) == convert(data, ACCT)


@pytest.mark.parametrize(
    ("data", "account", "message"),
    [
        ({}, "12345", "must be 12 digits"),
        ({"UserDetailList": [{"UserName": "a b"}]}, ACCT, "not a valid IAM name"),
        (
            {"UserDetailList": [{"UserName": "a", "Arn": "arn:aws:iam::999999999999:user/a"}]},
            ACCT,
            "is not in account",
        ),
        ({"Policies": [{"PolicyName": "p", "PolicyVersionList": []}]}, ACCT, "no default version"),
        ({"RoleDetailList": "x"}, ACCT, "must be a list"),
    ],
)
def test_bad_input_is_rejected(data: object, account: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        convert(data, account)


def test_import_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "repo"
    args = ["import", "--authorization-details", str(FIXTURE), "--account", ACCT, "--out", str(out)]
    assert main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert f"accounts/{ACCT}/users/alice.json" in printed["Files"]
    assert main(["validate", "--repo", str(out)]) == 0
    assert main([*args[:3], "--account", "nope", "--out", str(out)]) == 2
    assert "ValidationError" in capsys.readouterr().err
    missing = [
        "import",
        "--authorization-details",
        str(tmp_path / "none.json"),
        "--account",
        ACCT,
        "--out",
        str(out),
    ]
    assert main(missing) == 2
