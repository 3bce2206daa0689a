"""One process's handles on the run-time state: the database, its change watcher and the
sealer of the secrets in it, opened together from the state settings and closed together.

``authz serve`` opens ONE ``RuntimeState`` per process (each ``--workers`` process its own; a
SQLite file is shared by them) and hands it to the stores; the CLI (``authz keys``,
``authz state``) opens one without starting the watcher. The key file is created only for a
SQLite state (a local, single-machine store); with PostgreSQL it must exist, since every
replica must seal and unseal with the same key. Must not import grpc or cedarpy.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from authz.state.db import Database, open_database
from authz.state.sealing import Sealer
from authz.state.watch import StateWatcher

__all__ = ["RuntimeState", "is_local_url", "open_state"]


def is_local_url(url: str) -> bool:
    """True for a SQLite state URL (one machine: its key file may be created)."""
    return url.split(":", 1)[0].lower() == "sqlite"


@dataclass(frozen=True)
class RuntimeState:
    db: Database
    watcher: StateWatcher
    sealer: Sealer

    def start(self) -> None:
        """Start polling for changes made by other processes and replicas."""
        self.watcher.start()

    def close(self) -> None:
        """Stop the watcher, then close the database (idempotent)."""
        self.watcher.stop()
        self.db.close()


def open_state(
    url: str,
    key_file: Path,
    *,
    poll_seconds: float = 0.25,
    stale_seconds: float = 5.0,
) -> RuntimeState:
    """Open the key file (created only for SQLite), then the database (migrated at open).
    Raises ``SealError`` for an unusable key file, ``ValidationError`` for a bad URL and
    ``StateUnavailable`` when the database cannot be opened."""
    sealer = Sealer.from_key_file(key_file, create=is_local_url(url))
    db = open_database(url)
    try:
        watcher = StateWatcher(db, poll_seconds=poll_seconds, stale_after=stale_seconds)
    except BaseException:
        with contextlib.suppress(Exception):
            db.close()
        raise
    return RuntimeState(db, watcher, sealer)
