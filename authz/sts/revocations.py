"""Operator session revocations in the state database: a session refused on every node within
a stated bound, without a repository commit.

Owns the table ``session_revocations`` (migration ``0004_revocations``) and the in-memory set
every session-token verification checks. A session is revoked by its session id (the token's
``jti``, ``SessionClaims.session_id``) or its temporary access key id (``ASIA…``,
``SessionClaims.access_key_id``), with an expiry after which the session cannot be valid anyway
(its own expiry when known, else now + ``MAX_SESSION_SECONDS`` + leeway: longer than any token
lives), so the table holds only the revocations of sessions that may still be alive; expired
rows are pruned on each revocation and ignored on reload. At most ``MAX_REVOCATIONS`` are
alive at once (``LimitExceeded`` beyond).

The set is an immutable pair of frozensets swapped by reference when the ``revocations`` topic
moves (``StateWatcher``): a revocation made on any node refuses the session on every other
within the watcher's ``poll_seconds`` + one reload (the stated bound; tests measure it).
Failing closed: while the watcher is not fresh (no successful poll for ``stale_after``), a
revocation made elsewhere may be unknown here, so ``is_revoked`` raises ``StateUnavailable``
and every call that presents a session token is refused (``ServiceUnavailable``). The
repository's ``RevokedSessionIds`` keep working beside it (``AuthzBackend.session_revoked``).
Must not import grpc or cedarpy.
"""

from __future__ import annotations

import builtins
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from authz.errors import LimitExceeded, ValidationError
from authz.state import Database, StateUnavailable, StateWatcher
from authz.state.db import STATE_UNAVAILABLE
from authz.sts.tokens import SessionClaims

__all__ = ["MAX_REVOCATIONS", "TOPIC", "Revocation", "RevocationStore"]

log = logging.getLogger("authz.sts.revocations")

TOPIC = "revocations"
SESSION_ID, ACCESS_KEY_ID = "session_id", "access_key_id"
MAX_SESSION_SECONDS = 43200  # no session token lives longer (authz.config caps ttl there)
EXPIRY_MARGIN_SECONDS = 300  # beyond any token leeway
MAX_REVOCATIONS = 100_000
MAX_REASON_CHARS = 256
_SESSION_ID = re.compile(r"[0-9a-f]{32}")  # randomness.token_hex(16)
_ACCESS_KEY_ID = re.compile(r"ASIA[A-Z2-7]{16}")


