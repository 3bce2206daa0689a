"""Snapshots: revision (content hash + git), principal resolution and layers, decisions stamped
with the revision, the shared partition cache, and SimulatePrincipalPolicy."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from authz.cli import main
from authz.engine.principal import principal_facts
from authz.engine.simulate import simulate_principal_policy
from authz.engine.snapshot import Snapshot, authorize, build_snapshot, git_commit
from authz.errors import MalformedPolicyDocument, NoSuchEntity, ValidationError
from authz.iam.model import CallerKind

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policies"
A1, A2 = "111122223333", "444455556666"
BOB = f"arn:aws:iam::{A1}:user/Bob"
FOO = f"arn:aws:iam::{A2}:role/foo"
FOO_SESSION = f"arn:aws:sts::{A2}:assumed-role/foo/Bob"
OBJECT = "arn:aws:s3:::example-reports/2024/q1.csv"
TLS = {"aws:SecureTransport": "true"}


@pytest.fixture(scope="module")
def snapshot() -> Snapshot:
    return build_snapshot(POLICIES, git=False)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target)
    return target


def test_revision_is_a_content_hash(repo: Path) -> None:
    first = build_snapshot(repo, git=False)
    assert first.revision == build_snapshot(repo, git=False).revision
    assert len(first.revision) == 16 and first.revision == first.content_hash[:16]
    (repo / "accounts" / A1 / "users" / "Carol.json").write_text('{"UserName": "Carol"}')
    assert build_snapshot(repo, git=False).revision != first.revision


def test_revision_includes_the_git_commit(repo: Path) -> None:
    assert git_commit(repo) is None or git_commit(repo)  # tmp dirs are usually not checkouts
    run = ["git", "-C", str(repo), "-c", "user.email=t@e", "-c", "user.name=t"]
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    subprocess.run([*run[:3], "init", "-q"], check=True)
    subprocess.run([*run, "add", "-A"], check=True)
    subprocess.run([*run, "commit", "-qm", "x"], check=True)
    commit = git_commit(repo)
    assert commit is not None and len(commit) == 40
    snap = build_snapshot(repo)
    assert snap.revision == f"{snap.content_hash[:16]}+g{commit[:12]}"
    assert snap.git_commit == commit


def test_no_git_is_tolerated(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert git_commit(repo) is None
    assert "+g" not in build_snapshot(repo).revision


def test_decisions_carry_the_revision(snapshot: Snapshot) -> None:
    decision = authorize(snapshot, snapshot.caller(BOB), "sts:AssumeRole", FOO)
    assert decision.allowed and decision.revision == snapshot.revision
    session = snapshot.caller(FOO_SESSION)
    read = authorize(snapshot, session, "s3:GetObject", OBJECT, TLS)
    assert read.allowed and read.revision == snapshot.revision
    assert read.matched[0].source == f"accounts/{A2}/policies/ReportsReadOnly.json"


def test_callers_resolve_against_the_repository(snapshot: Snapshot) -> None:
    session = snapshot.caller(FOO_SESSION)
    assert session.kind is CallerKind.ASSUMED_ROLE and session.role_arn == FOO
    role = snapshot.repository.roles_by_arn[FOO]
    assert session.unique_id == f"{role.unique_id}:Bob"
    assert snapshot.caller(A1).kind is CallerKind.ROOT
    assert snapshot.caller("ci.internal").kind is CallerKind.SERVICE
    assert snapshot.caller("").kind is CallerKind.ANONYMOUS
    external = snapshot.caller("arn:aws:iam::999999999999:user/Eve")
    assert external.kind is CallerKind.USER and external.unique_id is None
    with pytest.raises(NoSuchEntity):
        snapshot.caller(f"arn:aws:iam::{A1}:user/bob")  # ARNs are case-sensitive
    with pytest.raises(NoSuchEntity):
        snapshot.caller(f"arn:aws:sts::{A2}:assumed-role/nope/s")
    with pytest.raises(ValidationError):
        snapshot.caller("arn:aws:s3:::bucket")


def test_user_layers_include_groups_and_boundary(snapshot: Snapshot) -> None:
    layers, trust = snapshot.layers(snapshot.caller(BOB), "s3:GetObject", "arn:aws:s3:::x/y")
    names = [p.name for p in layers.identity]
    assert names == [
        f"{A1}:user/Bob/inline/AssumeReportRoles",
        f"{A1}:group/developers/inline/DenyIamWrites",
        "arn:aws:iam::aws:policy/IAMUserChangePassword",
        "arn:aws:iam::aws:policy/IAMReadOnlyAccess",
    ]
    assert layers.boundary is not None and layers.boundary.name.endswith("DeveloperBoundary")
    assert layers.resource is None and not trust
    assert len(layers.scp) == 2


def test_assume_role_uses_the_trust_policy(snapshot: Snapshot) -> None:
    layers, trust = snapshot.layers(snapshot.caller(BOB), "sts:AssumeRole", FOO)
    assert trust and layers.resource is not None
    assert layers.resource.name == f"{A2}:role/foo/trust"
    layers, trust = snapshot.layers(snapshot.caller(BOB), "s3:GetObject", OBJECT)
    assert not trust and layers.resource is not None  # the bucket policy covers its objects
    assert layers.resource.name == "arn:aws:s3:::example-reports"


def test_principal_facts(snapshot: Snapshot) -> None:
    facts = principal_facts(snapshot.repository, snapshot.caller(FOO_SESSION), {"team": "x"})
    assert facts == {
        "aws:PrincipalOrgID": "o-exampleorg1",
        "aws:PrincipalTag/team": "x",
        "aws:PrincipalIsAWSService": "false",
    }
    facts = principal_facts(snapshot.repository, snapshot.caller(BOB))
    assert facts["aws:PrincipalTag/team"] == "reports"
    assert principal_facts(snapshot.repository, snapshot.caller("ci.internal")) == {
        "aws:PrincipalType": "AWSService",
        "aws:PrincipalIsAWSService": "true",
        "aws:PrincipalServiceName": "ci.internal",
    }


def test_request_context_cannot_override_principal_keys(snapshot: Snapshot) -> None:
    carol = snapshot.caller(f"arn:aws:iam::{A1}:user/Carol")
    spoof = {"aws:username": "Bob", "aws:PrincipalTag/team": "reports"}
    decision = authorize(snapshot, carol, "iam:ChangePassword", BOB, spoof)
    assert not decision.allowed


def test_partitions_are_shared_between_identical_attachments(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    shutil.copytree(POLICIES, repo)
    roles = repo / "accounts" / A2 / "roles"
    doc = json.loads((roles / "foo.json").read_text())
    for name in ("foo2", "foo3"):
        (roles / f"{name}.json").write_text(json.dumps({**doc, "RoleName": name}))
    snap = build_snapshot(repo, git=False)
    for name in ("foo", "foo2", "foo3"):
        caller = snap.caller(f"arn:aws:sts::{A2}:assumed-role/{name}/s")
        assert authorize(snap, caller, "s3:GetObject", OBJECT, TLS).allowed
    stats = snap.cache_stats()
    first_misses = stats["partition_misses"]
    assert first_misses > 0 and stats["partition_hits"] >= 2 * first_misses  # reuse foo's
    caller = snap.caller(f"arn:aws:sts::{A2}:assumed-role/foo3/other")
    authorize(snap, caller, "s3:GetObject", OBJECT, TLS)
    assert snap.cache_stats()["partition_misses"] == first_misses


def test_status_reports_counts_and_cache(snapshot: Snapshot) -> None:
    status = snapshot.status()
    assert status["revision"] == snapshot.revision
    assert status["counts"]["roles"] == 6  # type: ignore[index]
    expected = {f"{c}_{s}" for c in ("partition", "decision") for s in ("hits", "misses", "size")}
    assert set(status["cache"]) >= expected  # type: ignore[arg-type]


# -- SimulatePrincipalPolicy ------------------------------------------------------------------


def simulate_request(**extra: object) -> dict[str, object]:
    return {
        "PolicySourceArn": FOO,
        "ActionNames": ["s3:GetObject", "s3:DeleteObject", "s3:DeleteBucket"],
        "ResourceArns": [OBJECT],
        "ContextEntries": [
            {
                "ContextKeyName": "aws:SecureTransport",
                "ContextKeyValues": ["true"],
                "ContextKeyType": "boolean",
            }
        ],
        **extra,
    }


def test_simulate_principal_policy_shape(snapshot: Snapshot) -> None:
    response = simulate_principal_policy(snapshot, simulate_request())
    assert response["IsTruncated"] is False
    results = {r["EvalActionName"]: r for r in response["EvaluationResults"]}
    get = results["s3:GetObject"]
    assert get["EvalDecision"] == "allowed" and get["EvalResourceName"] == OBJECT
    assert get["MatchedStatements"][0]["SourcePolicyType"] == "user-managed"
    assert get["MatchedStatements"][0]["Sid"] == "ReadReports"
    assert get["OrganizationsDecisionDetail"] == {"AllowedByOrganizations": True}
    assert get["Revision"] == snapshot.revision
    assert results["s3:DeleteObject"]["EvalDecision"] == "implicitDeny"
    deleted = results["s3:DeleteBucket"]
    assert deleted["EvalDecision"] == "explicitDeny"
    assert deleted["OrganizationsDecisionDetail"] == {"AllowedByOrganizations": False}


def test_simulate_applies_boundaries_and_resource_policy_override(snapshot: Snapshot) -> None:
    ci = f"arn:aws:iam::{A2}:role/service-role/ci-deployer"
    request = simulate_request(
        PolicySourceArn=ci,
        ActionNames=["s3:DeleteObject"],
        ResourceArns=["arn:aws:s3:::example-reports/builds/1"],
    )
    result = simulate_principal_policy(snapshot, request)["EvaluationResults"][0]
    assert result["EvalDecision"] == "implicitDeny"
    assert result["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": False}
    deny_all = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*"}],
    }
    request = simulate_request(ActionNames=["s3:GetObject"], ResourcePolicy=json.dumps(deny_all))
    result = simulate_principal_policy(snapshot, request)["EvaluationResults"][0]
    assert result["EvalDecision"] == "explicitDeny" and result["FailingLayer"] == "resource"


def test_simulate_policy_input_list_adds_identity_policies(snapshot: Snapshot) -> None:
    extra = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:DeleteObject", "Resource": "*"}],
    }
    request = simulate_request(ActionNames=["s3:DeleteObject"], PolicyInputList=[json.dumps(extra)])
    result = simulate_principal_policy(snapshot, request)["EvaluationResults"][0]
    assert result["EvalDecision"] == "allowed"


def test_simulate_assume_role_uses_trust(snapshot: Snapshot) -> None:
    request = {"PolicySourceArn": BOB, "ActionNames": ["sts:AssumeRole"], "ResourceArns": [FOO]}
    result = simulate_principal_policy(snapshot, request)["EvaluationResults"][0]
    assert result["EvalDecision"] == "allowed"


@pytest.mark.parametrize(
    ("request_doc", "error"),
    [
        ({"ActionNames": ["s3:GetObject"]}, ValidationError),
        ({"PolicySourceArn": FOO, "ActionNames": []}, ValidationError),
        (
            {"PolicySourceArn": f"arn:aws:iam::{A2}:role/missing", "ActionNames": ["a:b"]},
            NoSuchEntity,
        ),
        (
            {"PolicySourceArn": FOO, "ActionNames": ["a:b"], "ResourcePolicy": "{"},
            MalformedPolicyDocument,
        ),
        (
            {
                "PolicySourceArn": FOO,
                "ActionNames": ["a:b"],
                "ContextEntries": [{"ContextKeyName": "k", "ContextKeyType": "weird"}],
            },
            ValidationError,
        ),
    ],
)
def test_simulate_rejects_bad_requests(
    snapshot: Snapshot, request_doc: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        simulate_principal_policy(snapshot, request_doc)


def test_simulate_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    request = tmp_path / "req.json"
    request.write_text(json.dumps(simulate_request(ActionNames=["s3:GetObject"])))
    assert (
        main(
            [
                "simulate-principal-policy",
                "--repo",
                str(POLICIES),
                "--cli-input-json",
                f"file://{request}",
            ]
        )
        == 0
    )
    response = json.loads(capsys.readouterr().out)
    assert response["EvaluationResults"][0]["EvalDecision"] == "allowed"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"ActionNames": ["s3:GetObject"]}))
    assert (
        main(["simulate-principal-policy", "--repo", str(POLICIES), "--cli-input-json", str(bad)])
        == 2
    )
    assert "ValidationError" in capsys.readouterr().err
