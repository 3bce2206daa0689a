"""Fixtures for the attack tests: the end-to-end fixtures (a real backend and gRPC server on
127.0.0.1 port 0, the example repository, a throw-away PKI)."""

from tests.integration.e2e.conftest import example_repo, pki, start_server

__all__ = ["example_repo", "pki", "start_server"]
