"""Sealing: encryption at rest of the secrets kept in the state database.

Owns the state key file and what is done with it. Secret access keys, MFA seeds and signing
keys are stored as Fernet tokens (AES-128-CBC + HMAC-SHA256, with a timestamp) under a key
that is NEVER in the database: someone who copies the database (a backup, a replica's disk, a
``pg_dump``) learns no secret without the key file too.

The key file holds one or more Fernet keys, one per line (blank lines and ``#`` comments are
ignored). The first key seals; every key unseals (``MultiFernet``), so a key is rotated by
putting a new key first, re-sealing (``authz state migrate`` re-seals what it imports), then
dropping the old line. The file is created (mode 0600, never over an existing file) only for a
local SQLite state (``create=True``); with PostgreSQL every replica must share one key (a
Secret mount), so a missing file is an error naming it. A key file readable by group or
others is used, with a warning.

Errors: ``SealError`` for a key file that is missing, unreadable or not Fernet keys (the
message names the file, never a key), and for a token that no key opens (wrong key, tampered
or truncated data). Must not import grpc or cedarpy; never logs a key or a plaintext.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

__all__ = ["SealError", "Sealer", "new_key_line"]

log = logging.getLogger("authz.state.sealing")

MAX_KEY_FILE_BYTES = 64 * 1024  # a few hundred keys: anything larger is not a key file


class SealError(Exception):
    """A key file that cannot be used, or a sealed value that no key opens."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def new_key_line() -> bytes:
    """A fresh Fernet key, as one line of a key file."""
    return Fernet.generate_key() + b"\n"


class Sealer:
    """Seals and unseals secrets with the keys of one key file. Thread-safe (immutable)."""

    __slots__ = ("_count", "_fernet")

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise SealError("a sealer needs at least one key")
        try:
            fernets = [Fernet(key) for key in keys]
        except (ValueError, TypeError) as err:
            raise SealError("not a Fernet key (32 url-safe base64-encoded bytes)") from err
        self._fernet = MultiFernet(fernets)
        self._count = len(fernets)

    @property
    def key_count(self) -> int:
        """How many keys unseal (the first also seals)."""
        return self._count

    def seal(self, plaintext: bytes) -> str:
        """``plaintext`` encrypted and authenticated under the first key (Fernet token text)."""
        return self._fernet.encrypt(plaintext).decode("ascii")

    def unseal(self, token: str) -> bytes:
        """The plaintext of ``token``; ``SealError`` if no key opens it."""
        try:
            return self._fernet.decrypt(token.encode("ascii"))
        except (InvalidToken, UnicodeEncodeError, AttributeError, TypeError):
            raise SealError("a sealed value cannot be opened with the state key") from None

    def reseal(self, token: str) -> str:
        """``token`` sealed again under the first key (after a rotation)."""
        return self.seal(self.unseal(token))

    @classmethod
    def from_key_file(cls, path: Path, *, create: bool) -> Sealer:
        """The sealer of the key file at ``path``. ``create``: make the file with one new key
        when it does not exist (local SQLite state only; never for a shared database)."""
        path = Path(path)
        if create and not path.exists():
            _create_key_file(path)
        try:
            mode = path.stat().st_mode
            if not stat.S_ISREG(mode):
                raise SealError(f"state key file `{path}` is not a file")
            data = path.read_bytes()[: MAX_KEY_FILE_BYTES + 1]
        except FileNotFoundError:
            raise SealError(
                f"state key file `{path}` does not exist: every node sharing the state database "
                "needs the same key (create one with `authz state keygen --key-file PATH`)"
            ) from None
        except OSError as err:
            raise SealError(f"state key file `{path}` is not readable: {err.strerror}") from None
        if len(data) > MAX_KEY_FILE_BYTES:
            raise SealError(f"state key file `{path}` is larger than {MAX_KEY_FILE_BYTES} bytes")
        if stat.S_IMODE(mode) & 0o077:
            log.warning("state key file %s is readable by group or others; chmod 600 it", path)
        keys = _parse_keys(path, data)
        return cls(keys)


def _parse_keys(path: Path, data: bytes) -> list[bytes]:
    keys: list[bytes] = []
    for number, raw in enumerate(data.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(b"#"):
            continue
        try:
            Fernet(line)
        except (ValueError, TypeError):
            raise SealError(
                f"state key file `{path}` line {number}: not a Fernet key "
                "(32 url-safe base64-encoded bytes)"
            ) from None
        keys.append(line)
    if not keys:
        raise SealError(f"state key file `{path}` holds no key")
    return keys


def _create_key_file(path: Path) -> None:
    """Write a new key file with mode 0600, atomically and never over an existing one: the
    key goes to a temp file that is hard-linked to ``path`` (which fails if another process
    created it first; its key is then used)."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise SealError(f"cannot create state key file `{path}`: {err.strerror}") from None
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(new_key_line())
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
            log.warning("created a new state key file %s (local state only)", path)
        except FileExistsError:
            pass  # another process made it first: use theirs
    except OSError as err:
        raise SealError(f"cannot create state key file `{path}`: {err.strerror}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
