"""Long-term access keys (``AKIA…``): creation, authentication, status, deletion.

Owns the credentials store, a JSON file kept OUTSIDE the policy repository (mode 0600, written
atomically, writers serialised with flock on ``<file>.lock``). A secret is shown once, by
``create``. SigV4 verification needs the secret itself (the server recomputes the caller's
signature), so the file holds it encrypted (``alg: fernet``) under a key-encryption key kept
in a separate 0600 file next to the store (``<file>.key``, created with the first encrypted
key, never regenerated over existing ones) — as ``authz.sts.mfa`` seals MFA seeds. Keys
created before that hold only ``HMAC-SHA256(key=salt, msg=secret)`` (``alg: hmac-sha256``):
they still authenticate where the secret is presented (the plaintext gRPC metadata path) but
can never sign, because the secret cannot be recovered; ``hashed_keys()`` lists them and
``authz keys migrate`` tells the operator to re-issue them. Comparison uses
``hmac.compare_digest``; decrypted secrets are cached in memory until the file changes.

Each key records its user's ARN and UserId (``create(user_arn, user_id)``; a key recorded
without one is bound to the user's UserId at its first use, ``bind_user_id``): the backend
accepts it only while that user exists with that UserId.

Unknown key, inactive key and wrong secret all raise the same ``InvalidClientTokenId`` message;
only ``details["reason"]`` (for logs, never sent to callers) tells them apart. The file is
re-read when its (inode, mtime, size) changes, checked at most once per ``recheck_seconds``
(default 1 s), so a deactivation by ``authz keys`` reaches a running server within a second
(a ``stat`` per request released the GIL on the request path: a thread switch per call under
load). Changes made through this store object take effect at once. Fails closed: once a
re-read fails (unreadable, not a file, invalid JSON or records) every authentication raises
``ServiceUnavailable`` — without the path or the parse error, which are logged — until the
file can be read again (re-tried once per ``recheck_seconds``); stale records are never served
beyond that interval. Must not import grpc or cedarpy; never logs a secret.
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import hashlib
import hmac
import logging
import os
import re
import secrets
import stat
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from authz.errors import InvalidClientTokenId, NoSuchEntity, ServiceUnavailable, ValidationError
from authz.sts.securefile import RecordFile, atomic_write_private
from authz.sts.tokens import new_secret_access_key

__all__ = ["AccessKeyInfo", "CredentialStore", "new_access_key_id"]

log = logging.getLogger("authz.sts.credentials")

ACTIVE, INACTIVE = "Active", "Inactive"
HASHED, SEALED = "hmac-sha256", "fernet"
# What a caller sees while the store cannot be read: no path, no parse position (those are
# logged server-side).
STORE_UNAVAILABLE = "The service cannot check credentials right now. Try again later."
_KEY_ID = re.compile(r"AKIA[A-Z2-7]{16}")
_USER_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:(user/[\w+=,.@/-]{1,512}|root)")
_USER_ID = re.compile(r"\w{1,128}", re.ASCII)
_DUMMY_SALT = secrets.token_bytes(16)  # hashed against on unknown keys to even out timing


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
class _Record:
    info: AccessKeyInfo
    salt: bytes = b""  # alg hmac-sha256 (a key from before encryption: it cannot sign)
    digest: bytes = b""
    sealed: str | None = None  # alg fernet: the secret encrypted under the store's key

    @property
    def hashed(self) -> bool:
        return self.sealed is None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"user_arn": self.info.user_arn}
        if self.info.user_id is not None:
            out["user_id"] = self.info.user_id
        out.update({"status": self.info.status, "created_at": self.info.created_at})
        if self.sealed is not None:
            out.update({"alg": SEALED, "secret": self.sealed})
        else:
            out.update({"alg": HASHED, "salt": _b64(self.salt), "hash": _b64(self.digest)})
        return out


def _parse_record(key_id: str, raw: Any) -> _Record:
    if not _KEY_ID.fullmatch(key_id) or not isinstance(raw, dict):
        raise ValueError(f"entry `{key_id}` is not an access key")
    alg = raw.get("alg")
    if alg not in (HASHED, SEALED) or raw.get("status") not in (ACTIVE, INACTIVE):
        raise ValueError(f"entry `{key_id}`: unknown `alg` or `status`")
    created = raw.get("created_at")
    if not isinstance(raw.get("user_arn"), str) or not isinstance(created, int):
        raise ValueError(f"entry `{key_id}`: needs `user_arn` and an integer `created_at`")
    user_id = raw.get("user_id")
    if user_id is not None and not (isinstance(user_id, str) and _USER_ID.fullmatch(user_id)):
        raise ValueError(f"entry `{key_id}`: `user_id` must be an IAM unique id")
    info = AccessKeyInfo(key_id, raw["user_arn"], raw["status"], created, user_id)
    if alg == SEALED:
        if not isinstance(raw.get("secret"), str):
            raise ValueError(f"entry `{key_id}`: needs the encrypted `secret`")
        return _Record(info, sealed=raw["secret"])
    return _Record(info, base64.b64decode(raw["salt"]), base64.b64decode(raw["hash"]))


def _store_file(path: Path) -> RecordFile[_Record]:
    return RecordFile(path, "access_keys", "credentials store", _parse_record, _Record.to_json)


class CredentialStore:
    """Access keys in one JSON file. Thread-safe; several processes may share the file."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
        cache_size: int = 4096,
        recheck_seconds: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._path = Path(path)
        self._clock = clock
        self._recheck = recheck_seconds
        self._monotonic = monotonic
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, bytes], AccessKeyInfo] = OrderedDict()
        self._secrets: dict[str, str] = {}  # decrypted secrets by key id, until the file changes
        self._key_path = self._path.with_name(self._path.name + ".key")
        self._file = _store_file(self._path)
        self._records, self._stamp = self._file.read()  # at start-up, errors name the file
        self._broken = False
        self._refusals = 0
        self._checked = monotonic()

    @property
    def path(self) -> Path:
        return self._path

    @property
    def key_path(self) -> Path:
        """The key-encryption key of the secrets (``<file>.key``)."""
        return self._key_path

    # -- the request path ---------------------------------------------------------------

    def authenticate(self, access_key_id: str, secret: str) -> AccessKeyInfo:
        """The metadata of an Active key whose secret matches, else raise
        ``InvalidClientTokenId``; ``ServiceUnavailable`` while the store cannot be read."""
        records = self._current()
        record = records.get(access_key_id) if isinstance(access_key_id, str) else None
        if not isinstance(secret, str) or len(secret) > 256:
            raise InvalidClientTokenId(reason="malformed")
        presented = hashlib.sha256(secret.encode("utf-8")).digest()
        cache_key = (access_key_id, presented)
        if record is not None and record.info.status == ACTIVE:
            with self._lock:
                cached = self._cache.get(cache_key)
            if cached is not None:
                return cached
        if record is not None and not record.hashed:
            matches = hmac.compare_digest(
                self._unsealed(record).encode("utf-8"), secret.encode("utf-8")
            )
        else:
            salt = record.salt if record is not None else _DUMMY_SALT
            expected = record.digest if record is not None else b"\0" * 32
            matches = hmac.compare_digest(_hash(salt, secret), expected)
        if record is None:
            raise InvalidClientTokenId(reason="unknown_key")
        if record.info.status != ACTIVE:
            raise InvalidClientTokenId(reason="inactive_key")
        if not matches:
            raise InvalidClientTokenId(reason="bad_secret")
        with self._lock:
            self._cache[cache_key] = record.info
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return record.info

    def signing_secret(self, access_key_id: str) -> tuple[AccessKeyInfo, str]:
        """The metadata and the secret of an Active key, for verifying a SigV4 signature;
        ``InvalidClientTokenId`` for an unknown or inactive key, or one stored hashed (it
        cannot sign: re-issue it, ``authz keys migrate``)."""
        record = self._current().get(access_key_id)
        if record is None:
            raise InvalidClientTokenId(reason="unknown_key")
        if record.info.status != ACTIVE:
            raise InvalidClientTokenId(reason="inactive_key")
        if record.hashed:
            log.warning("access key %s is stored hashed and cannot sign requests: re-issue it "
                        "(authz keys migrate)", access_key_id)  # fmt: skip
            raise InvalidClientTokenId(reason="hashed_secret")
        return record.info, self._unsealed(record)

    def hashed_keys(self) -> builtins.list[AccessKeyInfo]:
        """Keys stored only as a hash (from before encryption): they must be re-issued to
        sign requests, since their secret cannot be recovered."""
        return sorted(
            (r.info for r in self._current().values() if r.hashed),
            key=lambda i: (i.created_at, i.access_key_id),
        )

    def ensure_key(self) -> Path:
        """Create the key-encryption key if missing (``authz keys migrate``); its path."""
        with self._file.locked():
            self._fernet(create=True)
        return self._key_path

    def _unsealed(self, record: _Record) -> str:
        key_id = record.info.access_key_id
        cached = self._secrets.get(key_id)
        if cached is not None:
            return cached
        assert record.sealed is not None
        try:
            secret = self._fernet(create=False).decrypt(record.sealed.encode()).decode("utf-8")
        except (ValidationError, InvalidToken, UnicodeDecodeError) as err:
            log.error("cannot decrypt the secret of access key %s: %s", key_id,
                      getattr(err, "message", type(err).__name__))  # fmt: skip
            raise ServiceUnavailable(STORE_UNAVAILABLE, reason="credentials_key_unusable") from None
        with self._lock:
            if len(self._secrets) >= self._cache_size:
                self._secrets.clear()
            self._secrets[key_id] = secret
        return secret

    def _fernet(self, *, create: bool) -> Fernet:
        """The key-encryption key; ``create`` makes it when missing (call under the lock)."""
        try:
            mode = self._key_path.stat().st_mode
            key = self._key_path.read_bytes().strip()
        except FileNotFoundError:
            if not create:
                raise ValidationError(
                    f"credentials store key `{self._key_path}` is missing; the secrets cannot "
                    "be read"
                ) from None
            key = Fernet.generate_key()
            atomic_write_private(self._key_path, key + b"\n")
            return Fernet(key)
        if stat.S_IMODE(mode) & 0o077:
            log.warning("credentials store key %s is readable by others; chmod 600 it",
                        self._key_path)  # fmt: skip
        try:
            return Fernet(key)
        except ValueError as err:
            raise ValidationError(
                f"credentials store key `{self._key_path}` is not a Fernet key"
            ) from err

    def bind_user_id(self, access_key_id: str, user_id: str) -> str:
        """Record ``user_id`` for a key that has none (a key created before keys recorded the
        UserId: bound at its first use after the upgrade); returns the UserId the key is bound
        to now — another process may have bound it first."""
        with self._mutate() as records:
            record = self._existing(records, access_key_id)
            if record.info.user_id is None:
                info = replace(record.info, user_id=user_id)
                records[access_key_id] = replace(record, info=info)
            bound = records[access_key_id].info.user_id
        assert bound is not None
        log.info("access key %s bound to UserId %s at first use", access_key_id, bound)
        return bound

    @property
    def unavailable_refusals(self) -> int:
        """Authentications refused because the store could not be read (a metric)."""
        return self._refusals

    def _current(self) -> dict[str, _Record]:
        """The records, re-read if the file changed since the last read (one stat at most
        every ``recheck_seconds``). Fails closed: while the file cannot be read or parsed,
        every authentication is refused with ``ServiceUnavailable`` (never the old records,
        never the path or the parse error, which are logged here)."""
        now = self._monotonic()
        if now - self._checked >= self._recheck:
            self._checked = now
            try:
                if self._broken or self._file.stamp() != self._stamp:
                    self._adopt()
            except (ValidationError, OSError) as err:
                self._break(err)
        if self._broken:
            self._refusals += 1
            raise ServiceUnavailable(STORE_UNAVAILABLE, reason="credentials_store_unreadable")
        return self._records

    def _break(self, err: Exception) -> None:
        with self._lock:
            was_broken, self._broken = self._broken, True
            self._records = {}
            self._secrets.clear()
            self._cache.clear()
        if not was_broken:
            log.error("credentials store %s cannot be read, refusing access keys: %s",
                      self._path, err)  # fmt: skip

    def _adopt(self) -> None:
        records, stamp = self._file.read()
        with self._lock:
            if self._broken:
                log.warning("credentials store %s readable again", self._path)
            self._records, self._stamp, self._broken = records, stamp, False
            self._secrets.clear()
            self._cache.clear()  # status or secrets may have changed: authenticate afresh

    # -- administration (authz keys) ------------------------------------------------------

    def create(self, user_arn: str, user_id: str | None = None) -> tuple[str, str]:
        """Create an Active key for ``user_arn`` (bound to ``user_id`` when given, else at its
        first use); return ``(access_key_id, secret)`` once."""
        if not isinstance(user_arn, str) or not _USER_ARN.fullmatch(user_arn):
            raise ValidationError(f"user ARN `{user_arn}` is not an IAM user or root ARN")
        if user_id is not None and not _USER_ID.fullmatch(user_id):
            raise ValidationError(f"user id `{user_id}` is not an IAM unique id")
        secret = new_secret_access_key()
        with self._mutate() as records:
            # a key is made only when no encrypted secret exists yet (never over old ones)
            fernet = self._fernet(create=not any(not r.hashed for r in records.values()))
            key_id = new_access_key_id()
            while key_id in records:
                key_id = new_access_key_id()
            info = AccessKeyInfo(key_id, user_arn, ACTIVE, int(self._clock()), user_id)
            sealed = fernet.encrypt(secret.encode("utf-8")).decode("ascii")
            records[key_id] = _Record(info, sealed=sealed)
        return key_id, secret

    def set_status(self, access_key_id: str, status: str) -> AccessKeyInfo:
        if status not in (ACTIVE, INACTIVE):
            raise ValidationError(f"status `{status}` must be `Active` or `Inactive`")
        with self._mutate() as records:
            record = self._existing(records, access_key_id)
            records[access_key_id] = replace(record, info=replace(record.info, status=status))
            return records[access_key_id].info

    def delete(self, access_key_id: str) -> None:
        with self._mutate() as records:
            self._existing(records, access_key_id)
            del records[access_key_id]

    def list(self, user_arn: str | None = None) -> builtins.list[AccessKeyInfo]:
        """Metadata of every key (of one user if given), by creation time. Never secrets."""
        infos = [r.info for r in self._current().values()]
        if user_arn is not None:
            infos = [i for i in infos if i.user_arn == user_arn]
        return sorted(infos, key=lambda i: (i.created_at, i.access_key_id))

    @staticmethod
    def _existing(records: dict[str, _Record], access_key_id: str) -> _Record:
        record = records.get(access_key_id)
        if record is None:
            raise NoSuchEntity(f"the access key with id `{access_key_id}` cannot be found")
        return record

    @contextlib.contextmanager
    def _mutate(self) -> Iterator[dict[str, _Record]]:
        """Lock the file, re-read it, yield a copy to change, write it back and adopt it."""
        with self._file.locked():
            records = dict(self._file.read()[0])
            yield records
            self._file.write(records)
            self._adopt()