@dataclass(frozen=True, slots=True)
class Revocation:
    kind: str  # "session_id" | "access_key_id"
    value: str
    expires_at: int
    revoked_at: int
    reason: str

    def to_json(self) -> dict[str, object]:
        iso = "%Y-%m-%dT%H:%M:%SZ"
        return {
            "Kind": self.kind,
            "Id": self.value,
            "RevokedAt": time.strftime(iso, time.gmtime(self.revoked_at)),
            "ExpiresAt": time.strftime(iso, time.gmtime(self.expires_at)),
            "Reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class _Revoked:
    session_ids: frozenset[str] = frozenset()
    access_key_ids: frozenset[str] = frozenset()


class RevocationStore:
    """Session revocations. With a ``watcher`` (the server) the set is cached and checked
    without a database read; without one (the command line) only ``revoke``/``list`` are
    meant to be used."""

    def __init__(
        self,
        db: Database,
        watcher: StateWatcher | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self._watcher = watcher
        self._clock = clock
        self._revoked = _Revoked()
        self.unavailable_refusals = 0  # session tokens refused while not fresh (a metric)
        if watcher is not None:
            self._reload()
            watcher.subscribe(TOPIC, lambda _version: self._reload())

    # -- the request path (every session-token verification) --------------------------------

    def is_revoked(self, claims: SessionClaims) -> bool:
        """True when the session is revoked; ``StateUnavailable`` when this node cannot know
        (its watcher is stale)."""
        if self._watcher is not None and not self._watcher.fresh():
            self.unavailable_refusals += 1
            raise StateUnavailable(STATE_UNAVAILABLE, reason="state_stale")
        revoked = self._revoked
        return (
            claims.session_id in revoked.session_ids
            or claims.access_key_id in revoked.access_key_ids
        )

    def _reload(self) -> None:
        now = int(self._clock())
        with self._db.transaction(write=False) as tx:
            rows = tx.execute(
                "SELECT kind, value FROM session_revocations WHERE expires_at >= ?", (now,)
            )
        self._revoked = _Revoked(
            frozenset(v for k, v in rows if k == SESSION_ID),
            frozenset(v for k, v in rows if k == ACCESS_KEY_ID),
        )

    # -- administration (authz sessions …) ---------------------------------------------------

    def revoke(
        self,
        *,
        session_id: str | None = None,
        access_key_id: str | None = None,
        expires_at: int | None = None,
        reason: str = "",
    ) -> Revocation:
        """Revoke one session by exactly one of its ids until ``expires_at`` (default: longer
        than any session token lives). Revoking again keeps the later expiry."""
        kind, value = _target(session_id, access_key_id)
        if not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS:
            raise ValidationError(f"reason: at most {MAX_REASON_CHARS} characters")
        now = int(self._clock())
        if expires_at is None:
            expires_at = now + MAX_SESSION_SECONDS + EXPIRY_MARGIN_SECONDS
        if not isinstance(expires_at, int) or expires_at <= now:
            raise ValidationError("expires_at: must be a time in the future (epoch seconds)")
        with self._db.transaction() as tx:
            tx.execute("DELETE FROM session_revocations WHERE expires_at < ?", (now,))
            [(alive,)] = tx.execute("SELECT COUNT(*) FROM session_revocations")
            if int(alive) >= MAX_REVOCATIONS:
                raise LimitExceeded(
                    f"Cannot exceed quota for revoked sessions: {MAX_REVOCATIONS} (they are "
                    "pruned when they expire)"
                )
            [row] = tx.execute(
                "INSERT INTO session_revocations (kind, value, expires_at, revoked_at, reason) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (kind, value) DO UPDATE SET expires_at = "
                "CASE WHEN excluded.expires_at > session_revocations.expires_at THEN "
                "excluded.expires_at ELSE session_revocations.expires_at END "
                "RETURNING kind, value, expires_at, revoked_at, reason",
                (kind, value, expires_at, now, reason),
            )
            tx.bump(TOPIC)
        log.warning("session %s %s revoked until %d", kind, value, int(row[2]))
        if self._watcher is not None:
            self._reload()  # this node at once; the others at their next poll
        return Revocation(row[0], row[1], int(row[2]), int(row[3]), row[4])

    def list(self) -> builtins.list[Revocation]:
        """The revocations still in force, oldest first."""
        now = int(self._clock())
        with self._db.transaction(write=False) as tx:
            rows = tx.execute(
                "SELECT kind, value, expires_at, revoked_at, reason FROM session_revocations "
                "WHERE expires_at >= ? ORDER BY revoked_at, kind, value",
                (now,),
            )
        return [Revocation(k, v, int(e), int(r), why) for k, v, e, r, why in rows]


def _target(session_id: str | None, access_key_id: str | None) -> tuple[str, str]:
    if (session_id is None) == (access_key_id is None):
        raise ValidationError("give exactly one of session_id and access_key_id")
    if session_id is not None:
        if not isinstance(session_id, str) or not _SESSION_ID.fullmatch(session_id):
            raise ValidationError(
                f"session_id `{session_id}`: a session id is 32 lowercase hex characters"
            )
        return SESSION_ID, session_id
    if not isinstance(access_key_id, str) or not _ACCESS_KEY_ID.fullmatch(access_key_id):
        raise ValidationError(
            f"access_key_id `{access_key_id}`: a temporary access key id is ASIA + 16 "
            "characters of [A-Z2-7]"
        )
    return ACCESS_KEY_ID, access_key_id
