"""Noticing run-time state changed elsewhere: the version poller.

Owns one daemon thread per process that reads ``state_versions`` every ``poll_seconds``
(default 0.25 s) and calls each subscriber whose topic's version moved, so a store reloads
its in-memory copy off the request path. A change committed on any node or worker reaches
every other within ``poll_seconds`` + the subscriber's reload time: that is the stated bound.

Failing closed: ``fresh()`` is true while the last successful poll is younger than
``stale_after`` (default 5 s). A store whose answer depends on state it can no longer check
(an access key that may have been deactivated, a revoked session) refuses with
``StateUnavailable`` while ``fresh()`` is false. A subscriber that raises is retried at the
next poll (its version is not recorded as seen). Must not import grpc or cedarpy.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from authz.state.db import Database, StateUnavailable, check_topic

__all__ = ["StateWatcher"]

log = logging.getLogger("authz.state.watch")

Subscriber = Callable[[int], None]


class StateWatcher:
    """Polls the version counters of ``db`` and notifies subscribers of changed topics."""

    def __init__(
        self,
        db: Database,
        *,
        poll_seconds: float = 0.25,
        stale_after: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._poll = poll_seconds
        self._stale_after = stale_after
        self._clock = clock
        self._subscribers: dict[str, list[Subscriber]] = {}
        self._seen: dict[str, int] = {}
        self._last_ok: float | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        # not `_thread`: mypyc names the C struct's field after it, and `__thread` is a C keyword
        self._poller: threading.Thread | None = None
        self.failures = 0  # polls that could not read the database (a metric)

    @property
    def poll_seconds(self) -> float:
        return self._poll

    def subscribe(self, topic: str, callback: Subscriber) -> None:
        """Call ``callback(version)`` (in the poller thread) whenever ``topic`` changes, and
        at the first poll after subscribing."""
        with self._lock:
            self._subscribers.setdefault(check_topic(topic), []).append(callback)
            self._seen.pop(topic, None)

    def fresh(self) -> bool:
        last = self._last_ok
        return last is not None and self._clock() - last <= self._stale_after

    def poll_once(self) -> None:
        """One poll (the thread's loop body; tests call it directly)."""
        try:
            versions = self._db.versions()
        except StateUnavailable:
            self.failures += 1
            return
        self._last_ok = self._clock()
        with self._lock:
            due = [
                (topic, versions.get(topic, 0), list(callbacks))
                for topic, callbacks in self._subscribers.items()
                if self._seen.get(topic) != versions.get(topic, 0)
            ]
        for topic, version, callbacks in due:
            try:
                for callback in callbacks:
                    callback(version)
            except Exception:
                log.exception("reloading state %s (version %d) failed; retrying", topic, version)
                continue
            with self._lock:
                self._seen[topic] = version

    def start(self) -> None:
        if self._poller is not None:
            return
        self.poll_once()
        self._poller = threading.Thread(target=self._run, name="authz-state-watch", daemon=True)
        self._poller.start()

    def _run(self) -> None:
        while not self._stop.wait(self._poll):
            self.poll_once()

    def stop(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=2 * self._poll + 1)
            self._poller = None
