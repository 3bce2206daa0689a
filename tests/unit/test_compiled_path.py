"""On the compiled build, a request runs no interpreted code of authz's own (issue 15).

Each interpreted call on the request path costs thousands of instructions (a frame, argument
parsing, attribute lookups), and nothing shows it but a profile: a dataclass left with its
generated ``__init__``/``__eq__``, an enum's ``.value`` (a Python property), a
``threading.Condition`` taken with ``with``, or a module left out of ``authz.native.MODULES``
each brought some back. ``sys.setprofile`` sees exactly the interpreted frames (compiled
functions report none), so this drives the requests ``benchmarks/instr_bench.py`` counts
(distinct, repeated and batch Authorize through the real edge and servicer, in process) and
fails on any frame from a file of the ``authz`` package. Questions first warm the partitions
and caches (compiling a partition on a miss is Python by design)."""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

import pytest

from tests.benchscripts import load

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = str(ROOT / "authz") + os.sep

pytestmark = pytest.mark.skipif(
    os.environ.get("AUTHZ_EXPECT_COMPILED") != "1",
    reason="checks the compiled build (make test sets AUTHZ_EXPECT_COMPILED=1 after building)",
)


@pytest.fixture(scope="module")
def bench() -> Iterator[tuple[ModuleType, Any]]:
    """instr_bench's in-process server over the bench fixture (a repository, keys and state in
    a temporary directory, removed at exit); its backend closed afterwards."""
    from authz.bench.authz_server import FIXTURE_ENV

    before = os.environ.get(FIXTURE_ENV)
    ib = load("instr_bench")
    opened: list[Any] = []
    call, _info = ib._server(opened=opened)
    yield ib, call
    for backend in opened:
        backend.close()  # its state watcher thread
    if before is None:
        os.environ.pop(FIXTURE_ENV, None)
    else:
        os.environ[FIXTURE_ENV] = before


@pytest.mark.parametrize("scenario", ["distinct", "repeated", "batch"])
def test_a_request_runs_no_interpreted_authz_code(
    bench: tuple[ModuleType, Any], scenario: str
) -> None:
    ib, call = bench
    size = 100 if scenario == "batch" else 1
    method, bodies, _per = ib._bodies(scenario, 40_000, 80 * size)
    warm, measured = bodies[: len(bodies) // 2], bodies[len(bodies) // 2 :]
    for body in warm:
        call(method, body)
    interpreted: Counter[str] = Counter()

    def profile(frame: FrameType, event: str, _arg: object) -> None:
        if event == "call" and frame.f_code.co_filename.startswith(PACKAGE):
            code = frame.f_code
            interpreted[f"{code.co_filename[len(PACKAGE) :]}:{code.co_name}"] += 1

    sys.setprofile(profile)
    try:
        for body in measured:
            call(method, body)
    finally:
        sys.setprofile(None)
    assert not interpreted, f"interpreted authz code per {len(measured)} requests: {interpreted}"
