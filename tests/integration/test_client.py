"""The client SDK: credentials metadata keys and the refreshing credentials provider."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from authz import errors
from authz.client import (
    AccessKeyCredentials,
    AuthzClient,
    RefreshingCredentialsProvider,
    SessionCredentials,
)
from authz.server import ACCESS_KEY_ID_KEY, AUTHORIZATION_KEY, SECRET_ACCESS_KEY_KEY
from tests.integration.fakes import ROLE_ARN, FakeBackend

T0 = datetime(2024, 1, 1, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def test_metadata_keys_match_the_server() -> None:
    keys = [k for k, _ in AccessKeyCredentials("id", "secret").metadata()]
    assert keys == [ACCESS_KEY_ID_KEY, SECRET_ACCESS_KEY_KEY]
    assert SessionCredentials("t", T0).metadata() == ((AUTHORIZATION_KEY, "Bearer t"),)
    assert "secret" not in repr(AccessKeyCredentials("id", "secret"))


def _provider(clock: FakeClock, fail: list[bool]) -> RefreshingCredentialsProvider:
    counter = iter(range(100))

    def fetch() -> SessionCredentials:
        if fail and fail[0]:
            raise errors.ServiceUnavailable("sts down")
        return SessionCredentials(f"token-{next(counter)}", clock.now + timedelta(hours=1))

    return RefreshingCredentialsProvider(
        fetch,
        refresh_margin=timedelta(minutes=5),
        advisory_margin=timedelta(minutes=15),
        clock=clock,
    )


def test_refreshes_before_expiry() -> None:
    clock, fail = FakeClock(), [False]
    provider = _provider(clock, fail)
    assert provider.credentials().token == "token-0"
    clock.now = T0 + timedelta(minutes=44)
    assert provider.credentials().token == "token-0"  # outside both margins
    clock.now = T0 + timedelta(minutes=46)  # advisory window: refresh
    assert provider.credentials().token == "token-1"
    assert provider.refresh_count == 2


def test_advisory_failure_keeps_current_mandatory_failure_raises() -> None:
    clock, fail = FakeClock(), [False]
    provider = _provider(clock, fail)
    provider.credentials()
    fail[0] = True
    clock.now = T0 + timedelta(minutes=50)
    assert provider.credentials().token == "token-0"
    clock.now = T0 + timedelta(minutes=56)
    with pytest.raises(errors.ServiceUnavailable):
        provider.credentials()
    fail[0] = False
    assert provider.credentials().token == "token-1"


def test_concurrent_callers_refresh_once() -> None:
    clock = FakeClock()
    calls: list[int] = []
    gate = threading.Event()

    def fetch() -> SessionCredentials:
        calls.append(1)
        gate.wait(2)
        return SessionCredentials("t", clock.now + timedelta(hours=1))

    provider = RefreshingCredentialsProvider(fetch, clock=clock)
    threads = [threading.Thread(target=provider.credentials) for _ in range(8)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(3)
    assert len(calls) == 1


def test_assume_role_provider_against_the_server(
    client: AuthzClient, target: str, backend: FakeBackend
) -> None:
    clock = FakeClock()
    clock.now = datetime.now(UTC)
    provider = client.assume_role_provider(
        ROLE_ARN, "worker", duration_seconds=900, refresh_margin=timedelta(minutes=1), clock=clock
    )
    with AuthzClient(target, provider) as app:
        first = app.get_caller_identity().arn
        token = provider.credentials().token
        clock.now += timedelta(minutes=14)  # inside the margin: the next call refreshes
        assert app.get_caller_identity().arn == first
        clock.now = datetime.now(UTC)  # the fake backend stamps expiry with the real time
        assert provider.credentials().token != token
    assert provider.refresh_count == 2
    assert sum(1 for c in backend.calls if c[0] == "assume_role") == 2
