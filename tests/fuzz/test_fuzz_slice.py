"""The CI slice of ``make fuzz``: every fuzz target (tests/fuzz/targets.py) on a few inputs
drawn from a fresh seed (``AUTHZ_FUZZ_SEED`` reproduces one; it is in every failure message):
no crash, no mismatch with the reference evaluator, no input over its time bound. The
differential targets get their slice from tests/differential/test_differential.py."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest

from tests.fuzz import rpc
from tests.fuzz.engine import Tally, drive
from tests.fuzz.targets import BOUNDS, target

SEED = int(os.environ.get("AUTHZ_FUZZ_SEED") or secrets.randbelow(2**31))
SLICE = {"policy": 150, "rpc": 120, "repo": 6}


@pytest.fixture(scope="module", autouse=True)
def _rpc_server() -> Iterator[None]:
    yield
    rpc.close()


@pytest.mark.parametrize("name", sorted(SLICE))
def test_fuzz_slice(name: str) -> None:
    strategy, check = target(name)
    if name == "rpc":
        rpc.start()
    tally = drive(Tally(name, BOUNDS[name]), strategy, check, SLICE[name], SEED)
    where = f"AUTHZ_FUZZ_SEED={SEED}: {tally.findings[:3]}"
    assert tally.inputs == SLICE[name], where
    assert (tally.crashes, tally.mismatches, tally.over_bound) == (0, 0, 0), where
