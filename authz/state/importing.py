"""Importing the JSON stores of earlier releases into the state database (``authz state
migrate``): the vocabulary every importer shares.

An importer is ``(tx, sealer, sources) -> ImportResult``: it reads one old store, writes what
the database lacks through ``tx`` (inserting only rows that are absent, so running it twice
changes nothing), re-seals secrets under the state key and bumps its topic when it wrote
anything. All importers run in ONE transaction: the migration is all or nothing. The registry
of importers is ``authz.cli_state.IMPORTERS``. Must not import grpc or cedarpy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from authz.state.db import Tx
from authz.state.sealing import Sealer

__all__ = ["ImportResult", "Importer", "Sources"]


@dataclass(frozen=True)
class Sources:
    """Where the old stores are (the ``credentials_file`` / ``mfa_file`` settings)."""

    credentials_file: Path
    mfa_file: Path


@dataclass
class ImportResult:
    """What one importer did: ``imported`` rows written, ``present`` rows already in the
    database (left as they are), and ``notes`` for the operator (e.g. keys to re-issue)."""

    store: str  # e.g. "access_keys"
    source: str  # the file read ("" when absent)
    imported: int = 0
    present: int = 0
    notes: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "source": self.source,
            "imported": self.imported,
            "already_present": self.present,
            "notes": self.notes,
        }


Importer = Callable[[Tx, Sealer, Sources], ImportResult]
