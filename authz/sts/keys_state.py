"""STS signing keys kept in the state database, for a fleet (``keys_source = "state"``).

Owns the ``signing_key_ring`` / ``signing_keys`` tables (migration ``0005_signing_keys``) and
the ``KeySource`` over them; the ring's rules (which key signs when, retirement, JWKS) are
``authz.sts.keys``'. Private keys are stored sealed (``authz.state.sealing.Sealer``, a key
file every node has and the database never holds); a key that does not unseal, or whose
content does not match its kid, makes the whole reading fail (the last good ring is kept).

**Rotation through the database.** ``rotate`` on any node, in ONE transaction that first bumps
the ring row's ``generation`` (so rotations on two nodes run one after the other): inserts a
new key with ``activates_at = now + publish_delay``, retires every current signer at that
instant (``not_after = activates_at + max_token_ttl + skew``), deletes keys past their
``not_after`` and bumps the topic ``signing_keys``. Every node's ``StateWatcher`` reloads the
ring within its propagation bound (``poll_seconds`` + the reload), so every node publishes
the new key in its JWKS and accepts it *before* any node signs with it, and all nodes switch
signers at the same ``activates_at``. Hence ``publish_delay`` must be at least twice that
bound (checked when a node opens the ring) plus the clock skew between nodes; the default is
10 s. Old tokens keep verifying until their key's ``not_after``.

No database access on the request path: with a watcher the ring is reloaded by the watcher's
thread, and ``stamp()`` is the last version it announced. A node whose watcher is stale keeps
its last ring (it still signs with a key every node accepts; it may not know a key activated
since — tokens signed with it then fail as an unknown key until the database is back). Must
not import grpc or cedarpy; never logs key material.
"""

from __future__ import annotations

import builtins
import logging
import time
from collections.abc import Callable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from authz.errors import ValidationError
from authz.state.db import Database, Tx
from authz.state.sealing import Sealer, SealError
from authz.state.watch import StateWatcher
from authz.sts.keys import (
    DEFAULT_MAX_TOKEN_TTL,
    DEFAULT_SKEW,
    KeyInfo,
    KeyRing,
    RingState,
    load_private_pem,
    make_state,
    new_private_key,
)

__all__ = [
    "DEFAULT_PUBLISH_DELAY",
    "RELOAD_ALLOWANCE",
    "TOPIC",
    "StateKeySource",
    "generate_state_ring",
    "minimum_publish_delay",
    "open_state_ring",
    "ring_exists",
]

log = logging.getLogger("authz.sts.keys_state")

TOPIC = "signing_keys"
DEFAULT_PUBLISH_DELAY = 10
# Time allowed for one node to reload the ring after its poll saw the change (one query and a
# few unseals: milliseconds; the allowance covers a busy machine).
RELOAD_ALLOWANCE = 0.5


def minimum_publish_delay(poll_seconds: float) -> float:
    """Twice the watcher's propagation bound: ``2 × (poll_seconds + RELOAD_ALLOWANCE)``."""
    return 2 * (poll_seconds + RELOAD_ALLOWANCE)


