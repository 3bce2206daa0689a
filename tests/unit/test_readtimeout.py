"""The request-read watchdog (``authz.server.readtimeout``): unread calls are cancelled after the
read timeout, one peer's stalled calls beyond its share at once, and the watcher parks when
nothing has been unread for a while and wakes for the next call (so that a lightly loaded server
does not wake it on every call, and an idle one does not tick)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from authz.server.readtimeout import ReadWatchdog


class _Call:
    def __init__(self) -> None:
        self.cancelled = threading.Event()

    def cancel(self) -> bool:
        self.cancelled.set()
        return True


@pytest.fixture
def expired() -> list[str]:
    return []


@pytest.fixture
def dog(expired: list[str]) -> Iterator[ReadWatchdog]:
    watchdog = ReadWatchdog(
        0.3, max_stalled_per_peer=2, stall_after=0.05, tick=0.01, park_after=0.1,
        on_expire=expired.append,
    )  # fmt: skip
    yield watchdog
    watchdog.close()


def _until(predicate: object, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.005)
    return False


def test_a_call_read_in_time_is_not_cancelled(dog: ReadWatchdog, expired: list[str]) -> None:
    call = _Call()
    token = dog.watch(call, "ipv4:10.0.0.1:5000")
    assert dog.done(token) is True
    time.sleep(0.4)  # past the read timeout
    assert not call.cancelled.is_set() and expired == []


def test_an_unread_call_is_cancelled_after_the_read_timeout(
    dog: ReadWatchdog, expired: list[str]
) -> None:
    call = _Call()
    started = time.monotonic()
    token = dog.watch(call, "ipv4:10.0.0.1:5000")
    assert call.cancelled.wait(3.0)
    assert 0.3 <= time.monotonic() - started < 2.0
    assert expired == ["read_timeout"]
    assert dog.done(token) is False  # it was cancelled by the watchdog


def test_a_peers_stalled_calls_beyond_its_share_are_cancelled_at_once() -> None:
    expired: list[str] = []
    # a long read timeout: only the stalled-peer rule can cancel within this test
    dog = ReadWatchdog(
        30.0, max_stalled_per_peer=2, stall_after=0.05, tick=0.01, on_expire=expired.append
    )
    try:
        calls = [_Call() for _ in range(4)]
        tokens = [dog.watch(c, "ipv4:10.0.0.9:6000") for c in calls]
        assert _until(lambda: calls[2].cancelled.is_set() and calls[3].cancelled.is_set())
        assert not calls[0].cancelled.is_set() and not calls[1].cancelled.is_set()  # the oldest
        assert expired == ["stalled_peer", "stalled_peer"]
        for t in tokens[:2]:
            assert dog.done(t) is True
    finally:
        dog.close()


def test_the_watcher_parks_when_idle_and_the_next_call_wakes_it(
    dog: ReadWatchdog, expired: list[str]
) -> None:
    assert _until(lambda: dog.parked)  # nothing unread for park_after
    call = _Call()
    started = time.monotonic()
    dog.watch(call, "ipv4:10.0.0.1:5000")
    assert not dog.parked  # watch() woke it
    assert call.cancelled.wait(3.0)  # ... and it still enforces the timeout
    assert 0.3 <= time.monotonic() - started < 2.0
    assert expired == ["read_timeout"]


def test_the_watcher_does_not_park_in_a_short_lull() -> None:
    """Gaps between calls shorter than ``park_after`` leave it ticking (it used to park at the
    first look that found nothing unread, and every next call had to wake it)."""
    dog = ReadWatchdog(30.0, tick=0.005, park_after=5.0)
    try:
        for _ in range(20):
            token = dog.watch(_Call(), "ipv4:10.0.0.1:5000")
            time.sleep(0.002)
            dog.done(token)
            time.sleep(0.02)  # four empty looks
            assert not dog.parked
    finally:
        dog.close()


def test_close_stops_a_parked_watcher() -> None:
    watchdog = ReadWatchdog(1.0, tick=0.01, park_after=0.02)
    assert _until(lambda: watchdog.parked)
    watchdog.close()
    assert not watchdog._watcher.is_alive()
