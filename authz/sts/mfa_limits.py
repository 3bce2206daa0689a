"""Attempt limits for MFA codes: how many wrong TOTP codes a device or a user may send before
further codes are refused unchecked for a while (exponential back-off).

Owns the failure counters and lockout windows only; ``authz.sts.service`` asks ``begin``
before checking a code and reports the outcome with ``record``. Two implementations of the same
rules: ``SharedAttemptLimiter`` keeps the counters in the state database (table
``mfa_attempts``), shared by every worker and replica, so a guesser cannot spread guesses over
them — the server uses it; ``AttemptLimiter`` keeps them in this process (tests, and a service
built without a state database). Imports neither grpc nor cedarpy.

Rules, per key (a device as used by one caller, and the user across all devices):

* each wrong code counts a failure; a correct code resets the keys it was checked under;
* once ``max_failures`` failures have accumulated, the key is locked for
  ``lockout_seconds`` × 2^(failures − ``max_failures``), at most ``max_lockout_seconds``;
* while locked, codes are refused without being checked (so guessing learns nothing and the
  window cannot be searched); a refused attempt does not count, so the owner can sign in
  once the window has passed;
* a key with no failure for ``max_lockout_seconds`` is forgotten (its count restarts).

The device key is (serial number, caller): codes sent by another user for someone's device are
refused anyway (the device is not theirs) and count against that user only, so nobody can
lock a device they do not own.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from authz.errors import ServiceUnavailable
from authz.state import Database, StateUnavailable

__all__ = ["AttemptLimiter", "Limiter", "MfaLimits", "SharedAttemptLimiter"]

log = logging.getLogger("authz.sts.mfa_limits")

Key = tuple[str, ...]
# What a caller sees while the counters cannot be used (as authz.sts.mfa says it).
MFA_LIMITS_UNAVAILABLE = "The service cannot check MFA codes right now. Try again later."
PRUNE_EVERY_SECONDS = 60.0


@dataclass(frozen=True)
class MfaLimits:
    """Settings (``mfa_max_failures``, ``mfa_lockout_seconds``, ``mfa_max_lockout_seconds``)."""

    max_failures: int = 5
    lockout_seconds: float = 60.0
    max_lockout_seconds: float = 3600.0
    max_tracked: int = 100_000  # keys kept (LRU); bounded by the users and devices that exist


class Limiter(Protocol):
    """What ``authz.sts.service`` needs of a limiter."""

    limits: MfaLimits
    failures: int
    lockouts: int
    throttled: int
    unavailable: int

    def begin(self, keys: list[Key]) -> float:
        """Before a code is checked: seconds the caller must wait (0.0: check it)."""
        ...

    def record(self, keys: list[Key], success: bool) -> bool:
        """After a code was checked; True when the keys are locked now."""
        ...


def lockout_window(limits: MfaLimits, failures: int) -> float:
    """Seconds a key with ``failures`` failures (at least ``max_failures``) stays locked."""
    over = failures - limits.max_failures
    return min(limits.lockout_seconds * 2.0 ** min(over, 32), limits.max_lockout_seconds)


@dataclass
class _Entry:
    failures: int = 0
    locked_until: float = 0.0
    last_failure: float = 0.0


class AttemptLimiter:
    """Failure counters and lockouts by key. Thread-safe."""

    def __init__(self, limits: MfaLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock  # monotonic seconds; replaceable (tests move time forward)
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, ...], _Entry] = OrderedDict()
        self.failures = 0  # wrong codes counted (metrics)
        self.lockouts = 0  # times a key became locked
        self.throttled = 0  # attempts refused unchecked while locked
        self.unavailable = 0  # never: nothing to reach

    def begin(self, keys: list[tuple[str, ...]]) -> float:
        """Seconds until every key is unlocked (0.0 when none is locked: check the code);
        counts a refusal."""
        return self.blocked(keys)

    def blocked(self, keys: list[tuple[str, ...]]) -> float:
        """Seconds until every key is unlocked (0.0 when none is locked); counts a refusal."""
        now = self.clock()
        with self._lock:
            entries = [self._entries.get(key) for key in keys]
            wait = max((e.locked_until - now for e in entries if e is not None), default=0.0)
            if wait > 0:
                self.throttled += 1
        return max(wait, 0.0)

    def record(self, keys: list[tuple[str, ...]], success: bool) -> bool:
        """Count the outcome of a checked code; True when a key became locked by it."""
        now = self.clock()
        locked = False
        with self._lock:
            if success:
                for key in keys:
                    self._entries.pop(key, None)
                return False
            self.failures += 1
            for key in keys:
                entry = self._live(key, now)
                entry.failures += 1
                entry.last_failure = now
                if entry.failures >= self.limits.max_failures:
                    entry.locked_until = now + lockout_window(self.limits, entry.failures)
                    locked = True
            if locked:
                self.lockouts += 1
        return locked

    def _live(self, key: tuple[str, ...], now: float) -> _Entry:
        """The key's entry (created, or restarted when idle); call under the lock."""
        entry = self._entries.get(key)
        idle = entry is not None and (
            now - entry.last_failure > self.limits.max_lockout_seconds and now >= entry.locked_until
        )
        if entry is None or idle:
            entry = self._entries[key] = _Entry()
            while len(self._entries) > self.limits.max_tracked:
                self._entries.popitem(last=False)
        self._entries.move_to_end(key)
        return entry


