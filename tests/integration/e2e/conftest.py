"""Fixtures for the end-to-end tests: real backend, real gRPC server on 127.0.0.1 port 0."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.e2e.harness import Pki, ServerFactory, server_factory

EXAMPLE_REPO = Path(__file__).resolve().parents[3] / "policies"


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[ServerFactory]:
    """``start_server(repo_dir, **settings)`` → a running ``E2EServer``; stopped afterwards."""
    yield from server_factory(tmp_path / "run")


@pytest.fixture
def example_repo(tmp_path: Path) -> Path:
    """A copy of the example repository ``policies/``."""
    return Path(shutil.copytree(EXAMPLE_REPO, tmp_path / "policies"))
