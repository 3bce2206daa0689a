"""The fleet: three ``authz serve`` processes over one PostgreSQL state database (the session's
throwaway server, ``tests/postgres_server.py``; missing binaries are an error, not a skip —
``make test`` installs them) and one policy repository, started once for the package."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.fleet.harness import Fleet, start_fleet
from tests.postgres_server import PostgresServer


@pytest.fixture(scope="package")
def fleet(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fleet]:
    started = start_fleet(tmp_path_factory.mktemp("fleet"), postgres_server.create_database())
    try:
        yield started
    finally:
        started.close()
