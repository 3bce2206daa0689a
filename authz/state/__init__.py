"""Run-time state (access keys, MFA devices and their code ledger, attempt counters,
revocations, signing keys) in a database shared by every worker and replica: SQLite for one
machine, PostgreSQL for a fleet. ``db`` is the interface, ``sqlite``/``postgres`` the backends,
``migrate`` the schema, ``watch`` the change poller."""

from authz.state.db import (
    Database,
    StateConflict,
    StateUnavailable,
    Tx,
    open_database,
    redact_url,
)
from authz.state.watch import StateWatcher

__all__ = [
    "Database",
    "StateConflict",
    "StateUnavailable",
    "StateWatcher",
    "Tx",
    "open_database",
    "redact_url",
]
