"""Cheap reloads and atomic publication, on the Reloader itself: an unchanged repository is not
rebuilt, a change rebuilds only what changed and equals a fresh load, the Reload RPC is rate
limited, marker mode waits for the marker, a symlink flip (git-sync, Kubernetes ``..data``) is
read whole, and a symlink leaving the repository is refused."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from authz.engine.ratelimit import TokenBucket
from authz.engine.reload import Reloader
from authz.engine.snapshot import authorize, build_snapshot
from authz.errors import Throttling
from authz.repo import accounts, layout
from authz.repo.load import check_repository
from authz.repo.memo import LoadMemo
from authz.repo.publish import git_head, publication, resolve_root
from tests.security.reload_repos import ALICE, BUCKET, guarded_files, write_repo

ROOT = Path(__file__).resolve().parents[2]
A1 = "111122223333"
BOB_FILE = f"accounts/{A1}/users/Bob.json"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return Path(shutil.copytree(ROOT / "policies", tmp_path / "policies"))


class _Counter:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.decoded: list[str] = []
        self.built: list[str] = []
        decode, role, user = (
            layout._Reader.decode,
            accounts.AccountBuilder.role,
            accounts.AccountBuilder.user,
        )

        def counting_decode(reader: Any, rel: str, raw: bytes) -> Any:
            self.decoded.append(rel)
            return decode(reader, rel, raw)

        def counting_role(builder: Any, doc: Any) -> Any:
            self.built.append(doc.rel)
            return role(builder, doc)

        def counting_user(builder: Any, doc: Any) -> Any:
            self.built.append(doc.rel)
            return user(builder, doc)

        monkeypatch.setattr(layout._Reader, "decode", counting_decode)
        monkeypatch.setattr(accounts.AccountBuilder, "role", counting_role)
        monkeypatch.setattr(accounts.AccountBuilder, "user", counting_user)


def _edit(path: Path, **changes: Any) -> None:
    doc = json.loads(path.read_text())
    doc.update(changes)
    path.write_text(json.dumps(doc, indent=2))


def test_an_unchanged_repository_is_not_rebuilt(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = Reloader(repo, git=False)
    first = r.start()
    counter = _Counter(monkeypatch)
    for _ in range(3):
        outcome = r.reload()
        assert outcome is not None and outcome.ok and not outcome.changed
    assert r.holder.current is first  # the same snapshot object keeps serving
    assert counter.decoded == [] and counter.built == []
    assert r.status().unchanged == 3


def test_a_change_rebuilds_only_the_changed_document(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = Reloader(repo, git=False)
    first = r.start()
    counter = _Counter(monkeypatch)
    _edit(repo / BOB_FILE, Tags=[{"Key": "team", "Value": "payments"}])
    outcome = r.reload()
    assert outcome is not None and outcome.changed
    assert counter.decoded == [BOB_FILE] and counter.built == [BOB_FILE]
    new = r.holder.current
    carol = f"arn:aws:iam::{A1}:user/Carol"
    assert new.repository.users_by_arn[carol] is first.repository.users_by_arn[carol]
    fresh = build_snapshot(repo, git=False)
    assert new.repository == fresh.repository and new.revision == fresh.revision


def test_incremental_loads_equal_fresh_loads_through_bad_and_good_edits(repo: Path) -> None:
    memo = LoadMemo()
    bob = repo / BOB_FILE
    good = bob.read_text()
    steps = [
        lambda: bob.write_text(good[: len(good) // 2]),  # broken JSON
        lambda: bob.write_text(good.replace('"developers"', '"nosuchgroup"')),  # dangling
        lambda: (repo / f"accounts/{A1}/users/Dave.json").write_text(
            json.dumps({"UserName": "Bob"})
        ),
        lambda: (repo / f"accounts/{A1}/users/Dave.json").unlink(),
        lambda: bob.write_text(good),
    ]
    for step in steps:
        step()
        incremental = check_repository(repo, memo)
        incremental_again = check_repository(repo, memo)  # everything from the memo now
        fresh = check_repository(repo)
        assert incremental.problems == fresh.problems == incremental_again.problems
        assert incremental.repository == fresh.repository == incremental_again.repository
        assert fresh.repository is not None and incremental.repository is not None
        assert incremental.repository.content_hash == fresh.repository.content_hash


def test_a_same_size_rewrite_with_the_old_mtime_is_seen(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(layout, "SETTLE_NS", 0)  # trust signatures at once
    memo = LoadMemo()
    check_repository(repo, memo)
    reads: list[str] = []
    read_bytes = layout._Reader.read_bytes

    def counting(self: Any, rel: str) -> bytes | None:
        reads.append(Path(rel).name)
        return read_bytes(self, rel)

    monkeypatch.setattr(layout._Reader, "read_bytes", counting)
    check_repository(repo, memo)
    assert reads == []  # every signature unchanged: nothing read
    bob = repo / BOB_FILE
    settled = bob.stat()
    time.sleep(0.05)  # past the file system's timestamp tick
    bob.write_text(bob.read_text().replace('"reports"', '"payment"'))  # same length
    os.utime(bob, ns=(settled.st_atime_ns, settled.st_mtime_ns))  # mtime put back
    assert bob.stat().st_size == settled.st_size and bob.stat().st_mtime_ns == settled.st_mtime_ns
    result = check_repository(repo, memo)
    assert reads == ["Bob.json"]  # the ctime gave it away
    assert result.repository is not None
    assert result.repository.users_by_arn[f"arn:aws:iam::{A1}:user/Bob"].tags["team"] == "payment"


def test_the_reload_rpc_is_rate_limited(repo: Path) -> None:
    r = Reloader(repo, git=False, rpc_rate=0.001, rpc_burst=2)
    r.start()
    assert r.reload_requested() is not None
    assert r.reload_requested() is not None
    with pytest.raises(Throttling, match="Rate exceeded"):
        r.reload_requested()
    assert r.status().attempts == 3  # start + two; the refused call built nothing
    assert r.reload() is not None  # file watch / SIGHUP are not limited


def test_token_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(2.0, 3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] += 0.5  # one token back
    assert bucket.take() and not bucket.take()
    now[0] += 100
    assert sum(bucket.take() for _ in range(10)) == 3  # never more than the burst
    assert TokenBucket(0, 1).take() and TokenBucket(0, 1).unlimited


def test_marker_mode_waits_for_the_marker(tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "repo", 1, marker="v1")
    r = Reloader(repo, git=False, trigger="marker")
    first = r.start()
    for rel, doc in guarded_files(2).items():  # the change, without a new marker
        (repo / rel).write_text(json.dumps(doc))
    outcome = r.reload()
    assert outcome is not None and not outcome.changed and r.holder.current is first
    (repo / ".authz-revision").write_text("v2")
    outcome = r.reload()
    assert outcome is not None and outcome.changed
    decision = authorize(
        r.holder.current, r.holder.current.caller(ALICE), "s3:DeleteBucket", BUCKET
    )
    assert not decision.allowed


def _kubernetes_volume(root: Path, version: int, stamp: str) -> None:
    """A ConfigMap-style volume: ``..<stamp>`` holds the files, ``..data`` points at it, the
    top-level entries point into ``..data``."""
    write_repo(root / f"..{stamp}", version)
    tmp = root / "..data_tmp"
    os.symlink(f"..{stamp}", tmp)
    os.replace(tmp, root / "..data")
    if not (root / "accounts").is_symlink():
        os.symlink("..data/accounts", root / "accounts")


def test_a_kubernetes_style_data_flip_is_read_whole(tmp_path: Path) -> None:
    root = tmp_path / "volume"
    root.mkdir()
    _kubernetes_volume(root, 1, "2026_01")
    r = Reloader(root, git=False)
    first = r.start()
    assert resolve_root(root) == (root / "..2026_01").resolve()
    _kubernetes_volume(root, 2, "2026_02")
    outcome = r.reload()
    assert outcome is not None and outcome.ok and outcome.changed
    assert r.holder.current.repository.managed_policy(f"arn:aws:iam::{A1}:policy/guard2")
    assert first.revision != r.holder.current.revision


def test_the_publication_probe_sees_a_flip_and_the_marker(tmp_path: Path) -> None:
    link = tmp_path / "current"
    write_repo(tmp_path / "a", 1, marker="one")
    os.symlink(tmp_path / "a", link)
    seen = publication(link, "marker")
    assert publication(link, "marker") == seen and publication(link, "any") == str(tmp_path / "a")
    (tmp_path / "a" / ".authz-revision").write_text("two")
    assert publication(link, "marker") != seen
    write_repo(tmp_path / "b", 1, marker="two")
    tmp = tmp_path / "tmp-link"
    os.symlink(tmp_path / "b", tmp)
    os.replace(tmp, link)
    assert publication(link, "any") == str(tmp_path / "b")


def test_symlinks_leaving_the_repository_are_refused(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.json"
    outside.write_text((repo / BOB_FILE).read_text().replace("Bob", "Eve"))
    (repo / f"accounts/{A1}/users/Eve.json").symlink_to(outside)
    (repo / f"accounts/{A1}/users/Zed.json").symlink_to(repo / BOB_FILE)  # inside: a duplicate
    (repo / "tests" / "secrets").symlink_to("/etc", target_is_directory=True)
    problems = {(p.file, p.code) for p in check_repository(repo).problems}
    assert (f"accounts/{A1}/users/Eve.json", "symlink_outside_repository") in problems
    assert ("tests/secrets", "symlink_outside_repository") in problems
    assert (f"accounts/{A1}/users/Zed.json", "EntityAlreadyExists") in problems


def test_git_head_is_read_from_files(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    repo = write_repo(tmp_path / "repo", 1)
    git = ["git", "-C", str(repo), "-c", "user.email=t@e", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    assert git_head(repo / "accounts") == head.stdout.strip()
    subprocess.run([*git, "pack-refs", "--all"], check=True)
    assert git_head(repo) == head.stdout.strip()


def test_a_reload_keeps_the_compiled_partitions(repo: Path) -> None:
    r = Reloader(repo, git=False)
    snap = r.start()
    bob = snap.caller(f"arn:aws:iam::{A1}:user/Bob")
    authorize(snap, bob, "s3:GetObject", "arn:aws:s3:::bob-scratch/x")
    compiled = snap.evaluator.cache_stats()["size"]
    assert compiled > 0
    _edit(repo / f"accounts/{A1}/users/Carol.json", Tags=[{"Key": "x", "Value": "y"}])
    outcome = r.reload()
    assert outcome is not None and outcome.changed
    new = r.holder.current
    assert new.evaluator.cache_stats()["size"] == compiled
    authorize(
        new, new.caller(f"arn:aws:iam::{A1}:user/Bob"), "s3:GetObject", "arn:aws:s3:::bob-scratch/y"
    )
    assert new.evaluator.cache_stats()["misses"] == 0
