"""Hot reload: every path. A valid edit activates a new revision; broken JSON, a dangling
reference, a failing repo test, a deleted referenced file, an unreadable directory or a crashing
build leave the last good snapshot serving with the error reported; triggers coalesce; a request
finishes on the snapshot it started with; startup on a broken repository lists every problem."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from authz.engine.reload import Reloader, ReloadStatus, SnapshotHolder
from authz.engine.snapshot import Snapshot, authorize, build_snapshot
from authz.errors import RepositoryError, ServiceUnavailable

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policies"
A1, A2 = "111122223333", "444455556666"
BOB = f"arn:aws:iam::{A1}:user/Bob"
FOO = f"arn:aws:iam::{A2}:role/foo"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target)
    return target


@pytest.fixture
def reloader(repo: Path) -> Any:
    r = Reloader(repo, git=False, cooldown=0.05)
    r.start()
    yield r
    r.close()


def edit(path: Path, change: Callable[[Any], None]) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc, indent=2))


def bob_path(repo: Path) -> Path:
    return repo / "accounts" / A1 / "users" / "Bob.json"


def assert_refused(reloader: Reloader, before: str, code: str) -> None:
    outcome = reloader.reload()
    assert outcome is not None and not outcome.ok
    assert code in {p.code for p in outcome.problems}, outcome.problems
    assert reloader.holder.current.revision == before == outcome.revision
    status = reloader.status()
    assert status.last_error and status.failed >= 1 and status.revision == before
    assert code in {p.code for p in status.last_problems}


def test_start_serves_the_repository(reloader: Reloader) -> None:
    snap = reloader.holder.current
    assert authorize(snap, snap.caller(BOB), "sts:AssumeRole", FOO).allowed
    status = reloader.status()
    assert status.activated == 1 and status.last_error is None and status.revision == snap.revision
    assert status.last_success is not None


def test_valid_edit_activates_a_new_revision(reloader: Reloader, repo: Path) -> None:
    before = reloader.holder.current.revision
    edit(bob_path(repo), lambda d: d.update(Tags=[{"Key": "team", "Value": "other"}]))
    outcome = reloader.reload()
    assert outcome is not None and outcome.ok and outcome.changed
    assert reloader.holder.current.revision == outcome.revision != before
    assert reloader.status().activated == 2


def test_unchanged_content_keeps_the_snapshot(reloader: Reloader) -> None:
    snap = reloader.holder.current
    outcome = reloader.reload()
    assert outcome is not None and outcome.ok and not outcome.changed
    assert reloader.holder.current is snap  # the warm partition cache is kept
    assert reloader.status().unchanged == 1


def test_broken_json_keeps_the_old_revision(reloader: Reloader, repo: Path) -> None:
    before = reloader.holder.current.revision
    bob_path(repo).write_text('{"UserName": "Bob", "GroupList": ["devel')  # half-written
    assert_refused(reloader, before, "invalid_json")
    edit(repo / "accounts" / A1 / "users" / "Carol.json", lambda d: None)
    bob_path(repo).write_text((POLICIES / "accounts" / A1 / "users" / "Bob.json").read_text())
    outcome = reloader.reload()
    assert outcome is not None and outcome.ok
    assert reloader.status().last_error is None


def test_dangling_reference_keeps_the_old_revision(reloader: Reloader, repo: Path) -> None:
    before = reloader.holder.current.revision
    edit(bob_path(repo), lambda d: d.update(GroupList=["nope"]))
    assert_refused(reloader, before, "NoSuchEntity")


def test_deleted_referenced_file_keeps_the_old_revision(reloader: Reloader, repo: Path) -> None:
    before = reloader.holder.current.revision
    (repo / "accounts" / A2 / "policies" / "ReportsReadOnly.json").unlink()
    assert_refused(reloader, before, "NoSuchEntity")
    snap = reloader.holder.current
    session = snap.caller(f"arn:aws:sts::{A2}:assumed-role/foo/s")
    read = authorize(
        snap,
        session,
        "s3:GetObject",
        "arn:aws:s3:::example-reports/k",
        {"aws:SecureTransport": "true"},
    )
    assert read.allowed and read.revision == before


def test_failing_repo_test_keeps_the_old_revision(reloader: Reloader, repo: Path) -> None:
    before = reloader.holder.current.revision
    edit(
        repo / "accounts" / A2 / "roles" / "foo.json",
        lambda d: d["AssumeRolePolicyDocument"]["Statement"][0]["Principal"].update(
            AWS=f"arn:aws:iam::{A1}:user/Carol"
        ),
    )
    assert_refused(reloader, before, "policy_test_failed")
    messages = [p.message for p in reloader.status().last_problems]
    assert any("seed/bob can assume foo" in m and "expected Allow" in m for m in messages)


def test_gate_can_be_disabled(repo: Path) -> None:
    r = Reloader(repo, git=False, gate_tests=False)
    r.start()
    edit(
        repo / "accounts" / A2 / "roles" / "foo.json",
        lambda d: d["AssumeRolePolicyDocument"]["Statement"][0]["Principal"].update(
            AWS=f"arn:aws:iam::{A1}:user/Carol"
        ),
    )
    outcome = r.reload()
    assert outcome is not None and outcome.ok and outcome.changed


def test_unreadable_directory_keeps_the_old_revision(
    reloader: Reloader, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = reloader.holder.current.revision
    target = repo / "accounts" / A2 / "roles"
    original = os.scandir

    def scandir(path: Any) -> Any:
        if Path(path).resolve() == target.resolve():
            raise PermissionError(13, "Permission denied")
        return original(path)

    monkeypatch.setattr(os, "scandir", scandir)
    assert_refused(reloader, before, "unreadable_directory")


def test_crashing_build_keeps_the_old_revision(repo: Path) -> None:
    calls = {"n": 0}

    def builder(root: Path) -> Snapshot:
        calls["n"] += 1
        if calls["n"] > 1:
            raise RuntimeError("boom")
        return build_snapshot(root, git=False)

    r = Reloader(repo, builder=builder)
    before = r.start().revision
    outcome = r.reload()
    assert outcome is not None and not outcome.ok and outcome.error == "RuntimeError: boom"
    assert r.holder.current.revision == before


def test_a_request_finishes_on_the_snapshot_it_started_with(reloader: Reloader, repo: Path) -> None:
    started = reloader.holder.current  # a request reads holder.current once
    edit(repo / "accounts" / A1 / "users" / "Carol.json", lambda d: d.update(Tags={"x": "y"}))
    outcome = reloader.reload()
    assert outcome is not None and outcome.changed
    decision = authorize(started, started.caller(BOB), "sts:AssumeRole", FOO)
    assert decision.revision == started.revision != reloader.holder.current.revision


def test_startup_on_a_broken_repository_lists_every_problem(repo: Path) -> None:
    bob_path(repo).write_text("{")
    edit(repo / "accounts" / A2 / "roles" / "foo.json", lambda d: d.update(MaxSessionDuration=1))
    r = Reloader(repo, git=False)
    with pytest.raises(RepositoryError) as err:
        r.start()
    assert {p.code for p in err.value.problems} == {"invalid_json", "ValidationError"}
    with pytest.raises(ServiceUnavailable):
        _ = r.holder.current


def test_startup_can_wait_for_a_valid_repository(repo: Path) -> None:
    good = bob_path(repo).read_text()
    bob_path(repo).write_text("{")
    r = Reloader(repo, git=False)
    result: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: result.update(snap=r.start(wait_for_valid=True, poll_interval=0.02))
    )
    thread.start()
    deadline = time.monotonic() + 5
    while r.status().failed < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert r.status().last_error is not None and not r.holder.loaded
    bob_path(repo).write_text(good)
    thread.join(5)
    assert result["snap"] is r.holder.current


def test_wait_for_valid_gives_up_after_timeout(repo: Path) -> None:
    bob_path(repo).write_text("{")
    with pytest.raises(RepositoryError):
        Reloader(repo, git=False).start(wait_for_valid=True, poll_interval=0.01, timeout=0.05)


def test_concurrent_triggers_are_coalesced(repo: Path) -> None:
    gate, entered = threading.Event(), threading.Event()
    builds: list[float] = []

    def slow_builder(root: Path) -> Snapshot:
        builds.append(time.monotonic())
        if len(builds) == 2:
            entered.set()
            assert gate.wait(5)
        return build_snapshot(root, git=False)

    r = Reloader(repo, builder=slow_builder, gate_tests=False)
    r.start()
    first = threading.Thread(target=r.reload)
    first.start()
    assert entered.wait(5)  # build #2 is running
    edit(bob_path(repo), lambda d: d.update(Tags={"k": "v"}))
    outcomes: list[Any] = []
    waiters = [threading.Thread(target=lambda: outcomes.append(r.reload())) for _ in range(10)]
    for w in waiters:
        w.start()
    time.sleep(0.05)
    assert r.reload(wait=False) is None  # a fire-and-forget trigger during the build
    gate.set()
    first.join(5)
    for w in waiters:
        w.join(5)
    assert len(builds) == 3  # start, the running build, exactly one more for all triggers
    assert len(outcomes) == 10 and all(o is not None and o.ok for o in outcomes)
    assert {o.revision for o in outcomes} == {r.holder.current.revision}
    assert r.holder.current.repository.users_by_arn[BOB].tags == {"k": "v"}


def test_listeners_receive_status_and_metrics(reloader: Reloader, repo: Path) -> None:
    seen: list[ReloadStatus] = []
    reloader.add_listener(seen.append)
    bob_path(repo).write_text("{")
    reloader.reload()
    assert seen[0].activated == 1 and seen[-1].failed == 1
    metrics = seen[-1].as_metrics()
    assert metrics["authz_reload_failures_total"] == 1 and metrics["authz_reload_last_failed"] == 1
    assert metrics["authz_reload_last_success_timestamp_seconds"] > 0
    assert seen[-1].as_dict()["last_problems"][0].startswith(f"accounts/{A1}/users/Bob.json")


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_sighup_triggers_a_reload(reloader: Reloader, repo: Path) -> None:
    import os
    import signal

    previous = signal.getsignal(signal.SIGHUP)
    try:
        reloader.install_sighup()
        edit(bob_path(repo), lambda d: d.update(Tags={"k": "hup"}))
        os.kill(os.getpid(), signal.SIGHUP)
        assert wait_until(lambda: reloader.status().activated == 2)
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_file_watching_debounces_bursts(repo: Path) -> None:
    count = {"builds": 0}

    def counting(root: Path) -> Snapshot:
        count["builds"] += 1
        return build_snapshot(root, git=False)

    r = Reloader(repo, builder=counting, cooldown=0.15, gate_tests=False)
    before = r.start().revision
    r.watch()
    try:
        assert r.status().watching
        for i in range(20):  # a burst: one save every 5 ms
            edit(bob_path(repo), lambda d, i=i: d.update(Tags={"n": str(i)}))
            time.sleep(0.005)
        assert wait_until(lambda: r.holder.current.revision != before)
        time.sleep(0.3)
        assert r.holder.current.repository.users_by_arn[BOB].tags == {"n": "19"}
        assert count["builds"] <= 3  # the initial build + one (rarely two) for the burst
    finally:
        r.close()
    assert not r.status().watching


def test_watcher_recovers_from_a_half_written_save(repo: Path) -> None:
    r = Reloader(repo, git=False, cooldown=0.05)
    before = r.start().revision
    r.watch()
    try:
        bob_path(repo).write_text('{"UserName": "Bo')
        assert wait_until(lambda: r.status().failed >= 1)
        assert r.holder.current.revision == before
        edit(repo / "accounts" / A1 / "users" / "Carol.json", lambda d: d.update(Tags={"a": "b"}))
        bob_path(repo).write_text((POLICIES / "accounts" / A1 / "users" / "Bob.json").read_text())
        assert wait_until(lambda: r.holder.current.revision != before)
        assert wait_until(lambda: r.status().last_error is None)
    finally:
        r.close()


def test_holder_swaps_by_reference() -> None:
    holder = SnapshotHolder()
    assert not holder.loaded and holder.peek() is None
    snap = build_snapshot(POLICIES, git=False)
    assert holder.swap(snap) is None and holder.current is snap
