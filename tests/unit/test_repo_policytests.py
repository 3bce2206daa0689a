"""Policy tests inside the repository: suite format, the runner, the report and ``authz test``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from authz.cli import main
from authz.engine.snapshot import build_snapshot, run_repo_tests
from authz.repo import check_repository
from authz.repo.policytests import failure_problems, report

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policies"
BOB = "arn:aws:iam::111122223333:user/Bob"
FOO = "arn:aws:iam::444455556666:role/foo"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target)
    return target


def write_suite(repo: Path, body: str) -> None:
    (repo / "tests" / "extra.yaml").write_text(body)


def test_example_repository_tests_pass(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", "--repo", str(POLICIES)]) == 0
    out = capsys.readouterr().out
    assert "PASS: seed/bob can assume foo (tests/seed.yaml) - Allow" in out
    assert out.strip().endswith("0 failed")


def test_failing_test_is_reported_with_exit_code(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_suite(
        repo,
        f"""
tests:
  - name: wrongly expects carol to assume foo
    assume_role: {{caller: "arn:aws:iam::111122223333:user/Carol", role: "{FOO}"}}
    expect: Allow
  - name: right decision, wrong layer
    principal: {BOB}
    action: s3:PutObject
    resource: arn:aws:s3:::bob-scratch/x
    expect: ImplicitDeny
    layer: identity
""",
    )
    assert main(["test", "--repo", str(repo), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert (
        "FAIL: extra/wrongly expects carol to assume foo (tests/extra.yaml)"
        " - expected Allow, got ImplicitDeny" in out
    )
    assert "expected ImplicitDeny (layer identity), got ImplicitDeny (layer boundary)" in out
    assert "PASS:" not in out  # --quiet prints failures only
    assert out.strip().endswith("29 passed, 2 failed")  # the example repository has 29


def test_assume_role_principal_form_checks_the_assume_step(repo: Path) -> None:
    write_suite(
        repo,
        f"""
tests:
  - name: carol's session cannot exist, so the read is denied at the AssumeRole
    principal:
      assume_role: {{caller: "arn:aws:iam::111122223333:user/Carol", role: "{FOO}"}}
    action: s3:GetObject
    resource: arn:aws:s3:::example-reports/x
    expect: ImplicitDeny
    layer: trust
  - name: bob's session reads
    principal:
      assume_role: {{caller: "{BOB}", role: "{FOO}", session_name: reader}}
    action: s3:GetObject
    resource: arn:aws:s3:::example-reports/x
    context: {{aws:SecureTransport: "true"}}
    expect: Allow
""",
    )
    results = run_repo_tests(build_snapshot(repo, git=False))
    extra = [r for r in results if r.test.suite == "extra"]
    assert [r.passed for r in extra] == [True, True], [r.detail for r in extra]
    assert extra[0].detail.startswith("AssumeRole: ")
    assert extra[1].test.principal == "arn:aws:sts::444455556666:assumed-role/foo/reader"


def test_unknown_principal_is_a_failure_not_a_crash(repo: Path) -> None:
    write_suite(
        repo,
        """
tests:
  - name: ghost
    principal: arn:aws:iam::111122223333:user/Ghost
    action: s3:GetObject
    resource: "*"
    expect: ImplicitDeny
""",
    )
    results = run_repo_tests(build_snapshot(repo, git=False))
    ghost = next(r for r in results if r.test.name == "ghost")
    assert not ghost.passed and ghost.decision is None
    assert ghost.detail.startswith("error: NoSuchEntity")
    problem = failure_problems(results)[0]
    assert (problem.file, problem.path, problem.code) == (
        "tests/extra.yaml",
        "$.tests[0]",
        "policy_test_failed",
    )
    assert "FAIL: extra/ghost" in report(results)


def test_suite_structure_problems_are_repository_problems(repo: Path) -> None:
    write_suite(
        repo,
        """
name: extra
tests:
  - name: a
    principal: {BOB}
    action: s3:GetObject
    expect: Allow
    layer: nowhere
    extra_key: 1
  - name: a
    assume_role: {caller: x, role: "arn:aws:s3:::not-a-role"}
    expect: Allow
""".replace("{BOB}", BOB),
    )
    found = {(p.path, p.code) for p in check_repository(repo).problems}
    assert found == {
        ("$.tests[0].resource", "missing_field"),
        ("$.tests[0].layer", "invalid_field"),
        ("$.tests[0].extra_key", "unknown_field"),
        ("$.tests[1].assume_role.role", "invalid_field"),
    }


def test_empty_suite_is_a_problem(repo: Path) -> None:
    write_suite(repo, "tests: []\n")
    assert [(p.path, p.code) for p in check_repository(repo).problems] == [
        ("$.tests", "missing_field")
    ]


def test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", "--repo", str(POLICIES), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["Revision"] and all(r["passed"] for r in doc["Results"])
    carol = next(r for r in doc["Results"] if r["name"] == "carol cannot assume foo")
    assert carol["decision"] == "ImplicitDeny" and carol["failing_layer"] == "trust"


def test_broken_repository_fails_the_test_command(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "organization.json").write_text("{")
    assert main(["test", "--repo", str(repo)]) == 1
    assert "invalid_json" in capsys.readouterr().out
