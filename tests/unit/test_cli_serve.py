"""`authz serve` on a broken repository exits 2 and lists every problem (issue: bad input)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from authz import cli

POLICIES = Path(__file__).resolve().parents[2] / "policies"


def test_serve_refuses_a_broken_repository_with_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(POLICIES, repo)
    (repo / "accounts/444455556666/roles/broken.json").write_text('{"RoleName": "x", ')
    bob = repo / "accounts/111122223333/users/Bob.json"
    bob.write_text(bob.read_text().replace('"Version"', '"Versio"', 1))
    code = cli.main(
        ["serve", "--repo", str(repo), "--listen", "127.0.0.1:0", "--no-watch",
         "--keys-dir", str(tmp_path / "keys"), "--state-url", f"sqlite:///{tmp_path / 's.db'}",
         "--state-key-file", str(tmp_path / "s.key"), "--dev-generate-keys"]
    )  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    payload = json.loads(err[err.index("{\n") :])
    problems = payload["Error"]["Problems"]
    assert payload["Error"]["Code"] == "RepositoryInvalid"
    assert {p["File"] for p in problems} == {
        "accounts/111122223333/users/Bob.json",
        "accounts/444455556666/roles/broken.json",
    }
    assert {p["Code"] for p in problems} == {"MalformedPolicyDocument", "invalid_json"}
