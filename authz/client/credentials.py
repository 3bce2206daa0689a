"""Client credentials: what a call authenticates with, and the auto-refreshing provider.

Owns the three kinds (``AccessKeyCredentials``, ``SessionCredentials``, none) and
``RefreshingCredentialsProvider``, which keeps session credentials from AssumeRole fresh the way
the AWS SDKs do: inside the *advisory* margin before expiry one caller tries to refresh while
the others keep using the current credentials (a failed advisory refresh is logged and the old
credentials are kept); inside the *mandatory* margin every caller waits for a refresh and its
failure is raised. Thread-safe; the clock is injectable for tests.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from authz.errors import AuthzError

_log = logging.getLogger("authz.client")

AUTHORIZATION_KEY = "authorization"
ACCESS_KEY_ID_KEY = "x-authz-access-key-id"
SECRET_ACCESS_KEY_KEY = "x-authz-secret-access-key"

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class AccessKeyCredentials:
    """A long-term access key. ``secret`` is excluded from ``repr``."""

    key_id: str
    secret: str = field(repr=False)

    def metadata(self) -> tuple[tuple[str, str], ...]:
        return ((ACCESS_KEY_ID_KEY, self.key_id), (SECRET_ACCESS_KEY_KEY, self.secret))


@dataclass(frozen=True)
class SessionCredentials:
    """Session credentials from AssumeRole: the token, its expiry and, to sign calls, the
    session's access key id and secret (``authz.client.signing``; without them only the bearer
    token can be sent, which servers refuse by default). Token and secret stay out of
    ``repr``."""

    token: str = field(repr=False)
    expiration: datetime
    access_key_id: str | None = None
    secret: str | None = field(default=None, repr=False)

    def metadata(self) -> tuple[tuple[str, str], ...]:
        return ((AUTHORIZATION_KEY, f"Bearer {self.token}"),)


Credentials = AccessKeyCredentials | SessionCredentials


@runtime_checkable
class CredentialsProvider(Protocol):
    def credentials(self) -> Credentials | None: ...


class RefreshingCredentialsProvider:
    """Session credentials refreshed before they expire. ``fetch`` returns fresh ones
    (typically an AssumeRole call); see ``AuthzClient.assume_role_provider``."""

    def __init__(
        self,
        fetch: Callable[[], SessionCredentials],
        *,
        refresh_margin: timedelta = timedelta(minutes=5),
        advisory_margin: timedelta | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self._fetch = fetch
        self._mandatory = refresh_margin
        self._advisory = max(advisory_margin or refresh_margin * 2, refresh_margin)
        self._clock = clock
        self._lock = threading.Lock()
        self._current: SessionCredentials | None = None
        self.refresh_count = 0

    def credentials(self) -> SessionCredentials:
        current = self._current
        now = self._clock()
        if current is not None and now < current.expiration - self._advisory:
            return current
        if current is None or now >= current.expiration - self._mandatory:
            return self._mandatory_refresh()
        return self._advisory_refresh(current)

    def _mandatory_refresh(self) -> SessionCredentials:
        with self._lock:
            current = self._current
            if current is None or self._clock() >= current.expiration - self._mandatory:
                current = self._refresh()
            return current

    def _advisory_refresh(self, seen: SessionCredentials) -> SessionCredentials:
        if not self._lock.acquire(blocking=False):
            return seen  # another thread is refreshing; the current ones are still valid
        try:
            if self._current is seen:
                try:
                    return self._refresh()
                except AuthzError as exc:
                    _log.warning("advisory credential refresh failed: %s", exc.code)
            return self._current or seen
        finally:
            self._lock.release()

    def _refresh(self) -> SessionCredentials:
        fresh = self._fetch()
        self._current = fresh
        self.refresh_count += 1
        return fresh
