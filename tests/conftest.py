"""Fixtures shared by every test package: the throwaway PostgreSQL server (started once per
session, only when a test asks for it) and a fresh state database of either backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres_server import PostgresServer, running_server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with running_server() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a new, empty state database: SQLite in ``tmp_path``, or a new database on
    the session's PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database()