def _pem(private: Ed25519PrivateKey) -> bytes:
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class StateKeySource:
    """The signing keys of one state database (``KeySource``)."""

    def __init__(self, db: Database, sealer: Sealer) -> None:
        self._db = db
        self._sealer = sealer
        self.announced: object = None  # the stamp a watcher last loaded; None: no watcher

    @property
    def location(self) -> str:
        return self._db.display_url

    def stamp(self) -> object:
        if self.announced is not None:
            return self.announced
        return self._db.versions().get(TOPIC, 0)

    def publish_delay(self) -> int:
        with self._db.transaction(write=False) as tx:
            rows = tx.execute("SELECT publish_delay FROM signing_key_ring WHERE id = 1")
        if not rows:
            raise self._missing()
        return int(rows[0][0])

    def read(self) -> RingState:
        with self._db.transaction(write=False) as tx:
            version = tx.execute("SELECT version FROM state_versions WHERE topic = ?", (TOPIC,))
            ring = tx.execute("SELECT max_token_ttl, skew FROM signing_key_ring WHERE id = 1")
            rows = tx.execute(
                "SELECT kid, created_at, activates_at, retired_at, not_after, "
                "sealed_private_key FROM signing_keys ORDER BY activates_at, created_at, kid"
            )
        if not ring or not rows:
            raise self._missing()
        keys = []
        for kid, created, activates, retired, not_after, sealed in rows:
            info = KeyInfo(
                kid=str(kid),
                created_at=int(created),
                retired_at=None if retired is None else int(retired),
                not_after=None if not_after is None else int(not_after),
                activates_at=int(activates),
            )
            try:
                private = load_private_pem(self._sealer.unseal(str(sealed)), info.kid)
            except SealError as err:
                raise ValidationError(
                    f"key ring `{self.location}`: key `{info.kid}`: {err.message}"
                ) from None
            except ValueError as err:
                raise ValidationError(f"key ring `{self.location}`: {err}") from None
            keys.append((info, private))
        stamp = int(version[0][0]) if version else 0
        ttl, skew = int(ring[0][0]), int(ring[0][1])
        return make_state(keys, ttl, skew, stamp, self.location)

    def generate(self, now: int, *, max_token_ttl: int, skew: int, publish_delay: int) -> str:
        """Create the ring with one key signing at once; ``ValidationError`` if it exists."""
        if max_token_ttl <= 0 or skew < 0 or publish_delay < 0:
            raise ValidationError(
                "key ring: `max_token_ttl` must be > 0, `skew` and `publish_delay` >= 0"
            )
        kid, private = new_private_key()
        sealed = self._sealer.seal(_pem(private))
        with self._db.transaction() as tx:
            created = tx.execute(
                "INSERT INTO signing_key_ring (id, max_token_ttl, skew, publish_delay, "
                "generation) VALUES (1, ?, ?, ?, 0) ON CONFLICT (id) DO NOTHING RETURNING id",
                (max_token_ttl, skew, publish_delay),
            )
            if not created:
                raise ValidationError(f"key ring `{self.location}`: already exists; use rotate")
            self._insert(tx, kid, now, now, sealed)
            tx.bump(TOPIC)
        log.info("key ring created", extra={"keys": self.location, "kid": kid})
        return kid

    def rotate(self, now: int, activate_in: int) -> str:
        kid, private = new_private_key()
        sealed = self._sealer.seal(_pem(private))
        with self._db.transaction() as tx:
            ring = tx.execute(
                "UPDATE signing_key_ring SET generation = generation + 1 WHERE id = 1 "
                "RETURNING max_token_ttl, skew, publish_delay"
            )
            if not ring:
                raise self._missing()
            ttl, skew, delay = (int(v) for v in ring[0])
            at = now + max(activate_in, delay)
            tx.execute(
                "UPDATE signing_keys SET retired_at = ?, not_after = ? WHERE retired_at IS NULL",
                (at, at + ttl + skew),
            )
            self._insert(tx, kid, now, at, sealed)
            tx.execute(
                "DELETE FROM signing_keys WHERE not_after IS NOT NULL AND not_after <= ?", (now,)
            )
            tx.bump(TOPIC)
        return kid

    def prune(self, now: float) -> builtins.list[str]:
        with self._db.transaction() as tx:
            gone = tx.execute(
                "DELETE FROM signing_keys WHERE not_after IS NOT NULL AND not_after <= ? "
                "RETURNING kid",
                (int(now),),
            )
            if gone:
                tx.bump(TOPIC)
        return sorted(str(row[0]) for row in gone)

    @staticmethod
    def _insert(tx: Tx, kid: str, now: int, activates: int, sealed: str) -> None:
        tx.execute(
            "INSERT INTO signing_keys (kid, created_at, activates_at, retired_at, not_after, "
            "sealed_private_key) VALUES (?, ?, ?, NULL, NULL, ?)",
            (kid, now, activates, sealed),
        )

    def _missing(self) -> ValidationError:
        return ValidationError(
            f"no signing keys in the state database `{self.location}`: create them with "
            "`authz keys generate --state-url URL --state-key-file FILE`"
        )


def ring_exists(db: Database) -> bool:
    """True when ``db`` holds a signing key ring."""
    with db.transaction(write=False) as tx:
        return bool(tx.execute("SELECT id FROM signing_key_ring WHERE id = 1"))


def generate_state_ring(
    db: Database,
    sealer: Sealer,
    *,
    max_token_ttl: int = DEFAULT_MAX_TOKEN_TTL,
    skew: int = DEFAULT_SKEW,
    publish_delay: int = DEFAULT_PUBLISH_DELAY,
    clock: Callable[[], float] = time.time,
) -> KeyRing:
    """Create the ring in ``db`` (one key, signing at once) and open it (no watcher)."""
    source = StateKeySource(db, sealer)
    source.generate(
        int(clock()), max_token_ttl=max_token_ttl, skew=skew, publish_delay=publish_delay
    )
    return KeyRing(source, source.read(), clock)


def open_state_ring(
    db: Database,
    sealer: Sealer,
    *,
    watcher: StateWatcher | None = None,
    poll_seconds: float | None = None,
    clock: Callable[[], float] = time.time,
) -> KeyRing:
    """The ring kept in ``db``. With ``watcher`` (a server), the ring is reloaded by the
    watcher's thread whenever the topic ``signing_keys`` moves. The ring's publish delay is
    checked against the bound of ``watcher`` (or of a watcher polling every
    ``poll_seconds``): ``ValidationError`` if it is too short. Without a watcher (the CLI,
    tests), ``refresh()`` asks the database."""
    source = StateKeySource(db, sealer)
    ring = KeyRing(source, source.read(), clock)
    if watcher is not None:
        poll_seconds = watcher.poll_seconds
    if poll_seconds is not None:
        needed = minimum_publish_delay(poll_seconds)
        delay = source.publish_delay()
        if delay < needed:
            raise ValidationError(
                f"key ring `{source.location}`: publish_delay {delay} s is shorter than twice "
                f"the state watcher's propagation bound ({needed:g} s with state_poll_ms "
                f"{poll_seconds * 1000:g}): nodes could sign with a key others do not know "
                "yet; regenerate the ring with a longer --publish-delay or poll faster"
            )
    if watcher is None:
        return ring

    def changed(version: int) -> None:
        ring.reload()  # raises when the database cannot be read: the watcher retries
        source.announced = ring.stamp

    source.announced = ring.stamp
    watcher.subscribe(TOPIC, changed)
    return ring
