"""The SQLite backend of the state database: one file, WAL, for ``make run`` and for the
workers of one machine.

Owns connections (one per thread, opened lazily, all closed by ``close``), the file's mode
(0600, created before SQLite opens it; SQLite gives its ``-wal``/``-shm`` files the same
mode), and the pragmas: ``journal_mode=WAL`` (readers never wait for the writer),
``synchronous=FULL`` (a committed MFA code or deactivation survives a power cut),
``busy_timeout`` (a writer waits for another process's write lock up to ``busy_seconds``, then
fails closed). Write transactions begin ``IMMEDIATE`` so two writers never deadlock on a lock
upgrade. Must not import grpc or cedarpy.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from authz.state.db import (
    BUMP_SQL,
    STATE_UNAVAILABLE,
    Dialect,
    Params,
    Row,
    StateConflict,
    StateUnavailable,
    check_topic,
    read_versions,
)

__all__ = ["SqliteDatabase"]

log = logging.getLogger("authz.state.sqlite")


class _SqliteTx:
    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Params = ()) -> list[Row]:
        return self._conn.execute(sql, tuple(params)).fetchall()

    def bump(self, topic: str) -> None:
        self.execute(BUMP_SQL, (check_topic(topic),))


class SqliteDatabase:
    """A state database in one SQLite file."""

    def __init__(self, path: Path, *, busy_seconds: float = 5.0) -> None:
        self._path = path
        self._busy_ms = int(busy_seconds * 1000)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, busy_seconds: float = 5.0) -> SqliteDatabase:
        from authz.state.migrate import apply_migrations

        db = cls(Path(path), busy_seconds=busy_seconds)
        try:
            db._path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(db._path, os.O_RDWR | os.O_CREAT, 0o600)
            os.close(fd)
        except OSError as err:
            log.error("cannot open the state database %s: %s", path, err)
            raise StateUnavailable(STATE_UNAVAILABLE) from err
        apply_migrations(db)
        return db

    @property
    def dialect(self) -> Dialect:
        return "sqlite"

    @property
    def display_url(self) -> str:
        return f"sqlite:///{self._path}"

    @property
    def path(self) -> Path:
        return self._path

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if self._closed:
            raise StateUnavailable(STATE_UNAVAILABLE)
        conn = sqlite3.connect(
            self._path,
            timeout=self._busy_ms / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
        conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
        _enter_wal(conn, self._busy_ms / 1000)
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        self._local.conn = conn
        with self._lock:
            self._all.append(conn)
        return conn

    @contextlib.contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[_SqliteTx]:
        try:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        except sqlite3.Error as err:
            log.error("state database %s unavailable: %s", self._path, err)
            raise StateUnavailable(STATE_UNAVAILABLE) from err
        try:
            yield _SqliteTx(conn)
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.IntegrityError):
                raise StateConflict(str(exc)) from exc
            if isinstance(exc, sqlite3.Error):
                log.error("state database %s failed: %s", self._path, exc)
                raise StateUnavailable(STATE_UNAVAILABLE) from exc
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as err:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            log.error("state database %s cannot commit: %s", self._path, err)
            raise StateUnavailable(STATE_UNAVAILABLE) from err

    def versions(self) -> dict[str, int]:
        return read_versions(self)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conns, self._all = self._all, []
        for conn in conns:
            with contextlib.suppress(sqlite3.Error):
                conn.close()


def _enter_wal(conn: sqlite3.Connection, wait_seconds: float) -> None:
    """``PRAGMA journal_mode = WAL``, retried while the file is locked: switching a new file
    to WAL needs an exclusive lock, and when several connections open a fresh file at once
    SQLite answers SQLITE_BUSY at once to avoid a deadlock, without the busy handler (seen as
    ~2 % failed opens of 4 threads opening a new file together)."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() >= deadline:
                raise
            time.sleep(0.005)
