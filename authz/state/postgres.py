"""The PostgreSQL backend of the state database, for replicas on several machines.

Owns a ``psycopg_pool.ConnectionPool`` (psycopg 3; ``min_size`` 1, ``max_size`` from the
options, connections checked before use), the translation of the portable ``?`` placeholders
into psycopg's ``%s``, and the mapping of driver errors: a unique or primary-key violation is
``StateConflict``; anything that means the database cannot be used (connection refused or
lost, pool timeout, read-only, server shutting down) is ``StateUnavailable`` with the detail
logged (the password never: only ``display_url`` is). Transactions run at READ COMMITTED;
the stores write with single-statement upserts and constraints, which that level makes safe.
Must not import grpc or cedarpy.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import ConnectionPool, PoolTimeout

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
    redact_url,
)

__all__ = ["PostgresDatabase"]

log = logging.getLogger("authz.state.postgres")


def _pg(sql: str) -> str:
    return sql.replace("?", "%s")


class _PgTx:
    __slots__ = ("_conn",)

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Params = ()) -> list[Row]:
        cur = self._conn.execute(_pg(sql), tuple(params), prepare=False)
        return [tuple(r) for r in cur.fetchall()] if cur.description is not None else []

    def bump(self, topic: str) -> None:
        self.execute(BUMP_SQL, (check_topic(topic),))


class PostgresDatabase:
    """A state database on a PostgreSQL server."""

    def __init__(self, pool: ConnectionPool[Any], url: str, timeout: float) -> None:
        self._pool = pool
        self._url = redact_url(url)
        self._timeout = timeout

    @classmethod
    def open(cls, url: str, *, max_connections: int = 8, timeout: float = 5.0) -> PostgresDatabase:
        from authz.state.migrate import apply_migrations

        pool: ConnectionPool[Any] = ConnectionPool(
            url,
            min_size=1,
            max_size=max_connections,
            timeout=timeout,
            open=False,
            check=ConnectionPool.check_connection,
            kwargs={"connect_timeout": max(1, int(timeout)), "autocommit": False},
            name="authz-state",
        )
        db = cls(pool, url, timeout)
        try:
            pool.open(wait=True, timeout=timeout)
        except (PoolTimeout, psycopg.Error) as err:
            pool.close()
            log.error("cannot connect to the state database %s: %s", db._url, err)
            raise StateUnavailable(STATE_UNAVAILABLE) from err
        try:
            apply_migrations(db)
        except BaseException:
            pool.close()
            raise
        return db

    @property
    def dialect(self) -> Dialect:
        return "postgresql"

    @property
    def display_url(self) -> str:
        return self._url

    @contextlib.contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[_PgTx]:
        try:
            with self._pool.connection(timeout=self._timeout) as conn, conn.transaction():
                yield _PgTx(conn)
        except pg_errors.UniqueViolation as err:
            raise StateConflict(str(err).splitlines()[0]) from err
        except (PoolTimeout, psycopg.Error) as err:
            log.error("state database %s unavailable: %s", self._url, err)
            raise StateUnavailable(STATE_UNAVAILABLE) from err

    def versions(self) -> dict[str, int]:
        return read_versions(self)

    def close(self) -> None:
        self._pool.close()
