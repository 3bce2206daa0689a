"""Attempt limits for MFA codes: how many wrong TOTP codes a device or a user may send before
further codes are refused unchecked for a while (exponential back-off).

Owns the failure counters and lockout windows only; ``authz.sts.service`` asks ``blocked``
before checking a code and reports the outcome with ``record``. Imports neither grpc nor
cedarpy; counters live in this process (a worker of ``--workers N`` keeps its own; moving
them to a shared store is a later step).

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

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["AttemptLimiter", "MfaLimits"]


@dataclass(frozen=True)
class MfaLimits:
    """Settings (``mfa_max_failures``, ``mfa_lockout_seconds``, ``mfa_max_lockout_seconds``)."""

    max_failures: int = 5
    lockout_seconds: float = 60.0
    max_lockout_seconds: float = 3600.0
    max_tracked: int = 100_000  # keys kept (LRU); bounded by the users and devices that exist


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
                over = entry.failures - self.limits.max_failures
                if over >= 0:
                    window = min(
                        self.limits.lockout_seconds * 2.0 ** min(over, 32),
                        self.limits.max_lockout_seconds,
                    )
                    entry.locked_until = now + window
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
