"""PreviewReload against a real server: the decisions an edit on disk would change, from
generated requests or the audit log, before it serves; and the ``max_changed_decisions`` reload
gate refusing a larger change unless forced."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from authz._gen.authz.v1 import authorizer_pb2
from authz.cli import main
from tests.integration.e2e.harness import Pki, ServerFactory

BOB = "arn:aws:iam::111122223333:user/Bob"
FOO = "arn:aws:iam::444455556666:role/foo"
POLICY = "accounts/444455556666/policies/ReportsReadOnly.json"
REPORT = "arn:aws:s3:::example-reports/2024/q1.csv"


def _allow_delete(repo: Path) -> None:
    path = repo / POLICY
    doc = json.loads(path.read_text())
    doc["Document"]["Statement"][1]["Action"] = ["s3:GetObject", "s3:DeleteObject"]
    path.write_text(json.dumps(doc))


def _add_queue_statement(repo: Path) -> None:
    """An edit the repository's own tests say nothing about."""
    path = repo / POLICY
    doc = json.loads(path.read_text())
    doc["Document"]["Statement"].append(
        {"Sid": "Queue", "Effect": "Allow", "Action": "sqs:SendMessage",
         "Resource": "arn:aws:sqs:us-east-1:444455556666:reports"}
    )  # fmt: skip
    path.write_text(json.dumps(doc))


def test_preview_lists_the_changes_and_activates_nothing(
    start_server: ServerFactory, example_repo: Path, pki: Pki
) -> None:
    env = start_server(example_repo, pki=pki)  # TLS: the bucket policy denies plaintext
    bob = env.access_key(BOB)
    _, session = env.assume(bob, FOO, "Bob")
    with env.client(session) as client:
        assert client.authorize("s3:DeleteObject", REPORT).decision == (
            authorizer_pb2.DECISION_IMPLICIT_DENY
        )
    env.audit_events(3)
    _allow_delete(example_repo)
    with env.client(env.example_admin()) as admin:  # authz:PreviewReload, authz:GetStatus
        before = admin.get_status().revision
        generated = admin.preview_reload()
        audited = admin.preview_reload(audit_log=True)
        assert admin.get_status().revision == before  # nothing activated
    assert generated.serving_revision == before and generated.complete
    assert generated.candidate_revision != before
    foo = [c for c in generated.changed if c.principal.startswith(
        "arn:aws:sts::444455556666:assumed-role/foo/")]  # fmt: skip
    assert [(c.action, c.serving.decision, c.candidate.decision) for c in foo] == [
        ("s3:DeleteObject", "implicitDeny", "allowed")
    ]
    assert foo[0].candidate.deciding_statements == [
        "identity:arn:aws:iam::444455556666:policy/ReportsReadOnly:ReadReports"
    ]
    replayed = [(c.principal, c.action, c.origin) for c in audited.changed]
    assert replayed == [
        ("arn:aws:sts::444455556666:assumed-role/foo/Bob", "s3:DeleteObject", "audit")
    ]
    assert audited.requests_replayed >= 2  # the AssumeRole and the Authorize


def test_the_gate_refuses_more_changes_than_allowed_unless_forced(
    start_server: ServerFactory,
    example_repo: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = start_server(example_repo, max_changed_decisions=0)
    admin_session = env.example_admin()  # authz:Reload, authz:GetStatus
    _add_queue_statement(example_repo)
    with env.client(admin_session) as admin:
        before = admin.get_status().revision
        refused = admin.reload()
        assert refused.error and refused.revision == before
        codes = [p.code for p in refused.problems]
        assert codes[0] == "max_changed_decisions_exceeded"
        assert "decision_changed" in codes
        assert any("sqs:SendMessage" in p.message for p in refused.problems)
    monkeypatch.setenv("AUTHZ_SESSION_TOKEN", admin_session.token)
    monkeypatch.setenv("AUTHZ_ACCESS_KEY_ID", str(admin_session.access_key_id))  # calls are signed
    monkeypatch.setenv("AUTHZ_SECRET_ACCESS_KEY", str(admin_session.secret))
    assert main(["reload", "--target", env.target, "--force"]) == 0
    activated = json.loads(capsys.readouterr().out)
    assert activated["Changed"] and activated["Revision"] != before


def test_the_gate_lets_a_small_enough_change_through(
    start_server: ServerFactory, example_repo: Path
) -> None:
    env = start_server(example_repo, max_changed_decisions=100)
    _add_queue_statement(example_repo)
    with env.client(env.example_admin()) as admin:
        accepted = admin.reload()
    assert accepted.error == "" and accepted.changed
