"""The one loader for decision vectors: the public set in ../shared/data/cases and the cases
this project writes itself (tests/cases/data, incl. shrunk differential counterexamples)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PUBLIC = Path(os.environ.get("AUTHZ_SHARED", ROOT.parent / "shared")) / "data" / "cases"
LOCAL = HERE / "data"
MANAGED_POLICIES = PUBLIC.parent / "aws-managed-policies"


def load_cases(kind: str) -> list[Any]:
    """All cases of one kind, as pytest params with the case id as test id."""
    params = []
    for directory in (PUBLIC, LOCAL):
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.json")):
            data = json.loads(path.read_text(encoding="utf-8"))
            for case in data.get("cases", []):
                if case.get("kind") == kind:
                    case.setdefault("_file", path.name)
                    params.append(pytest.param(case, id=case["id"]))
    return params
