"""What one load of a repository leaves for the next one, so a reload re-reads and re-builds only
what changed.

Owns ``LoadMemo``: per file, the stat signature, the content digest and the decoded document (or
the problems reading it produced); per document, the entity the loader built from it with the
problems and references that building reported. Every entry is keyed by what it is a function
of (path, content digest, account), so a reused entry is exactly what a fresh build would make;
entities and documents are immutable and shared between snapshots.

A stat signature (inode, device, size, mtime and ctime in ns) is trusted only for files whose
timestamps are older than the scan by ``SETTLE_NS`` (git's "racy" rule: a file written twice
within one timestamp tick looks unchanged), otherwise the file is read and hashed again.

A memo belongs to one chain of loads (one ``Reloader``); a load (``begin`` … ``finish``) reads
the previous generation and fills a new one, so entries of deleted files are dropped and the memo
never holds more than one repository's worth. A load that never finishes (it crashed) leaves the
previous generation in place. Not thread-safe: one load at a time.

Imports neither cedarpy nor grpc.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authz.errors import Problem

SETTLE_NS = 2_000_000_000  # timestamps younger than this at scan time are not trusted

Signature = tuple[int, int, int, int, int]


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One file as last read: its signature (None when too recent to trust), the SHA-256 of its
    bytes, what it adds to the repository's content hash, and the decoded ``Document`` (None:
    the problems say why)."""

    signature: Signature | None
    digest: bytes
    hashed: bytes
    document: Any  # authz.repo.layout.Document | None (immutable, shared between loads)
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True, slots=True)
class Built:
    """What building one document produced: the entity (or None) and what it reported."""

    value: Any
    problems: tuple[Problem, ...]
    references: tuple[Any, ...]


class LoadMemo:
    """The previous load's files and built documents (read) and this load's (written)."""

    def __init__(self) -> None:
        self._files: dict[str, FileEntry] = {}
        self._built: dict[tuple[str, ...], Built] = {}
        self._next_files: dict[str, FileEntry] = {}
        self._next_built: dict[tuple[str, ...], Built] = {}
        self.reused_files = 0
        self.reused_built = 0

    def begin(self) -> None:
        """Start a load that may reuse what the last finished load recorded."""
        self._next_files, self._next_built = {}, {}
        self.reused_files = self.reused_built = 0

    def finish(self, *, files_only: bool = False) -> None:
        """The load read the whole repository: its records replace the previous ones (valid or
        not, every record is keyed by content, so a refused revision's records are reusable).
        ``files_only``: nothing was built (the content was unchanged); keep the built ones."""
        self._files = self._next_files
        if not files_only:
            self._built = self._next_built
        self._next_files, self._next_built = {}, {}

    def file(self, rel: str) -> FileEntry | None:
        return self._files.get(rel)

    def keep_file(self, rel: str, entry: FileEntry, *, reused: bool) -> None:
        self._next_files[rel] = entry
        self.reused_files += reused

    def built(self, key: tuple[str, ...]) -> Built | None:
        found = self._built.get(key)
        if found is not None:
            self._next_built[key] = found
            self.reused_built += 1
        return found

    def keep_built(self, key: tuple[str, ...], built: Built) -> None:
        self._next_built[key] = built

    def __len__(self) -> int:
        return len(self._files) + len(self._built)
