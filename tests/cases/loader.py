"""The one loader for test data kept in this repository: the public decision vectors
(tests/cases/public, a copy of the project's public vector set; see its README for provenance),
the cases this project writes itself (tests/cases/data, incl. shrunk differential
counterexamples), and the AWS managed-policy corpus (tests/data, one compressed archive)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PUBLIC = HERE / "public"
LOCAL = HERE / "data"
MANAGED_ARCHIVE = ROOT / "tests" / "data" / "aws-managed-policies.tar.xz"
_CACHE = ROOT / ".cache"


def managed_policies_dir() -> Path:
    """The AWS managed-policy corpus as a directory of JSON files, unpacked once from
    ``MANAGED_ARCHIVE`` into ``.cache/`` (keyed by the archive's digest, so an updated archive
    is unpacked again). Unpacked aside and renamed into place: never seen half-written."""
    digest = hashlib.sha256(MANAGED_ARCHIVE.read_bytes()).hexdigest()[:16]
    target = _CACHE / f"aws-managed-policies-{digest}"
    if not target.is_dir():
        _CACHE.mkdir(exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=_CACHE))
        with tarfile.open(MANAGED_ARCHIVE) as archive:
            archive.extractall(staging, filter="data")
        with contextlib.suppress(OSError):  # another process won the race: same content
            (staging / "aws-managed-policies").rename(target)
        shutil.rmtree(staging, ignore_errors=True)
    return target


MANAGED_POLICIES = managed_policies_dir()


def load_cases(kind: str) -> list[Any]:
    """All cases of one kind, as pytest params with the case id as test id."""
    params = []
    seen: set[str] = set()
    for directory in (PUBLIC, LOCAL):
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.json")):
            data = json.loads(path.read_text(encoding="utf-8"))
            for case in data.get("cases", []):
                if case.get("kind") == kind and case["id"] not in seen:
                    seen.add(case["id"])
                    case.setdefault("_file", path.name)
                    params.append(pytest.param(case, id=case["id"]))
    return params
