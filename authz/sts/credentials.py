"""Long-term access keys (``AKIA…``): creation, authentication, status, deletion.

Owns the access keys in the run-time state database (table ``access_keys``, migration
``0002_access_keys``), shared by every worker and replica. A secret is shown once, by
``create``. SigV4 verification needs the secret itself (the server recomputes the caller's
signature), so the database holds it sealed (``alg: fernet``, ``authz.state.sealing``) under the
state key, which is never in the database. Keys from before encryption hold only
``HMAC-SHA256(key=salt, msg=secret)`` (``alg: hmac-sha256``, imported by ``authz state
migrate``): they still authenticate where the secret is presented (the plaintext gRPC metadata
path) but can never sign, because the secret cannot be recovered; ``hashed_keys()`` lists them
for re-issue. Comparison uses ``hmac.compare_digest``; unsealed secrets are cached in memory
until the keys change.

Each key records its user's ARN and UserId (``create(user_arn, user_id)``; a key recorded
without one is bound to the user's UserId at its first use, ``bind_user_id``): the backend
accepts it only while that user exists with that UserId.

Unknown key, inactive key and wrong secret all raise the same ``InvalidClientTokenId`` message;
only ``details["reason"]`` (for logs, never sent to callers) tells them apart.

The request path reads memory only: an immutable snapshot of every key, swapped by reference,
reloaded off the request path when the topic ``access_keys`` changes (``StateWatcher``).
``create``/``set_status``/``delete``/``bind_user_id`` write through one transaction that bumps
the topic, then reload this store's copy at once. Propagation bound: a change committed on any
node (or ``authz keys`` run anywhere) is used by every other node within the watcher's
``poll_seconds`` + one reload (a ``SELECT`` of the table): ≤ ~0.5 s with the default 0.25 s poll
(measured in ``tests/unit/test_credentials.py``). Fails closed: while the watcher is not fresh
(the database was not reachable for ``state_stale_seconds``) or the last reload failed, every
authentication raises ``ServiceUnavailable`` — a deactivation made elsewhere could not be seen —
without any database detail (logged server-side). Must not import grpc or cedarpy; never logs a
secret.
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from authz.errors import InvalidClientTokenId, NoSuchEntity, ServiceUnavailable, ValidationError
from authz.state.db import Database, Row, StateConflict, StateUnavailable, Tx
from authz.state.runtime import open_state
from authz.state.sealing import Sealer, SealError
from authz.state.watch import StateWatcher
from authz.sts.tokens import new_secret_access_key

__all__ = [
    "ACTIVE",
    "INACTIVE",
    "TOPIC",
    "AccessKeyInfo",
    "CredentialStore",
    "StoredKey",
    "insert_key",
    "new_access_key_id",
    "open_credentials",
]

log = logging.getLogger("authz.sts.credentials")

TOPIC = "access_keys"
ACTIVE, INACTIVE = "Active", "Inactive"
HASHED, SEALED = "hmac-sha256", "fernet"
# What a caller sees while the store cannot be trusted: no URL, no driver message (logged).
STORE_UNAVAILABLE = "The service cannot check credentials right now. Try again later."
_KEY_ID = re.compile(r"AKIA[A-Z2-7]{16}")
_USER_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:(user/[\w+=,.@/-]{1,512}|root)")
_USER_ID = re.compile(r"\w{1,128}", re.ASCII)
_DUMMY_SALT = secrets.token_bytes(16)  # hashed against on unknown keys to even out timing
_COLUMNS = "access_key_id, user_arn, user_id, status, created_at, alg, secret, salt, digest"


def new_access_key_id() -> str:
    """``AKIA`` + 16 random characters of ``[A-Z2-7]``."""
    return "AKIA" + base64.b32encode(secrets.token_bytes(10)).decode("ascii")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _hash(salt: bytes, secret: str) -> bytes:
    return hmac.new(salt, secret.encode("utf-8"), hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class AccessKeyInfo:
    """Metadata of one access key. Safe to print: holds no secret and no hash."""

    access_key_id: str
    user_arn: str
    status: str
    created_at: int
    user_id: str | None = None  # the UserId the key is bound to (None: bound at first use)

    @property
    def user_name(self) -> str:
        return self.user_arn.rsplit("/", 1)[-1] if "/" in self.user_arn else "root"

    def to_aws(self) -> dict[str, Any]:
        """The AWS ``AccessKeyMetadata`` shape (plus ``UserArn``)."""
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.created_at))
        out = {
            "UserName": self.user_name,
            "UserArn": self.user_arn,
            "AccessKeyId": self.access_key_id,
            "Status": self.status,
            "CreateDate": created,
        }
        if self.user_id is not None:
            out["UserId"] = self.user_id
        return out


@dataclass(frozen=True, slots=True)
class StoredKey:
    """One row of ``access_keys``: the metadata and either the sealed secret or, for a key
    from before encryption, the salted hash of the secret (it cannot sign)."""

    info: AccessKeyInfo
    sealed: str | None = None  # alg fernet: the secret sealed under the state key
    salt: bytes = b""  # alg hmac-sha256
    digest: bytes = b""

    @property
    def hashed(self) -> bool:
        return self.sealed is None

    def row(self) -> tuple[Any, ...]:
        info = self.info
        if self.sealed is not None:
            alg, secret, salt, digest = SEALED, self.sealed, None, None
        else:
            alg, secret, salt, digest = HASHED, None, _b64(self.salt), _b64(self.digest)
        return (info.access_key_id, info.user_arn, info.user_id, info.status, info.created_at,
                alg, secret, salt, digest)  # fmt: skip

    @classmethod
    def from_row(cls, row: Row) -> StoredKey:
        key_id, user_arn, user_id, status, created, alg, secret, salt, digest = row
        if not (isinstance(key_id, str) and _KEY_ID.fullmatch(key_id)):
            raise ValueError("not an access key id")
        if status not in (ACTIVE, INACTIVE) or not isinstance(user_arn, str):
            raise ValueError("bad `status` or `user_arn`")
        if user_id is not None and not (isinstance(user_id, str) and _USER_ID.fullmatch(user_id)):
            raise ValueError("`user_id` is not an IAM unique id")
        info = AccessKeyInfo(key_id, user_arn, status, int(created), user_id)
        if alg == SEALED and isinstance(secret, str):
            return cls(info, sealed=secret)
        if alg == HASHED and isinstance(salt, str) and isinstance(digest, str):
            return cls(info, salt=base64.b64decode(salt), digest=base64.b64decode(digest))
        raise ValueError(f"unknown `alg` `{alg}` or its fields are missing")


def insert_key(tx: Tx, key: StoredKey) -> bool:
    """Insert ``key`` in the open transaction (the caller bumps ``TOPIC``); an existing row
    with that id is left as it is and False returned (``authz state migrate`` relies on it
    to be idempotent)."""
    values = ", ".join("?" * 9)
    rows = tx.execute(
        f"INSERT INTO access_keys ({_COLUMNS}) VALUES ({values}) "
        "ON CONFLICT (access_key_id) DO NOTHING RETURNING access_key_id",
        key.row(),
    )
    return bool(rows)


Snapshot = Mapping[str, StoredKey]


class CredentialStore:
    """Access keys in the state database, with this process's in-memory copy. Thread-safe.

    ``watcher`` is the process's ``StateWatcher``: the store subscribes to ``TOPIC`` and the
    request path refuses while ``watcher.fresh()`` is false. A command-line tool passes a
    watcher it never starts (it only administers keys)."""

    def __init__(
        self,
        db: Database,
        sealer: Sealer,
        watcher: StateWatcher,
        *,
        clock: Callable[[], float] = time.time,
        cache_size: int = 4096,
    ) -> None:
        self._db = db
        self._sealer = sealer
        self._watcher = watcher
        self._clock = clock
        self._cache_size = cache_size
        self._lock = threading.Lock()  # the caches and the snapshot swap
        self._reload_lock = threading.Lock()  # one reload at a time: the newest read wins
        self._cache: OrderedDict[tuple[str, bytes], AccessKeyInfo] = OrderedDict()
        self._secrets: dict[str, str] = {}  # unsealed secrets by key id, until keys change
        self._keys: Snapshot = MappingProxyType({})
        self._broken = False
        self._refusals = 0
        self.reloads = 0  # completed reloads (a metric; tests wait on it)
        self.reload()  # at start-up: a database error propagates
        watcher.subscribe(TOPIC, self._on_change)

    @classmethod
    def for_database(cls, db: Database, sealer: Sealer) -> CredentialStore:
        """A store for a tool that only administers keys (its watcher is never started, so
        it never authenticates)."""
        return cls(db, sealer, StateWatcher(db))

    # -- the request path ---------------------------------------------------------------

    def authenticate(self, access_key_id: str, secret: str) -> AccessKeyInfo:
        """The metadata of an Active key whose secret matches, else raise
        ``InvalidClientTokenId``; ``ServiceUnavailable`` while the store cannot be trusted."""
        keys = self._current()
        key = keys.get(access_key_id) if isinstance(access_key_id, str) else None
        if not isinstance(secret, str) or len(secret) > 256:
            raise InvalidClientTokenId(reason="malformed")
        presented = hashlib.sha256(secret.encode("utf-8")).digest()
        cache_key = (access_key_id, presented)
        if key is not None and key.info.status == ACTIVE:
            with self._lock:
                cached = self._cache.get(cache_key)
            if cached is not None:
                return cached
        if key is not None and not key.hashed:
            matches = hmac.compare_digest(
                self._unsealed(key).encode("utf-8"), secret.encode("utf-8")
            )
        else:
            salt = key.salt if key is not None else _DUMMY_SALT
            expected = key.digest if key is not None else b"\0" * 32
            matches = hmac.compare_digest(_hash(salt, secret), expected)
        if key is None:
            raise InvalidClientTokenId(reason="unknown_key")
        if key.info.status != ACTIVE:
            raise InvalidClientTokenId(reason="inactive_key")
        if not matches:
            raise InvalidClientTokenId(reason="bad_secret")
        with self._lock:
            if self._keys is keys:  # not a key set replaced while we compared
                self._cache[cache_key] = key.info
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return key.info

    def signing_secret(self, access_key_id: str) -> tuple[AccessKeyInfo, str]:
        """The metadata and the secret of an Active key, for verifying a SigV4 signature;
        ``InvalidClientTokenId`` for an unknown or inactive key, or one stored hashed (it
        cannot sign: re-issue it)."""
        key = self._current().get(access_key_id)
        if key is None:
            raise InvalidClientTokenId(reason="unknown_key")
        if key.info.status != ACTIVE:
            raise InvalidClientTokenId(reason="inactive_key")
        if key.hashed:
            log.warning("access key %s is stored hashed and cannot sign requests: re-issue it "
                        "(authz state migrate lists them)", access_key_id)  # fmt: skip
            raise InvalidClientTokenId(reason="hashed_secret")
        return key.info, self._unsealed(key)

    @property
    def unavailable_refusals(self) -> int:
        """Authentications refused because the store could not be trusted (a metric)."""
        return self._refusals

    def _current(self) -> Snapshot:
        """The in-memory keys, if they can be trusted: the last reload succeeded and the
        watcher polled the database within ``state_stale_seconds``. Otherwise
        ``ServiceUnavailable`` (a deactivation made on another node could be missed)."""
        if self._broken or not self._watcher.fresh():
            self._refusals += 1
            raise StateUnavailable(STORE_UNAVAILABLE, reason="credentials_store_unavailable")
        return self._keys

    def _unsealed(self, key: StoredKey) -> str:
        key_id = key.info.access_key_id
        cached = self._secrets.get(key_id)
        if cached is not None:
            return cached
        assert key.sealed is not None
        try:
            secret = self._sealer.unseal(key.sealed).decode("utf-8")
        except (SealError, UnicodeDecodeError) as err:
            log.error("cannot unseal the secret of access key %s: %s", key_id,
                      getattr(err, "message", type(err).__name__))  # fmt: skip
            raise ServiceUnavailable(STORE_UNAVAILABLE, reason="credentials_key_unusable") from None
        with self._lock:
            if len(self._secrets) >= self._cache_size:
                self._secrets.clear()
            self._secrets[key_id] = secret
        return secret

    # -- keeping the copy current ----------------------------------------------------------

    def reload(self) -> None:
        """Read every key from the database and swap the in-memory copy (one reload at a time,
        so a slow older read never replaces a newer one)."""
        with self._reload_lock:
            with self._db.transaction(write=False) as tx:
                rows = tx.execute(f"SELECT {_COLUMNS} FROM access_keys")
            keys: dict[str, StoredKey] = {}
            for row in rows:
                try:
                    key = StoredKey.from_row(row)
                except (ValueError, TypeError) as err:  # binascii.Error is a ValueError
                    log.error("access key row %r is unusable (refused): %s", row[0], err)
                    continue
                keys[key.info.access_key_id] = key
            with self._lock:
                self._keys = MappingProxyType(keys)
                self._secrets.clear()
                self._cache.clear()  # status or secrets may have changed: authenticate afresh
                if self._broken:
                    log.warning("access keys readable again")
                self._broken = False
                self.reloads += 1

    def _on_change(self, _version: int) -> None:
        """The watcher's callback (its thread): reload; on failure refuse until a reload
        succeeds (the watcher retries at the next poll)."""
        try:
            self.reload()
        except StateUnavailable:
            self._break()
            raise

    def _break(self) -> None:
        with self._lock:
            was_broken, self._broken = self._broken, True
            self._secrets.clear()
            self._cache.clear()
        if not was_broken:
            log.error("access keys cannot be reloaded from the state database: refusing them")

    def _after_write(self) -> None:
        """Use a committed change here at once. If the reload fails the change is still
        committed (the caller must learn a new secret): the store refuses until the watcher
        reloads it."""
        try:
            self.reload()
        except StateUnavailable:
            self._break()

    # -- administration (authz keys) ------------------------------------------------------

    def create(self, user_arn: str, user_id: str | None = None) -> tuple[str, str]:
        """Create an Active key for ``user_arn`` (bound to ``user_id`` when given, else at its
        first use); return ``(access_key_id, secret)`` once."""
        if not isinstance(user_arn, str) or not _USER_ARN.fullmatch(user_arn):
            raise ValidationError(f"user ARN `{user_arn}` is not an IAM user or root ARN")
        if user_id is not None and not _USER_ID.fullmatch(user_id):
            raise ValidationError(f"user id `{user_id}` is not an IAM unique id")
        secret = new_secret_access_key()
        sealed = self._sealer.seal(secret.encode("utf-8"))
        for _ in range(3):  # 80 random bits: a clash is next to impossible, but never an error
            key_id = new_access_key_id()
            info = AccessKeyInfo(key_id, user_arn, ACTIVE, int(self._clock()), user_id)
            if self._insert_new(StoredKey(info, sealed=sealed)):
                break
        else:
            raise StateConflict("three random access key ids were taken")
        self._after_write()
        return key_id, secret

    def _insert_new(self, key: StoredKey) -> bool:
        """Insert a new key in one transaction; False when its id is taken (nothing written).
        (A helper: mypyc compiles no ``break`` out of a ``with`` block.)"""
        with self._db.transaction() as tx:
            if not insert_key(tx, key):
                return False
            tx.bump(TOPIC)
            return True

    def set_status(self, access_key_id: str, status: str) -> AccessKeyInfo:
        if status not in (ACTIVE, INACTIVE):
            raise ValidationError(f"status `{status}` must be `Active` or `Inactive`")
        with self._db.transaction() as tx:
            rows = tx.execute(
                f"UPDATE access_keys SET status = ? WHERE access_key_id = ? RETURNING {_COLUMNS}",
                (status, access_key_id),
            )
            if not rows:
                raise _no_such_key(access_key_id)
            tx.bump(TOPIC)
        self._after_write()
        return StoredKey.from_row(rows[0]).info

    def delete(self, access_key_id: str) -> None:
        with self._db.transaction() as tx:
            rows = tx.execute(
                "DELETE FROM access_keys WHERE access_key_id = ? RETURNING access_key_id",
                (access_key_id,),
            )
            if not rows:
                raise _no_such_key(access_key_id)
            tx.bump(TOPIC)
        self._after_write()

    def bind_user_id(self, access_key_id: str, user_id: str) -> str:
        """Record ``user_id`` for a key that has none (a key created before keys recorded the
        UserId: bound at its first use after the upgrade); returns the UserId the key is bound
        to now — another process or replica may have bound it first."""
        with self._db.transaction() as tx:
            bound = tx.execute(
                "UPDATE access_keys SET user_id = ? WHERE access_key_id = ? AND user_id IS NULL "
                "RETURNING user_id",
                (user_id, access_key_id),
            )
            if bound:
                tx.bump(TOPIC)
            else:
                bound = tx.execute(
                    "SELECT user_id FROM access_keys WHERE access_key_id = ?", (access_key_id,)
                )
                if not bound:
                    raise _no_such_key(access_key_id)
        self._after_write()
        log.info("access key %s bound to UserId %s at first use", access_key_id, bound[0][0])
        return str(bound[0][0])

    def list(self, user_arn: str | None = None) -> builtins.list[AccessKeyInfo]:
        """Metadata of every key (of one user if given), by creation time, read from the
        database. Never secrets."""
        return [key.info for key in self._select(user_arn=user_arn)]

    def hashed_keys(self) -> builtins.list[AccessKeyInfo]:
        """Keys stored only as a hash (from before encryption): they must be re-issued to
        sign requests, since their secret cannot be recovered."""
        return [key.info for key in self._select(alg=HASHED)]

    def _select(
        self, *, user_arn: str | None = None, alg: str | None = None
    ) -> builtins.list[StoredKey]:
        where, params = [], []
        if user_arn is not None:
            where.append("user_arn = ?")
            params.append(user_arn)
        if alg is not None:
            where.append("alg = ?")
            params.append(alg)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        with self._db.transaction(write=False) as tx:
            rows = tx.execute(
                f"SELECT {_COLUMNS} FROM access_keys{clause} ORDER BY created_at, access_key_id",
                params,
            )
        return [StoredKey.from_row(row) for row in rows]


def _no_such_key(access_key_id: str) -> NoSuchEntity:
    return NoSuchEntity(f"the access key with id `{access_key_id}` cannot be found")


@contextlib.contextmanager
def open_credentials(state_url: str, key_file: Path) -> Iterator[CredentialStore]:
    """The access keys of the state database at ``state_url`` for a tool (``authz keys``,
    ``make run``'s set-up, benchmarks): its watcher is never started; closed at the end."""
    state = open_state(state_url, key_file)
    try:
        yield CredentialStore.for_database(state.db, state.sealer)
    finally:
        state.close()
