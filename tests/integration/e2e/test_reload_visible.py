"""A refused reload is impossible to miss for the person who caused it: the Reload RPC,
GetStatus, ``authz reload`` / ``authz status`` and the ``make run`` banner all name the failing
policy test and how to see every test."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest

from authz.cli import main
from authz.devrun import ReloadBanner
from tests.integration.e2e.harness import E2EServer, ServerFactory

DANA = "arn:aws:iam::111122223333:user/Dana"
AUTHZ_ADMIN = "arn:aws:iam::111122223333:role/authz-admin"  # authz:Reload, authz:GetStatus
POLICY = "accounts/444455556666/policies/ReportsReadOnly.json"
FAILING = "foo cannot delete report objects"


def _allow_delete(repo: Path) -> None:
    """The natural first edit: let foo delete reports too (the repo's own tests forbid it)."""
    path = repo / POLICY
    doc = json.loads(path.read_text())
    doc["Document"]["Statement"][1]["Action"] = ["s3:GetObject", "s3:DeleteObject"]
    path.write_text(json.dumps(doc))


@pytest.fixture
def env(start_server: ServerFactory, example_repo: Path) -> E2EServer:
    return start_server(example_repo)


def test_reload_rpc_and_status_return_the_failing_test(env: E2EServer, example_repo: Path) -> None:
    _, admin = env.assume(env.access_key(DANA), AUTHZ_ADMIN, "ops")
    with env.client(admin) as client:
        before = client.get_status().revision
        _allow_delete(example_repo)
        refused = client.reload()
        status = client.get_status()
    assert refused.error and refused.revision == before and not refused.changed
    failing = [p for p in refused.problems if p.code == "policy_test_failed"]
    assert [p.file for p in failing] == ["tests/seed.yaml"]
    assert FAILING in failing[0].message
    assert [p.message for p in status.last_reload_problems] == [p.message for p in failing]
    assert status.revision == before and status.last_reload_attempt.seconds > 0


def test_authz_reload_exits_1_and_names_the_test(
    env: E2EServer,
    example_repo: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, admin = env.assume(env.access_key(DANA), AUTHZ_ADMIN, "ops")
    monkeypatch.setenv("AUTHZ_SESSION_TOKEN", admin.token)
    monkeypatch.setenv("AUTHZ_ACCESS_KEY_ID", str(admin.access_key_id))  # calls are signed
    monkeypatch.setenv("AUTHZ_SECRET_ACCESS_KEY", str(admin.secret))
    assert main(["reload", "--target", env.target]) == 0
    assert json.loads(capsys.readouterr().out)["Problems"] == []
    _allow_delete(example_repo)
    assert main(["reload", "--target", env.target]) == 1
    out, err = capsys.readouterr()
    problems = json.loads(out)["Problems"]
    assert problems and problems[0]["Code"] == "policy_test_failed"
    assert "RELOAD REFUSED" in err and FAILING in err and "authz test --repo" in err
    assert main(["status", "--target", env.target]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["lastReloadProblems"][0]["Code"] == "policy_test_failed"
    assert FAILING in err


def test_make_run_banner_shows_the_refusal(env: E2EServer, example_repo: Path) -> None:
    stream = io.StringIO()
    banner = ReloadBanner("policies", stream)
    logger = logging.getLogger("authz.reload")
    logger.addHandler(banner)
    try:
        _allow_delete(example_repo)
        env.backend.reloader.reload()  # what the file watcher does after an edit
    finally:
        logger.removeHandler(banner)
    text = stream.getvalue()
    assert "RELOAD REFUSED - still serving revision" in text
    assert FAILING in text and "tests/seed.yaml" in text
    assert "run `.venv/bin/authz test --repo policies`" in text
