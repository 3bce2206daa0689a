"""Schema migrations of the state database, shared by both backends.

Owns the ordered list of migrations (``authz/state/migrations/NNNN_name.sql``, portable SQL
both engines accept; a migration that cannot be portable ships as the pair
``NNNN_name.sqlite.sql`` + ``NNNN_name.postgresql.sql``), the ``schema_migrations`` table that
records what was applied, and applying what is missing in ONE transaction under a lock
(SQLite: the write lock of ``BEGIN IMMEDIATE``; PostgreSQL: a transaction-scoped advisory
lock), so replicas starting together migrate once and never see half a schema. Migrations are
additive (new tables, new nullable columns), so a node running the previous release keeps
working while a newer one has migrated; a database that records a migration this code does not
know is served with a warning (a newer release migrated it). Statements are split on ``;`` at
the end of a line: no semicolons inside string literals. Must not import grpc or cedarpy.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from importlib import resources

from authz.state.db import Database, Dialect

__all__ = ["Migration", "apply_migrations", "migrations"]

log = logging.getLogger("authz.state.migrate")

_ADVISORY_LOCK = 0x617574687A  # "authz": serialises migrations of every replica (PostgreSQL)


@dataclass(frozen=True)
class Migration:
    version: str  # "0001_state_versions"
    portable: str | None
    per_dialect: dict[str, str]

    def statements(self, dialect: Dialect) -> list[str]:
        text = self.per_dialect.get(dialect, self.portable)
        if text is None:
            raise ValueError(f"migration `{self.version}` has no SQL for {dialect}")
        out, current = [], []
        for line in text.splitlines():
            if line.strip().startswith("--"):
                continue
            current.append(line)
            if line.rstrip().endswith(";"):
                stmt = "\n".join(current).strip().rstrip(";").strip()
                if stmt:
                    out.append(stmt)
                current = []
        tail = "\n".join(current).strip()
        if tail:
            out.append(tail)
        return out


def migrations() -> list[Migration]:
    """Every migration shipped with this code, in order."""
    found: dict[str, Migration] = {}
    for entry in resources.files("authz.state").joinpath("migrations").iterdir():
        name = entry.name
        if not name.endswith(".sql"):
            continue
        stem = name[: -len(".sql")]
        version, _, dialect = stem.partition(".")
        current = found.get(version, Migration(version, None, {}))
        text = entry.read_text(encoding="utf-8")
        if dialect:
            current = Migration(version, current.portable, {**current.per_dialect, dialect: text})
        else:
            current = Migration(version, text, current.per_dialect)
        found[version] = current
    return [found[v] for v in sorted(found)]


def apply_migrations(db: Database) -> list[str]:
    """Apply the migrations ``db`` lacks; the versions applied now (``[]`` if none)."""
    applied: list[str] = []
    with db.transaction() as tx:
        if db.dialect == "postgresql":
            tx.execute("SELECT pg_advisory_xact_lock(?)", (_ADVISORY_LOCK,))
        tx.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)"
        )
        done = {row[0] for row in tx.execute("SELECT version FROM schema_migrations")}
        known = set()
        for migration in migrations():
            known.add(migration.version)
            if migration.version in done:
                continue
            for statement in migration.statements(db.dialect):
                tx.execute(statement)
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                (migration.version, int(time.time())),
            )
            applied.append(migration.version)
    if applied:
        log.info("state database %s: applied migrations %s", db.display_url, ", ".join(applied))
    if unknown := sorted(done - known):
        log.warning(
            "state database %s has migrations this release does not know (%s): a newer "
            "release migrated it",
            db.display_url,
            ", ".join(unknown),
        )
    return applied
