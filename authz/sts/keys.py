"""The STS signing key ring: Ed25519 keys on disk, rotation, retirement, pruning and the JWKS.

Owns the key directory and nothing else. It does not sign or verify tokens (``tokens.py``
does); it must not import grpc or cedarpy. Layout of a key directory::

    <dir>/index.json     {"version", "max_token_ttl", "skew", "keys": [{kid, created_at,
                          retired_at, not_after}]}                         (0600)
    <dir>/<kid>.pem      PKCS#8 Ed25519 private key, unencrypted           (0600)
    <dir>/.lock          flock(2) target serialising writers across processes

The ``kid`` is the RFC 7638 JWK thumbprint of the public key. The newest unretired key signs.
``rotate()`` retires the signer at ``now`` and sets its ``not_after`` to ``now + max_token_ttl
+ skew``: until then it keeps verifying (every token it signed may still be live), afterwards
``prune()`` deletes it. The ring state is an immutable tuple swapped by reference, so readers
never lock. Private key material is never logged, printed or put in an exception message.
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from authz.errors import ValidationError
from authz.sts.securefile import atomic_write_private, file_stamp

__all__ = [
    "DEFAULT_MAX_TOKEN_TTL",
    "DEFAULT_SKEW",
    "KeyInfo",
    "KeyRing",
    "SigningKey",
    "thumbprint",
]

log = logging.getLogger(__name__)

INDEX_FILE = "index.json"
LOCK_FILE = ".lock"
DEFAULT_MAX_TOKEN_TTL = 43200  # the longest DurationSeconds STS ever grants (iam-semantics §6.1)
DEFAULT_SKEW = 300  # clock skew between replicas, and room for the verifier's leeway
DEFAULT_REFRESH_INTERVAL = 1.0  # seconds between index.json checks by maybe_refresh()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def thumbprint(key: Ed25519PublicKey) -> str:
    """RFC 7638 thumbprint (SHA-256, base64url) of an Ed25519 public key as an OKP JWK."""
    canonical = json.dumps(
        {"crv": "Ed25519", "kty": "OKP", "x": _b64url(_raw_public(key))},
        separators=(",", ":"),
        sort_keys=True,
    )
    return _b64url(hashlib.sha256(canonical.encode("ascii")).digest())


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """Public metadata of one key (what ``list()`` returns; safe to print)."""

    kid: str
    created_at: int
    retired_at: int | None = None
    not_after: int | None = None  # set on retirement: the key stops verifying after this

    def verifies_at(self, now: float) -> bool:
        return self.not_after is None or now < self.not_after

    def status(self, now: float) -> str:
        if self.retired_at is None:
            return "signing"
        return "verifying" if self.verifies_at(now) else "expired"

    def to_json(self) -> dict[str, Any]:
        return {
            "kid": self.kid,
            "created_at": self.created_at,
            "retired_at": self.retired_at,
            "not_after": self.not_after,
        }


@dataclass(frozen=True, slots=True)
class SigningKey:
    """The key that signs new tokens. ``repr`` never shows the private key."""

    kid: str
    private_key: Ed25519PrivateKey

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r})"


@dataclass(frozen=True, slots=True)
class _Entry:
    info: KeyInfo
    private_key: Ed25519PrivateKey
    public_key: Ed25519PublicKey
    jwk: dict[str, str]


@dataclass(frozen=True, slots=True)
class _State:
    entries: tuple[_Entry, ...]  # oldest first
    by_kid: dict[str, _Entry]
    signing: SigningKey
    max_token_ttl: int
    skew: int
    stamp: tuple[int, int, int]  # (inode, mtime_ns, size) of index.json when read


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


class KeyRing:
    """Ed25519 signing keys kept in a directory. Build with ``generate`` or ``load``."""

    def __init__(
        self,
        directory: Path,
        state: _State,
        clock: Callable[[], float],
        refresh_interval: float = DEFAULT_REFRESH_INTERVAL,
    ) -> None:
        self._dir = directory
        self._state = state
        self._clock = clock
        self._refresh_interval = refresh_interval
        self._next_check = clock() + refresh_interval

    @classmethod
    def generate(
        cls,
        directory: str | os.PathLike[str],
        *,
        max_token_ttl: int = DEFAULT_MAX_TOKEN_TTL,
        skew: int = DEFAULT_SKEW,
        clock: Callable[[], float] = time.time,
    ) -> KeyRing:
        """Create a new ring with one signing key in ``directory`` (created 0700 if absent)."""
        if max_token_ttl <= 0 or skew < 0:
            raise ValidationError("key ring: `max_token_ttl` must be > 0 and `skew` >= 0")
        path = Path(directory)
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        with _locked(path):
            if (path / INDEX_FILE).exists():
                raise ValidationError(f"key ring `{path}`: already exists; use rotate")
            entry = cls._new_entry(path, int(clock()))
            _write_index(path, (entry.info,), max_token_ttl, skew)
            log.info("key ring created", extra={"key_dir": str(path), "kid": entry.info.kid})
        return cls.load(path, clock=clock)

    @classmethod
    def load(
        cls,
        directory: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
        refresh_interval: float = DEFAULT_REFRESH_INTERVAL,
    ) -> KeyRing:
        """Read an existing ring; raise ``ValidationError`` naming the problem if it is broken."""
        path = Path(directory)
        return cls(path, _read_state(path), clock, refresh_interval)

    @property
    def directory(self) -> Path:
        return self._dir

    @property
    def max_token_ttl(self) -> int:
        return self._state.max_token_ttl

    @property
    def skew(self) -> int:
        return self._state.skew

    @property
    def signing_key(self) -> SigningKey:
        return self._state.signing

    def list(self) -> list[KeyInfo]:
        """Every key on disk, oldest first (including retired keys not yet pruned)."""
        return [e.info for e in self._state.entries]

    def public_key(self, kid: str) -> Ed25519PublicKey:
        """The public key for ``kid`` if it still verifies; ``KeyError`` otherwise."""
        entry = self._state.by_kid.get(kid)
        if entry is None or not entry.info.verifies_at(self._clock()):
            raise KeyError(kid)
        return entry.public_key

    def derived_key(self, kid: str, purpose: str) -> bytes:
        """32 bytes derived from the private key of ``kid`` for ``purpose`` (SHA-256 over a
        purpose label and the raw private key): e.g. the key session secrets are derived from
        (``authz.sts.session_secret``). ``KeyError`` when ``kid`` no longer verifies. Every
        replica holding the ring derives the same bytes; nothing new is stored."""
        entry = self._state.by_kid.get(kid)
        if entry is None or not entry.info.verifies_at(self._clock()):
            raise KeyError(kid)
        raw = entry.private_key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return hashlib.sha256(f"authz/{purpose}/v1\0".encode() + raw).digest()

    def jwks(self) -> dict[str, Any]:
        """RFC 7517 JWK Set (RFC 8037 OKP keys) of every key still verifying, newest first."""
        now = self._clock()
        keys = [dict(e.jwk) for e in reversed(self._state.entries) if e.info.verifies_at(now)]
        return {"keys": keys}

    def maybe_refresh(self) -> None:
        """``refresh()`` at most once per ``refresh_interval`` (signers call it before signing,
        so a rotation by ``authz keys rotate`` takes effect within that interval; ``skew`` must
        exceed it, since the retired key may sign that long after ``retired_at``)."""
        now = self._clock()
        if now >= self._next_check:
            self._next_check = now + self._refresh_interval
            self.refresh()

    def refresh(self) -> bool:
        """Reload from disk if ``index.json`` changed (another process rotated); True if so."""
        try:
            if file_stamp(self._dir / INDEX_FILE) == self._state.stamp:
                return False
            self._state = _read_state(self._dir)
        except (OSError, ValidationError) as err:  # keep the last good ring
            log.warning("key ring reload failed; keeping last good: %s", err)
            return False
        return True

    def rotate(self) -> SigningKey:
        """Make a fresh key the signer at once; retire the old signer (it keeps verifying)."""
        with _locked(self._dir):
            state = _read_state(self._dir)
            now = int(self._clock())
            not_after = now + state.max_token_ttl + state.skew
            infos = [
                replace(e.info, retired_at=now, not_after=not_after)
                if e.info.retired_at is None
                else e.info
                for e in state.entries
            ]
            entry = self._new_entry(self._dir, now)
            _write_index(self._dir, (*infos, entry.info), state.max_token_ttl, state.skew)
            self._state = _read_state(self._dir)
        log.info("signing key rotated", extra={"key_dir": str(self._dir), "kid": entry.info.kid})
        return self._state.signing

    def prune(self) -> builtins.list[str]:
        """Delete retired keys past ``not_after``; return their kids. The signer is never pruned."""
        with _locked(self._dir):
            state = _read_state(self._dir)
            now = self._clock()
            gone = [e.info for e in state.entries if not e.info.verifies_at(now)]
            if gone:
                keep = tuple(e.info for e in state.entries if e.info.verifies_at(now))
                _write_index(self._dir, keep, state.max_token_ttl, state.skew)
                for info in gone:  # index first: a crash leaves an orphan file, never a hole
                    with contextlib.suppress(FileNotFoundError):
                        (self._dir / f"{info.kid}.pem").unlink()
            self._state = _read_state(self._dir)
        if gone:
            log.info("retired keys pruned", extra={"kids": [i.kid for i in gone]})
        return [i.kid for i in gone]

    @staticmethod
    def _new_entry(directory: Path, now: int) -> _Entry:
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        kid = thumbprint(private.public_key())
        atomic_write_private(directory / f"{kid}.pem", pem)
        return _make_entry(KeyInfo(kid=kid, created_at=now), private)


def _make_entry(info: KeyInfo, private: Ed25519PrivateKey) -> _Entry:
    public = private.public_key()
    jwk = {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": _b64url(_raw_public(public)),
        "kid": info.kid,
        "alg": "EdDSA",
        "use": "sig",
    }
    return _Entry(info=info, private_key=private, public_key=public, jwk=jwk)


def _write_index(directory: Path, infos: tuple[KeyInfo, ...], ttl: int, skew: int) -> None:
    doc = {
        "version": 1,
        "max_token_ttl": ttl,
        "skew": skew,
        "keys": [i.to_json() for i in infos],
    }
    atomic_write_private(directory / INDEX_FILE, (json.dumps(doc, indent=2) + "\n").encode())


def _opt_int(raw: dict[str, Any], name: str) -> int | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"`{name}` must be an integer")
    return value


def _parse_info(raw: Any) -> KeyInfo:
    if not isinstance(raw, dict) or not isinstance(raw.get("kid"), str):
        raise ValueError("key entry must be an object with a string `kid`")
    created = _opt_int(raw, "created_at")
    if created is None:
        raise ValueError(f"key `{raw['kid']}`: `created_at` is required")
    return KeyInfo(raw["kid"], created, _opt_int(raw, "retired_at"), _opt_int(raw, "not_after"))


def _load_private(directory: Path, info: KeyInfo) -> Ed25519PrivateKey:
    path = directory / f"{info.kid}.pem"
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("private key file is readable by group/others", extra={"path": str(path)})
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"key `{info.kid}`: not an Ed25519 private key")
    if thumbprint(key.public_key()) != info.kid:
        raise ValueError(f"key `{info.kid}`: file content does not match its kid")
    return key


def _read_state(directory: Path) -> _State:
    index = directory / INDEX_FILE
    try:
        stamp = file_stamp(index)
        doc = json.loads(index.read_bytes())
        if not isinstance(doc, dict) or doc.get("version") != 1:
            raise ValueError("index must be an object with `version` 1")
        ttl, skew = _opt_int(doc, "max_token_ttl"), _opt_int(doc, "skew")
        if ttl is None or skew is None or not isinstance(doc.get("keys"), list):
            raise ValueError("index needs `max_token_ttl`, `skew` and a `keys` list")
        entries = tuple(
            _make_entry(info, _load_private(directory, info))
            for info in map(_parse_info, doc["keys"])
        )
    except FileNotFoundError as err:
        missing = Path(err.filename).name
        raise ValidationError(f"key ring `{directory}`: missing `{missing}`") from err
    except ValueError as err:  # includes json.JSONDecodeError and bad PEM data
        raise ValidationError(f"key ring `{directory}`: {err}") from err
    signers = [e for e in entries if e.info.retired_at is None]
    if not signers:
        raise ValidationError(f"key ring `{directory}`: no unretired signing key")
    newest = max(signers, key=lambda e: e.info.created_at)
    return _State(
        entries=entries,
        by_kid={e.info.kid: e for e in entries},
        signing=SigningKey(newest.info.kid, newest.private_key),
        max_token_ttl=ttl,
        skew=skew,
        stamp=stamp,
    )
