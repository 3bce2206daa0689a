"""Private files for secrets and keys: written atomically with mode 0600, a cheap stamp to
notice that another process changed them, and ``RecordFile``, the versioned JSON record file
with a cross-process write lock. Shared by the key ring, the access-key store and the MFA
store."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from authz.errors import ValidationError

R = TypeVar("R")


def atomic_write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600 via a temp file in the same dir + os.replace,
    so readers see the old or the new content, never a half-written file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def file_stamp(path: Path) -> tuple[int, int, int]:
    """(inode, mtime_ns, size): changes whenever the file is replaced or rewritten."""
    st = path.stat()
    return (st.st_ino, st.st_mtime_ns, st.st_size)


Stamp = tuple[int, int, int] | None  # None: the file does not exist yet


@dataclass(frozen=True)
class RecordFile(Generic[R]):
    """A private JSON file ``{"version": 1, <section>: {id: record}}`` shared by processes:
    ``read`` parses it (with the stamp it had), ``write`` replaces it atomically, ``locked``
    serialises writers across processes with ``flock`` on ``<path>.lock``.

    ``parse(id, raw)`` raises ValueError/KeyError/TypeError for a bad entry; those become a
    ``ValidationError`` naming the file (``label``)."""

    path: Path
    section: str
    label: str
    parse: Callable[[str, Any], R]
    dump: Callable[[R], dict[str, Any]]

    def stamp(self) -> Stamp:
        try:
            return file_stamp(self.path)
        except FileNotFoundError:
            return None

    def read(self) -> tuple[dict[str, R], Stamp]:
        try:
            st = self.path.stat()
            data = self.path.read_bytes()
        except FileNotFoundError:
            return {}, None
        try:
            doc = json.loads(data)
            if not isinstance(doc, dict) or doc.get("version") != 1:
                raise ValueError("must be an object with `version` 1")
            entries = doc.get(self.section, {})
            if not isinstance(entries, dict):
                raise ValueError(f"`{self.section}` must be an object")
            records = {k: self.parse(k, v) for k, v in entries.items()}
        except (ValueError, KeyError, TypeError) as err:  # binascii.Error is a ValueError
            raise ValidationError(f"{self.label} `{self.path}`: {err}") from err
        return records, (st.st_ino, st.st_mtime_ns, st.st_size)

    def write(self, records: Mapping[str, R]) -> None:
        entries = {k: self.dump(r) for k, r in sorted(records.items())}
        doc = {"version": 1, self.section: entries}
        atomic_write_private(self.path, (json.dumps(doc, indent=2) + "\n").encode())

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)
