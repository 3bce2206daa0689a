"""The STS signing key ring: Ed25519 keys, rotation, retirement, pruning and the JWKS.

Owns the ring's rules and the *key directory* source. It does not sign or verify tokens
(``tokens.py`` does); it must not import grpc or cedarpy. Where the keys are kept is a
``KeySource``: a directory (below; also a read-only secret mount) or the state database
(``authz.sts.keys_state``, sealed private keys, rotation coordinated through the database).

Layout of a key directory::

    <dir>/index.json     {"version", "max_token_ttl", "skew", "keys": [{kid, created_at,
                          activates_at?, retired_at, not_after}]}          (0600)
    <dir>/<kid>.pem      PKCS#8 Ed25519 private key, unencrypted           (0600)
    <dir>/.lock          flock(2) target serialising writers (created only by writers)

Reading never writes: a read-only directory (a Kubernetes Secret or any read-only mount)
works, and is re-read when ``index.json`` changes. A directory published by an atomic swap
(Kubernetes' ``<dir>/..data`` symlink, or ``<dir>`` itself a symlink flipped by the operator)
is read through the resolved target, so one read sees one publication, never a mix.

The ``kid`` is the RFC 7638 JWK thumbprint of the public key. **Which key signs** at time
``t``: the key with the latest ``activates_at <= t`` (``activates_at`` defaults to
``created_at``) that is not retired at ``t`` (``retired_at`` unset or ``> t``). A rotation
adds a key activating at ``now + activate_in`` and retires every current signer at that same
instant, with ``not_after = activation + max_token_ttl + skew``: until then the old key keeps
verifying (every token it signed may still be live), afterwards ``prune()`` deletes it. A key
not yet active already verifies and is in the JWKS: with ``activate_in`` longer than it takes
every replica to see the change, all replicas accept the new key before any signs with it, and
all switch at the same instant. The ring state is an immutable tuple swapped by reference, so
readers never lock. Private key material is never logged, printed or put in an exception
message.
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
from typing import Any, Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from authz.errors import ValidationError
from authz.sts.securefile import atomic_write_private, file_stamp

__all__ = [
    "DEFAULT_MAX_TOKEN_TTL",
    "DEFAULT_SKEW",
    "KeyInfo",
    "KeyRing",
    "KeySource",
    "RingState",
    "SigningKey",
    "make_state",
    "new_private_key",
    "thumbprint",
]

log = logging.getLogger(__name__)

INDEX_FILE = "index.json"
LOCK_FILE = ".lock"
K8S_DATA = "..data"  # the symlink a Kubernetes Secret/ConfigMap volume swaps atomically
DEFAULT_MAX_TOKEN_TTL = 43200  # the longest DurationSeconds STS ever grants (iam-semantics §6.1)
DEFAULT_SKEW = 300  # clock skew between replicas, and room for the verifier's leeway
DEFAULT_REFRESH_INTERVAL = 1.0  # seconds between source checks by maybe_refresh()


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
    activates_at: int | None = None  # None: created_at (the key signed from its creation)

    @property
    def active_from(self) -> int:
        return self.created_at if self.activates_at is None else self.activates_at

    def verifies_at(self, now: float) -> bool:
        return self.not_after is None or now < self.not_after

    def signs_at(self, now: float) -> bool:
        """Eligible to sign at ``now`` (the ring picks the latest-activated eligible key)."""
        return self.active_from <= now and (self.retired_at is None or now < self.retired_at)

    def status(self, now: float) -> str:
        if self.active_from > now:
            return "pending"
        if self.retired_at is None or now < self.retired_at:
            return "signing"
        return "verifying" if self.verifies_at(now) else "expired"

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "kid": self.kid,
            "created_at": self.created_at,
            "retired_at": self.retired_at,
            "not_after": self.not_after,
        }
        if self.activates_at is not None:
            doc["activates_at"] = self.activates_at
        return doc


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
    signing: SigningKey


@dataclass(frozen=True, slots=True)
class RingState:
    """One immutable reading of a source. ``stamp`` is the source's change marker when read."""

    entries: tuple[_Entry, ...]  # oldest first
    by_kid: dict[str, _Entry]
    max_token_ttl: int
    skew: int
    stamp: object

    def signer_at(self, now: float) -> SigningKey:
        eligible = [e for e in self.entries if e.info.signs_at(now)]
        if not eligible:  # cannot happen for a state make_state accepted; never stop signing
            eligible = [e for e in self.entries if e.info.retired_at is None] or list(self.entries)
        best = max(eligible, key=lambda e: (e.info.active_from, e.info.created_at))
        return best.signing


