"""AWS managed policies are AWS's: resource types we do not know are accepted, and a problem in
one that nothing attaches is a warning, not a repository failure."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from authz.cli import main
from authz.engine.snapshot import build_snapshot
from authz.repo import check_repository
from authz.repo.importer import convert

ACCT = "123456789012"
TEMPLATE = "arn:aws:iam::aws:role-template/AWSObservabilityAdminTelemetryEnablement"
BROKEN = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*"}]}


def _write(root: Path, rel: str, doc: dict[str, Any]) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))


def _statement(resource: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iam:CreateRole", "Resource": resource}],
    }


def test_unknown_iam_resource_type_is_accepted_in_aws_managed_only(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "aws-managed/Telemetry.json",
        {"PolicyName": "Telemetry", "Arn": "arn:aws:iam::aws:policy/Telemetry",
         "Document": _statement(TEMPLATE)},
    )  # fmt: skip
    result = check_repository(tmp_path)
    assert result.problems == [] and result.warnings == []
    _write(
        tmp_path,
        f"accounts/{ACCT}/policies/Mine.json",
        {"PolicyName": "Mine", "Document": _statement(f"arn:aws:iam::{ACCT}:role-template/x")},
    )
    problems = check_repository(tmp_path).problems
    assert [p.file for p in problems] == [f"accounts/{ACCT}/policies/Mine.json"]
    assert "IAM resource path must either be" in problems[0].message


def test_unattached_broken_aws_policy_is_a_warning(tmp_path: Path) -> None:
    broken = {"PolicyName": "Broken", "Arn": "arn:aws:iam::aws:policy/Broken", "Document": BROKEN}
    _write(tmp_path, "aws-managed/Broken.json", broken)
    _write(tmp_path, f"accounts/{ACCT}/users/alice.json", {"UserName": "alice"})
    result = check_repository(tmp_path)
    assert result.problems == []
    assert [(w.file, w.code) for w in result.warnings] == [
        ("aws-managed/Broken.json", "MalformedPolicyDocument")
    ]
    build_snapshot(tmp_path, git=False)  # serves
    assert main(["validate", "--repo", str(tmp_path)]) == 0


def test_attached_broken_aws_policy_is_a_problem(tmp_path: Path) -> None:
    broken = {"PolicyName": "Broken", "Arn": "arn:aws:iam::aws:policy/Broken", "Document": BROKEN}
    _write(tmp_path, "aws-managed/Broken.json", broken)
    user = {"UserName": "alice", "AttachedManagedPolicies": [{"PolicyArn": broken["Arn"]}]}
    _write(tmp_path, f"accounts/{ACCT}/users/alice.json", user)
    result = check_repository(tmp_path)
    codes = sorted((p.file, p.code) for p in result.problems)
    assert ("aws-managed/Broken.json", "MalformedPolicyDocument") in codes
    assert result.warnings == []
    assert main(["validate", "--repo", str(tmp_path)]) == 1


def test_duplicate_aws_policy_is_still_a_problem(tmp_path: Path) -> None:
    doc = {"PolicyName": "A", "Arn": "arn:aws:iam::aws:policy/A", "Document": _statement("*")}
    _write(tmp_path, "aws-managed/A.json", doc)
    _write(tmp_path, "aws-managed/B.json", doc)
    assert [p.code for p in check_repository(tmp_path).problems] == ["EntityAlreadyExists"]


def test_policy_name_is_taken_from_the_arn() -> None:
    version = {"IsDefaultVersion": True, "Document": _statement("*")}
    data = {
        "Policies": [
            {"Arn": f"arn:aws:iam::{ACCT}:policy/team/Writer", "PolicyVersionList": [version]},
            {
                "Arn": "arn:aws:iam::aws:policy/job-function/ViewOnly",
                "PolicyVersionList": [version],
            },
        ]
    }
    files = convert(data, ACCT)
    writer = files[f"accounts/{ACCT}/policies/Writer.json"]
    assert writer["PolicyName"] == "Writer" and writer["Path"] == "/team/"
    assert files["aws-managed/ViewOnly.json"]["PolicyName"] == "ViewOnly"


def test_the_whole_aws_managed_corpus_is_a_valid_repository(tmp_path: Path) -> None:
    from tests.cases.loader import MANAGED_POLICIES

    shutil.copytree(MANAGED_POLICIES, tmp_path / "aws-managed")
    result = check_repository(tmp_path)
    assert len(list((tmp_path / "aws-managed").glob("*.json"))) > 1000
    assert (result.problems, result.warnings) == ([], [])
