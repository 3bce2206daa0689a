"""``head_commit`` reads what ``git rev-parse HEAD`` prints, without running git: checked
against real git on every layout a policy repository checkout can have."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from authz.repo.gitref import head_commit

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs the git command")


def _git(cwd: Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "HOME": str(cwd),
        "PATH": "/usr/bin:/bin:/usr/local/bin",
    }
    done = subprocess.run(
        ["git", "-c", "init.defaultBranch=main", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def _commit(repo: Path, name: str) -> str:
    (repo / name).write_text(name)
    _git(repo, "add", name)
    _git(repo, "commit", "-q", "-m", name)
    return _git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q")
    return root


def test_loose_ref_and_subdirectory(repo: Path) -> None:
    sha = _commit(repo, "a")
    (repo / "accounts").mkdir()
    assert head_commit(repo) == sha
    assert head_commit(repo / "accounts") == sha  # the repository root may be a subfolder


def test_packed_ref_and_a_newer_loose_one(repo: Path) -> None:
    _commit(repo, "a")
    _git(repo, "pack-refs", "--all")
    assert not (repo / ".git" / "refs" / "heads" / "main").exists()
    assert head_commit(repo) == _git(repo, "rev-parse", "HEAD")
    newer = _commit(repo, "b")  # a loose ref now shadows the packed one
    assert head_commit(repo) == newer


def test_detached_head(repo: Path) -> None:
    first = _commit(repo, "a")
    _commit(repo, "b")
    _git(repo, "checkout", "-q", "--detach", first)
    assert head_commit(repo) == first


def test_linked_worktree(repo: Path, tmp_path: Path) -> None:
    _commit(repo, "a")
    _git(repo, "branch", "other")
    other = tmp_path / "wt"
    _git(repo, "worktree", "add", "-q", str(other), "other")
    moved = _commit(other, "b")
    assert head_commit(other) == moved == _git(other, "rev-parse", "HEAD")
    assert head_commit(repo) == _git(repo, "rev-parse", "HEAD") != moved


def test_not_a_checkout_and_unborn_branch(repo: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    outside = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=plain, capture_output=True, text=True
    )
    expected = outside.stdout.strip() if outside.returncode == 0 else None
    assert head_commit(plain) == expected  # None unless tmp lies inside a checkout
    assert head_commit(repo) is None  # `git rev-parse HEAD` fails too: no commit yet


def test_malformed_head_is_none(repo: Path) -> None:
    _commit(repo, "a")
    (repo / ".git" / "HEAD").write_text("ref: ../../../etc/passwd\n")
    assert head_commit(repo) is None
    (repo / ".git" / "HEAD").write_text("x" * 100_000)
    assert head_commit(repo) is None
