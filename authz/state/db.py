"""The run-time state database: one small interface over SQLite and PostgreSQL.

Owns opening a database from a URL (``sqlite:///path/to/state.db`` or
``postgresql://user@host:port/dbname``; ``postgres://`` is accepted), the transaction and
error vocabulary every store uses, and the *version counters* that tell other processes and
replicas that a kind of state changed (``state_versions``: one row per topic, bumped in the
same transaction as the change, polled by ``authz.state.watch``).

SQL written against this interface is the portable subset both engines accept: ``?``
placeholders (the PostgreSQL backend turns them into ``%s``; no literal ``?`` or ``%`` in SQL
text), ``BIGINT``/``TEXT`` columns (binary values base64 text), ``INSERT … ON CONFLICT …
DO …`` and ``RETURNING``. Migrations live in ``authz/state/migrations`` (``authz.state.migrate``).

Errors, for the stores to map onto AWS codes:

* ``StateUnavailable`` (a ``ServiceUnavailable``): the database cannot be reached, opened or
  written — the caller must fail closed. The message never carries the URL's password.
* ``StateConflict``: a unique or primary-key constraint refused a write (a replayed MFA code,
  a duplicate id) — the stores decide what it means.

Must not import grpc or cedarpy.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit, urlunsplit

from authz.errors import ServiceUnavailable, ValidationError

__all__ = [
    "Database",
    "Params",
    "Row",
    "StateConflict",
    "StateUnavailable",
    "Tx",
    "open_database",
    "redact_url",
]

Dialect = Literal["sqlite", "postgresql"]
Params = Sequence[Any]
Row = tuple[Any, ...]
_TOPIC = re.compile(r"[a-z][a-z0-9_]{0,62}")
# What a caller sees while the state database cannot be used: no URL, no driver message
# (both are logged server-side).
STATE_UNAVAILABLE = "The service cannot reach its state store right now. Try again later."


class StateUnavailable(ServiceUnavailable):
    """The state database cannot be used now (unreachable, locked too long, read-only,
    corrupt). Fail closed."""


class StateConflict(Exception):
    """A write broke a unique or primary-key constraint (the row exists already)."""


class Tx(Protocol):
    """One open transaction. Everything done through it commits together at the end of the
    ``with`` block, or not at all if the block raises."""

    def execute(self, sql: str, params: Params = ()) -> list[Row]:
        """Run one statement with ``?`` placeholders; the rows it returns (``[]`` if none)."""
        ...

    def bump(self, topic: str) -> None:
        """Mark ``topic`` changed (its version + 1), committed with the transaction."""
        ...


class Database(Protocol):
    """A connection pool to one state database, safe to share between threads."""

    @property
    def dialect(self) -> Dialect: ...

    @property
    def display_url(self) -> str:
        """The URL without its password (for logs and status)."""
        ...

    def transaction(self, *, write: bool = True) -> AbstractContextManager[Tx]:
        """A transaction. ``write=False`` promises no writes (SQLite then takes no write
        lock). Raises ``StateUnavailable`` when the database cannot be used and
        ``StateConflict`` when a constraint refused a write (the transaction is rolled back)."""
        ...

    def versions(self) -> dict[str, int]:
        """Every topic's version: one cheap read, polled by ``authz.state.watch``."""
        ...

    def close(self) -> None: ...


BUMP_SQL = (
    "INSERT INTO state_versions (topic, version) VALUES (?, 1) "
    "ON CONFLICT (topic) DO UPDATE SET version = state_versions.version + 1"
)


def read_versions(db: Database) -> dict[str, int]:
    """Every topic's version (the body of both backends' ``versions``)."""
    with db.transaction(write=False) as tx:
        rows = tx.execute("SELECT topic, version FROM state_versions")
        return {topic: int(v) for topic, v in rows}


def check_topic(topic: str) -> str:
    if not _TOPIC.fullmatch(topic):
        raise ValueError(f"bad state topic `{topic}`")
    return topic


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


def open_database(url: str, **options: Any) -> Database:
    """Open (creating and migrating if needed) the state database at ``url``.

    ``sqlite:///relative/or/absolute/path.db`` (``sqlite:////abs`` also works) or
    ``postgresql://…`` (libpq URL; a password is better given by ``PGPASSWORD`` or
    ``~/.pgpass`` than in the URL). Raises ``ValidationError`` for a URL that is neither,
    ``StateUnavailable`` when the database cannot be opened."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "sqlite":
        from authz.state.sqlite import SqliteDatabase

        return SqliteDatabase.open(_sqlite_path(url), **options)
    if scheme in ("postgresql", "postgres"):
        from authz.state.postgres import PostgresDatabase

        return PostgresDatabase.open(url, **options)
    raise ValidationError(
        f"state_url `{redact_url(url)}`: expected `sqlite:///PATH` or `postgresql://…`"
    )


def _sqlite_path(url: str) -> str:
    """``sqlite:///rel/x.db`` -> ``rel/x.db``; ``sqlite:////abs/x.db`` -> ``/abs/x.db``."""
    rest = url.split(":", 1)[1]
    if not rest.startswith("///") or len(rest) == 3:
        raise ValidationError(f"state_url `{url}`: a SQLite URL is `sqlite:///PATH`")
    return rest[3:]