class _Locked(Exception):
    def __init__(self, wait: float) -> None:
        super().__init__(wait)
        self.wait = wait


class SharedAttemptLimiter:
    """The same rules with the counters in the state database (``mfa_attempts``), shared by
    every worker and replica. Thread-safe.

    An attempt is counted *before* its code is checked (``begin``: one atomic
    ``INSERT … ON CONFLICT DO UPDATE SET failures = failures + 1 … RETURNING``) and the count
    is cleared when the code was right (``record``): so N guesses sent at once to N replicas
    are N attempts, and the attempt that reaches ``max_failures`` locks the key for everyone
    before it is even checked — at most ``max_failures`` codes are ever checked per lockout
    window, however the guesses are spread. The database serialises the increments (SQLite's
    write lock, PostgreSQL's row lock). Times are wall-clock epoch milliseconds, shared by the
    nodes. Failing closed: when the database cannot be used, ``begin`` raises
    ``ServiceUnavailable`` and no code is checked. Idle unlocked rows are pruned (at most once
    a minute per process), so the table holds only keys that failed recently."""

    def __init__(
        self, db: Database, limits: MfaLimits, clock: Callable[[], float] = time.time
    ) -> None:
        self._db = db
        self.limits = limits
        self.clock = clock  # wall-clock seconds; replaceable (tests move time forward)
        self._last_prune = float("-inf")
        self._stats = threading.Lock()
        self.failures = 0  # wrong codes counted by this process (metrics)
        self.lockouts = 0  # times this process locked a key
        self.throttled = 0  # attempts this process refused unchecked while locked
        self.unavailable = 0  # attempts refused because the database could not be used

    def begin(self, keys: list[Key]) -> float:
        now = self.clock()
        now_ms = int(now * 1000)
        idle_ms = int(self.limits.max_lockout_seconds * 1000)
        locked = False
        try:
            with self._db.transaction() as tx:
                if now - self._last_prune >= PRUNE_EVERY_SECONDS:
                    self._last_prune = now
                    tx.execute(
                        "DELETE FROM mfa_attempts WHERE locked_until <= ? AND last_failure < ?",
                        (now_ms, now_ms - idle_ms),
                    )
                counts = []
                for key in keys:
                    [(failures, locked_until)] = tx.execute(
                        "INSERT INTO mfa_attempts (attempt_key, failures, locked_until, "
                        "last_failure) VALUES (?, 1, 0, ?) ON CONFLICT (attempt_key) DO UPDATE "
                        "SET failures = CASE WHEN mfa_attempts.last_failure < ? AND "
                        "mfa_attempts.locked_until <= ? THEN 1 ELSE mfa_attempts.failures + 1 "
                        "END, last_failure = excluded.last_failure "
                        "RETURNING failures, locked_until",
                        (_encode(key), now_ms, now_ms - idle_ms, now_ms),
                    )
                    counts.append((key, int(failures)))
                    if int(locked_until) > now_ms:  # rolls the increments back: not counted
                        raise _Locked((int(locked_until) - now_ms) / 1000)
                for key, failures in counts:
                    if failures >= self.limits.max_failures:
                        until = now + lockout_window(self.limits, failures)
                        tx.execute(
                            "UPDATE mfa_attempts SET locked_until = ? WHERE attempt_key = ?",
                            (int(until * 1000), _encode(key)),
                        )
                        locked = True
        except _Locked as refused:
            with self._stats:
                self.throttled += 1
            return refused.wait
        except StateUnavailable:
            with self._stats:
                self.unavailable += 1
            log.error("MFA attempt counters unavailable: refusing MFA codes unchecked")
            raise ServiceUnavailable(
                MFA_LIMITS_UNAVAILABLE, reason="mfa_store_unavailable"
            ) from None
        if locked:
            with self._stats:
                self.lockouts += 1
        return 0.0

    def record(self, keys: list[Key], success: bool) -> bool:
        encoded = [_encode(key) for key in keys]
        marks = ", ".join("?" for _ in encoded)
        try:
            if success:
                with self._db.transaction() as tx:
                    tx.execute(f"DELETE FROM mfa_attempts WHERE attempt_key IN ({marks})", encoded)
                return False
            with self._stats:
                self.failures += 1
            with self._db.transaction(write=False) as tx:
                [(most,)] = tx.execute(
                    f"SELECT MAX(failures) FROM mfa_attempts WHERE attempt_key IN ({marks})",
                    encoded,
                )
        except StateUnavailable:
            # Counted already (begin); a success leaves the count standing: stricter, not laxer.
            log.warning("MFA attempt counters unavailable while recording an outcome")
            return False
        return most is not None and int(most) >= self.limits.max_failures


def _encode(key: Key) -> str:
    return json.dumps(list(key), separators=(",", ":"))