def make_state(
    keys: builtins.list[tuple[KeyInfo, Ed25519PrivateKey]],
    max_token_ttl: int,
    skew: int,
    stamp: object,
    where: str,
) -> RingState:
    """A ``RingState`` from (info, private key) pairs; ``ValidationError`` naming ``where``
    when no key is unretired (nothing could sign)."""
    entries = tuple(_make_entry(info, key) for info, key in keys)
    if not any(e.info.retired_at is None for e in entries):
        raise ValidationError(f"key ring `{where}`: no unretired signing key")
    return RingState(
        entries=entries,
        by_kid={e.info.kid: e for e in entries},
        max_token_ttl=max_token_ttl,
        skew=skew,
        stamp=stamp,
    )


def new_private_key() -> tuple[str, Ed25519PrivateKey]:
    """A fresh Ed25519 key and its kid."""
    private = Ed25519PrivateKey.generate()
    return thumbprint(private.public_key()), private


def rotated_infos(
    infos: builtins.list[KeyInfo], new: KeyInfo, ttl: int, skew: int
) -> builtins.list[KeyInfo]:
    """``infos`` with every current signer retired when ``new`` activates, then ``new``."""
    at = new.active_from
    out = [
        replace(i, retired_at=at, not_after=at + ttl + skew) if i.retired_at is None else i
        for i in infos
    ]
    return [*out, new]


class KeySource(Protocol):
    """Where a ring's keys are kept. ``stamp()`` must be cheap (it is checked on the request
    path at most once per refresh interval) and change whenever the keys change."""

    @property
    def location(self) -> str: ...

    def stamp(self) -> object: ...

    def read(self) -> RingState:
        """The keys now; ``ValidationError`` naming the problem if they are unusable."""
        ...

    def rotate(self, now: int, activate_in: int) -> str:
        """Add a key activating at ``now + activate_in``; retire the signers then; its kid."""
        ...

    def prune(self, now: float) -> builtins.list[str]:
        """Delete keys past ``not_after``; their kids."""
        ...


class KeyRing:
    """Ed25519 signing keys from a ``KeySource``. Build with ``generate`` or ``load`` (a
    directory) or ``authz.sts.keys_state.open_state_ring`` (the state database)."""

    def __init__(
        self,
        source: KeySource,
        state: RingState,
        clock: Callable[[], float],
        refresh_interval: float = DEFAULT_REFRESH_INTERVAL,
    ) -> None:
        self._source = source
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
            info = _write_new_key(path, int(clock()), None)
            _write_index(path, (info,), max_token_ttl, skew)
            log.info("key ring created", extra={"key_dir": str(path), "kid": info.kid})
        return cls.load(path, clock=clock)

    @classmethod
    def load(
        cls,
        directory: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
        refresh_interval: float = DEFAULT_REFRESH_INTERVAL,
    ) -> KeyRing:
        """Read an existing ring; raise ``ValidationError`` naming the problem if it is broken.
        Reading writes nothing (a read-only directory works)."""
        source = DirSource(Path(directory))
        return cls(source, source.read(), clock, refresh_interval)

    @property
    def source(self) -> KeySource:
        return self._source

    @property
    def location(self) -> str:
        """Where the keys are (a directory, or the state database URL without password)."""
        return self._source.location

    @property
    def directory(self) -> Path:
        """The key directory (``ValidationError`` for a ring kept elsewhere)."""
        if not isinstance(self._source, DirSource):
            raise ValidationError(f"key ring `{self.location}` is not a directory")
        return self._source.directory

    @property
    def stamp(self) -> object:
        """The source's change marker of the keys held now."""
        return self._state.stamp

    @property
    def max_token_ttl(self) -> int:
        return self._state.max_token_ttl

    @property
    def skew(self) -> int:
        return self._state.skew

    @property
    def signing_key(self) -> SigningKey:
        """The key that signs now (see the module docstring for the rule)."""
        return self._state.signer_at(self._clock())

    def list(self) -> builtins.list[KeyInfo]:
        """Every key known, oldest first (including retired keys not yet pruned)."""
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
        """RFC 7517 JWK Set (RFC 8037 OKP keys) of every key still verifying, newest first
        (a key not yet active is included: verifiers must know it before it signs)."""
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
        """Re-read the source if its stamp changed (another process rotated); True if so."""
        try:
            if self._source.stamp() == self._state.stamp:
                return False
            self._state = self._source.read()
        except (OSError, ValidationError) as err:  # keep the last good ring
            log.warning("key ring reload failed; keeping last good: %s", err)
            return False
        return True

    def reload(self) -> None:
        """Re-read the source now (a change notification); raises if it cannot be read."""
        self._state = self._source.read()

    def rotate(self, *, activate_in: int = 0) -> SigningKey:
        """Add a fresh key that signs from ``now + activate_in`` on; the current signer is
        retired at that instant and keeps verifying until its tokens can have expired. Returns
        the new key (it is ``signing_key`` once active)."""
        if activate_in < 0:
            raise ValidationError("key rotation: `activate_in` must be >= 0 seconds")
        kid = self._source.rotate(int(self._clock()), activate_in)
        self._state = self._source.read()
        log.info("signing key rotated", extra={"keys": self.location, "kid": kid})
        return self._state.by_kid[kid].signing

    def prune(self) -> builtins.list[str]:
        """Delete retired keys past ``not_after``; return their kids. The signer is never pruned."""
        gone = self._source.prune(self._clock())
        self._state = self._source.read()
        if gone:
            log.info("retired keys pruned", extra={"kids": gone})
        return gone


