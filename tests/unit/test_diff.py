"""``authz diff``: every decision that changes between two repositories, with the deciding
statements on each side, from generated requests or a recorded audit log."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from authz.cli import main
from authz.engine.diff import diff_snapshots, generated_requests, requests_from_audit
from authz.engine.snapshot import build_snapshot

EXAMPLE = Path(__file__).resolve().parents[2] / "policies"
POLICY = "accounts/444455556666/policies/ReportsReadOnly.json"
FOO_SESSION = "arn:aws:sts::444455556666:assumed-role/foo/authz-diff"
BOB = "arn:aws:iam::111122223333:user/Bob"


@pytest.fixture
def repos(tmp_path: Path) -> tuple[Path, Path]:
    old = Path(shutil.copytree(EXAMPLE, tmp_path / "old"))
    new = Path(shutil.copytree(EXAMPLE, tmp_path / "new"))
    return old, new


def _allow_delete(repo: Path) -> None:
    path = repo / POLICY
    doc = json.loads(path.read_text())
    doc["Document"]["Statement"][1]["Action"] = ["s3:GetObject", "s3:DeleteObject"]
    path.write_text(json.dumps(doc))


def test_an_unchanged_repository_changes_nothing(
    repos: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = repos
    assert main(["diff", "--repo", str(old), "--candidate", str(new)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ChangedCount"] == 0 and report["RequestsReplayed"] > 10


def test_an_edit_lists_each_changed_decision_with_its_statements(
    repos: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = repos
    _allow_delete(new)
    assert main(["diff", "--repo", str(old), "--candidate", str(new)]) == 1
    out, err = capsys.readouterr()
    report = json.loads(out)
    changed = {(c["Principal"], c["Action"]): c for c in report["Changed"]}
    foo = changed[(FOO_SESSION, "s3:DeleteObject")]
    assert foo["Old"]["Decision"] == "implicitDeny" and foo["Old"]["FailingLayer"] == "identity"
    assert foo["New"]["Decision"] == "allowed"
    assert foo["New"]["DecidingStatements"] == [
        "identity:arn:aws:iam::444455556666:policy/ReportsReadOnly:ReadReports"
    ]
    assert all(c["Action"] == "s3:DeleteObject" for c in report["Changed"])
    assert f"{len(changed)} of {report['RequestsReplayed']} decision(s) change" in err


def test_audit_log_events_are_replayed(repos: tuple[Path, Path], tmp_path: Path) -> None:
    old, new = repos
    _allow_delete(new)
    session = "arn:aws:sts::444455556666:assumed-role/foo/Bob"
    events = [
        {"eventName": "Authorize", "userIdentity": {"arn": session},
         "requestParameters": {"action": "s3:DeleteObject",
                               "resource": "arn:aws:s3:::example-reports/2024/q1.csv",
                               "context": [{"key": "aws:SecureTransport", "values": ["true"]}]},
         "responseElements": {"decision": "DECISION_IMPLICIT_DENY"}},
        {"eventName": "AssumeRole", "userIdentity": {"arn": BOB},
         "requestParameters": {"roleArn": "arn:aws:iam::444455556666:role/foo",
                               "roleSessionName": "Bob"}},
        {"eventName": "GetCallerIdentity", "userIdentity": {"arn": BOB}},
    ]  # fmt: skip
    lines = [json.dumps(e) for e in events] + ["not json"]
    requests = requests_from_audit(lines)
    assert [(r.action, r.origin) for r in requests] == [
        ("s3:DeleteObject", "audit"),
        ("sts:AssumeRole", "audit"),
    ]
    report = diff_snapshots(
        build_snapshot(old, git=False), build_snapshot(new, git=False), requests
    )
    assert report.requests == 2
    assert [(c.request.principal, c.old.decision, c.new.decision) for c in report.changed] == [
        (session, "implicitDeny", "allowed")
    ]


def test_a_removed_principal_is_a_changed_decision(repos: tuple[Path, Path]) -> None:
    old, new = repos
    (new / "accounts/444455556666/roles/foo.json").unlink()
    old_snap, new_snap = build_snapshot(old, git=False), build_snapshot(new, git=False)
    report = diff_snapshots(old_snap, new_snap, generated_requests((old_snap, new_snap)))
    gone = [c for c in report.changed if c.request.principal == FOO_SESSION]
    assert gone and all(c.new.decision == "error" and c.new.error == "NoSuchEntity" for c in gone)
    assert any(c.old.decision == "allowed" for c in gone)


def test_the_time_budget_makes_a_partial_report(repos: tuple[Path, Path]) -> None:
    old, new = repos
    snap = build_snapshot(old, git=False)
    report = diff_snapshots(snap, build_snapshot(new, git=False), generated_requests((snap,)),
                            max_seconds=0.0)  # fmt: skip
    assert not report.complete and report.requests == 0
