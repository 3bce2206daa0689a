"""Test helper: a "node" = what one authz process holds of the run-time state — its own
database pool, its own ``StateWatcher`` and the stores built on them — so that two nodes on the
same database behave like two replicas (or two ``--workers``)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from authz.state import StateWatcher, open_database
from authz.state.db import Database
from authz.state.sealing import Sealer, new_key_line
from authz.sts.credentials import CredentialStore


def error_json(stderr: str) -> dict[str, Any]:
    """The AWS error JSON ``authz`` prints last on stderr (log lines of the in-process state
    code may come before it when an earlier test pointed the ``authz`` loggers at stderr)."""
    parsed: dict[str, Any] = json.loads(stderr[stderr.rindex('{\n  "Error"') :])
    return parsed


def shared_key(directory: Path) -> Path:
    """The one key file every node of a test shares (as a fleet shares a Secret)."""
    path = directory / "state.key"
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        path.write_bytes(new_key_line())
        path.chmod(0o600)
    return path


@dataclass
class Node:
    db: Database
    watcher: StateWatcher
    sealer: Sealer
    credentials: CredentialStore

    def close(self) -> None:
        self.watcher.stop()
        self.db.close()


def open_node(
    url: str,
    key_file: Path,
    *,
    start: bool = False,
    poll_seconds: float = 0.25,
    stale_after: float = 5.0,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
) -> Node:
    """A node on the database at ``url``. ``start``: run its watcher thread (as ``authz
    serve`` does); otherwise it has polled once (fresh for ``stale_after`` of ``clock``)."""
    db = open_database(url)
    watcher = StateWatcher(db, poll_seconds=poll_seconds, stale_after=stale_after, clock=clock)
    sealer = Sealer.from_key_file(key_file, create=False)
    store = CredentialStore(db, sealer, watcher, clock=wall_clock)
    if start:
        watcher.start()
    else:
        watcher.poll_once()
    return Node(db, watcher, sealer, store)