# -- the key directory ------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


class DirSource:
    """Keys in a directory (layout in the module docstring). Readers resolve the published
    snapshot first (``<dir>/..data`` or the directory's symlink target) and read everything
    from it; writers (``rotate``, ``prune``) need a writable directory and take its lock."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def location(self) -> str:
        return str(self.directory)

    def _snapshot(self) -> Path:
        data = self.directory / K8S_DATA
        return Path(os.path.realpath(data if data.exists() else self.directory))

    def stamp(self) -> object:
        snapshot = self._snapshot()
        return (str(snapshot), file_stamp(snapshot / INDEX_FILE))

    def read(self) -> RingState:
        return _read_state(self.directory, self._snapshot())

    def rotate(self, now: int, activate_in: int) -> str:
        with _locked(self.directory):
            state = self.read()
            activates = now + activate_in if activate_in else None
            new = _write_new_key(self.directory, now, activates)
            infos = rotated_infos(
                [e.info for e in state.entries], new, state.max_token_ttl, state.skew
            )
            _write_index(self.directory, tuple(infos), state.max_token_ttl, state.skew)
        return new.kid

    def prune(self, now: float) -> builtins.list[str]:
        with _locked(self.directory):
            state = self.read()
            gone = [e.info for e in state.entries if not e.info.verifies_at(now)]
            if gone:
                keep = tuple(e.info for e in state.entries if e.info.verifies_at(now))
                _write_index(self.directory, keep, state.max_token_ttl, state.skew)
                for info in gone:  # index first: a crash leaves an orphan file, never a hole
                    with contextlib.suppress(FileNotFoundError):
                        (self.directory / f"{info.kid}.pem").unlink()
        return [i.kid for i in gone]


def _write_new_key(directory: Path, now: int, activates_at: int | None) -> KeyInfo:
    kid, private = new_private_key()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    atomic_write_private(directory / f"{kid}.pem", pem)
    return KeyInfo(kid=kid, created_at=now, activates_at=activates_at)


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
    return _Entry(info, private, public, jwk, SigningKey(info.kid, private))


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
    return KeyInfo(
        raw["kid"],
        created,
        _opt_int(raw, "retired_at"),
        _opt_int(raw, "not_after"),
        _opt_int(raw, "activates_at"),
    )


def load_private_pem(data: bytes, kid: str) -> Ed25519PrivateKey:
    """The Ed25519 key in PEM ``data``, checked to be the key ``kid`` names (``ValueError``)."""
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"key `{kid}`: not an Ed25519 private key")
    if thumbprint(key.public_key()) != kid:
        raise ValueError(f"key `{kid}`: content does not match its kid")
    return key


def _load_private(directory: Path, info: KeyInfo) -> Ed25519PrivateKey:
    path = directory / f"{info.kid}.pem"
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("private key file is readable by group/others", extra={"path": str(path)})
    return load_private_pem(path.read_bytes(), info.kid)


def _read_state(directory: Path, snapshot: Path) -> RingState:
    index = snapshot / INDEX_FILE
    try:
        stamp = (str(snapshot), file_stamp(index))
        doc = json.loads(index.read_bytes())
        if not isinstance(doc, dict) or doc.get("version") != 1:
            raise ValueError("index must be an object with `version` 1")
        ttl, skew = _opt_int(doc, "max_token_ttl"), _opt_int(doc, "skew")
        if ttl is None or skew is None or not isinstance(doc.get("keys"), list):
            raise ValueError("index needs `max_token_ttl`, `skew` and a `keys` list")
        keys = [(info, _load_private(snapshot, info)) for info in map(_parse_info, doc["keys"])]
    except FileNotFoundError as err:
        missing = Path(err.filename).name
        raise ValidationError(f"key ring `{directory}`: missing `{missing}`") from err
    except ValueError as err:  # includes json.JSONDecodeError and bad PEM data
        raise ValidationError(f"key ring `{directory}`: {err}") from err
    return make_state(keys, ttl, skew, stamp, str(directory))
