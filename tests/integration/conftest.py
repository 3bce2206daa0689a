"""Fixtures: an in-process server on 127.0.0.1 port 0 over the fake backend, and clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from authz.client import AccessKeyCredentials, AuthzClient
from authz.server import AuthzServer, ServerConfig, create_server
from tests.integration.fakes import ALICE_KEY, ENFORCER_ARN, ENFORCER_KEY, FakeBackend

ServerFactory = Callable[..., AuthzServer]


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def audit_path(tmp_path: Path) -> Path:
    return tmp_path / "audit.jsonl"


@pytest.fixture
def make_server(backend: FakeBackend, audit_path: Path) -> Iterator[ServerFactory]:
    servers: list[AuthzServer] = []

    def make(**overrides: Any) -> AuthzServer:
        settings: dict[str, Any] = {
            "listen": "127.0.0.1:0",
            "metrics_listen": None,
            "audit_path": str(audit_path),
            "health_interval_seconds": 0.05,
            "shutdown_grace_seconds": 2.0,
            "max_workers": 8,
            "max_concurrent_rpcs": 4,
            "max_batch_size": 5,
            "trusted_principal_arns": frozenset({ENFORCER_ARN}),
            # these edge tests drive raw channels with fixed metadata (a loopback experiment);
            # AuthzClient signs regardless, and tests/security/test_grpc_signing.py checks
            # the defaults (both off) against a real server
            "allow_plaintext_secret": True,
            "allow_bearer_sessions": True,
        }
        settings.update(overrides)
        server = create_server(overrides.pop("backend", backend), ServerConfig(**settings))
        server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.shutdown(grace=0)


@pytest.fixture
def server(make_server: ServerFactory) -> AuthzServer:
    return make_server()


@pytest.fixture
def target(server: AuthzServer) -> str:
    return f"127.0.0.1:{server.port}"


@pytest.fixture
def client(target: str) -> Iterator[AuthzClient]:
    with AuthzClient(target, AccessKeyCredentials(*ALICE_KEY), timeout=5) as c:
        yield c


@pytest.fixture
def enforcer(target: str) -> Iterator[AuthzClient]:
    with AuthzClient(target, AccessKeyCredentials(*ENFORCER_KEY), timeout=5) as c:
        yield c


@pytest.fixture
def channel(target: str) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(target) as ch:
        yield ch
