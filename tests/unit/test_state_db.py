"""The state database interface, on both backends: migrations, transactions, conflicts, the
version counters and the poller, and failing closed."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest

from authz.errors import ValidationError
from authz.state import StateConflict, StateUnavailable, StateWatcher, open_database
from authz.state.db import redact_url
from authz.state.migrate import apply_migrations, migrations


def test_migrations_apply_once(state_url: str) -> None:
    db = open_database(state_url)
    try:
        with db.transaction(write=False) as tx:
            applied = [r[0] for r in tx.execute("SELECT version FROM schema_migrations")]
        assert sorted(applied) == [m.version for m in migrations()]
        assert apply_migrations(db) == []  # nothing left to apply
    finally:
        db.close()
    again = open_database(state_url)  # a second open (another replica) migrates nothing
    again.close()


def test_concurrent_opens_migrate_once(state_url: str) -> None:
    errors: list[BaseException] = []

    def opener() -> None:
        try:
            open_database(state_url).close()
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_bump_commits_with_the_transaction(state_url: str) -> None:
    db = open_database(state_url)
    try:
        with db.transaction() as tx:
            tx.bump("access_keys")
            tx.bump("access_keys")
        with pytest.raises(RuntimeError), db.transaction() as tx:
            tx.bump("access_keys")
            raise RuntimeError("rolled back")
        assert db.versions() == {"access_keys": 2}
    finally:
        db.close()


def test_unique_violation_is_a_conflict_and_rolls_back(state_url: str) -> None:
    db = open_database(state_url)
    try:
        with db.transaction() as tx:
            tx.execute("CREATE TABLE t_conflict (k TEXT PRIMARY KEY)")
            tx.execute("INSERT INTO t_conflict (k) VALUES (?)", ("a",))
        with pytest.raises(StateConflict), db.transaction() as tx:
            tx.bump("x_topic")
            tx.execute("INSERT INTO t_conflict (k) VALUES (?)", ("a",))
        assert "x_topic" not in db.versions()
        with db.transaction() as tx:  # the connection is usable after the conflict
            assert tx.execute("SELECT k FROM t_conflict") == [("a",)]
    finally:
        db.close()


def test_bad_topic_is_refused(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 's.db'}")
    with pytest.raises(ValueError, match="bad state topic"), db.transaction() as tx:
        tx.bump("Robert'); DROP TABLE x;--")
    db.close()


def test_sqlite_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "state.db"
    open_database(f"sqlite:///{path}").close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_sqlite_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    open_database("sqlite:///rel/state.db").close()
    assert (tmp_path / "rel" / "state.db").exists()
    open_database(f"sqlite:///{tmp_path}/abs.db").close()  # sqlite:////abs/...
    assert (tmp_path / "abs.db").exists()
    for bad in ("sqlite://x.db", "sqlite:///", "mysql://h/db", "state.db"):
        with pytest.raises(ValidationError, match="state_url"):
            open_database(bad)


def test_unreachable_database_fails_closed_without_the_password(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StateUnavailable) as caught:
        open_database(f"sqlite:///{tmp_path / 'dir.db'}")
    assert str(tmp_path) not in caught.value.message
    with pytest.raises(StateUnavailable) as caught:
        open_database("postgresql://authz:hunter2@127.0.0.1:1/nodb", timeout=1.0)
    assert "hunter2" not in caught.value.message
    assert redact_url("postgresql://u:hunter2@h:5/d") == "postgresql://u:***@h:5/d"


def test_watcher_notifies_changed_topics_only(state_url: str) -> None:
    writer, reader = open_database(state_url), open_database(state_url)
    seen: list[tuple[str, int]] = []
    watcher = StateWatcher(reader, poll_seconds=0.05)
    watcher.subscribe("access_keys", lambda v: seen.append(("access_keys", v)))
    watcher.subscribe("revocations", lambda v: seen.append(("revocations", v)))
    try:
        watcher.poll_once()  # first poll: every subscriber once, at version 0
        assert sorted(seen) == [("access_keys", 0), ("revocations", 0)]
        seen.clear()
        with writer.transaction() as tx:
            tx.bump("access_keys")
        watcher.poll_once()
        watcher.poll_once()
        assert seen == [("access_keys", 1)]
        assert watcher.fresh()
    finally:
        writer.close()
        reader.close()


def test_watcher_retries_a_failed_subscriber(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 's.db'}")
    calls: list[int] = []

    def flaky(version: int) -> None:
        calls.append(version)
        if len(calls) == 1:
            raise OSError("transient")

    watcher = StateWatcher(db)
    watcher.subscribe("mfa_devices", flaky)
    watcher.poll_once()
    watcher.poll_once()
    watcher.poll_once()
    assert calls == [0, 0]  # retried once, then seen
    db.close()


def test_watcher_is_stale_when_the_database_goes_away(tmp_path: Path) -> None:
    now = [100.0]
    db = open_database(f"sqlite:///{tmp_path / 's.db'}")
    watcher = StateWatcher(db, stale_after=5.0, clock=lambda: now[0])
    assert not watcher.fresh()  # never polled: not fresh
    watcher.poll_once()
    assert watcher.fresh()
    db.close()  # every later poll fails
    now[0] += 4.0
    watcher.poll_once()
    assert watcher.fresh() and watcher.failures == 1
    now[0] += 2.0
    watcher.poll_once()
    assert not watcher.fresh() and watcher.failures == 2
