"""The fuzz driver: runs one target's check over Hypothesis-generated inputs and keeps the
tally (inputs, rejected, crashes, mismatches, inputs slower than the target's bound, the
slowest input). A check never stops the run: every input is tried, every failure recorded.

Owns ``Tally``, ``Finding`` and ``drive``. A check returns None (one case, fine), a number
(that many cases checked, fine: a differential input carries several requests), ``REJECTED``
(an input the product refused as documented: counted, not compared) or a ``Finding`` (a
mismatch); any exception it lets through is a crash. Time bounds apply to the CPU time an
input takes (the process's, so an in-process server's threads count): the machine is shared,
and wall time measures the neighbours; both slowest times are reported. Automatic garbage
collection is held off while an input runs (a full collection of the generator's and the
caches' heap is no input's cost, yet lands on whichever input triggers it).
"""

from __future__ import annotations

import gc
import json
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

REJECTED = "rejected"
KEEP = 20  # findings kept per kind and target
CHUNK = 2000  # examples per Hypothesis run (a fresh engine, bounded memory)


@dataclass
class Finding:
    kind: str  # "crash" | "mismatch" | "slow"
    detail: str
    input: Any = None


def describe(value: Any, limit: int = 2000) -> str:
    try:
        text = json.dumps(value, sort_keys=True, default=repr)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


@dataclass
class Tally:
    target: str
    bound_seconds: float
    inputs: int = 0
    cases: int = 0  # checked cases (a differential input holds several)
    rejected: int = 0
    crashes: int = 0
    mismatches: int = 0
    over_bound: int = 0
    seconds: float = 0.0
    slowest_seconds: float = 0.0  # CPU time
    slowest_input: str = ""
    slowest_wall_seconds: float = 0.0
    findings: list[dict[str, Any]] = field(default_factory=list)

    def record(self, value: Any, elapsed: float, outcome: Any, wall: float = 0.0) -> None:
        self.inputs += 1
        self.slowest_wall_seconds = max(self.slowest_wall_seconds, wall)
        if isinstance(outcome, int) and not isinstance(outcome, bool):
            self.cases += outcome
        elif outcome != REJECTED:
            self.cases += 1
        if elapsed > self.slowest_seconds:
            self.slowest_seconds, self.slowest_input = elapsed, describe(value, 500)
        if elapsed > self.bound_seconds:
            self.over_bound += 1
            self._keep(Finding("slow", f"{elapsed:.3f} s > {self.bound_seconds} s", value))
        if outcome == REJECTED:
            self.rejected += 1
        elif isinstance(outcome, Finding):
            if outcome.kind == "crash":
                self.crashes += 1
            else:
                self.mismatches += 1
            self._keep(outcome)

    def _keep(self, finding: Finding) -> None:
        if sum(f["kind"] == finding.kind for f in self.findings) < KEEP:
            self.findings.append({**asdict(finding), "input": describe(finding.input)})

    def merge(self, other: Tally) -> None:
        self.slowest_wall_seconds = max(self.slowest_wall_seconds, other.slowest_wall_seconds)
        for name in (
            "inputs",
            "cases",
            "rejected",
            "crashes",
            "mismatches",
            "over_bound",
            "seconds",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        if other.slowest_seconds > self.slowest_seconds:
            self.slowest_seconds, self.slowest_input = other.slowest_seconds, other.slowest_input
        for finding in other.findings:
            if sum(f["kind"] == finding["kind"] for f in self.findings) < KEEP:
                self.findings.append(finding)


def crash(err: BaseException) -> Finding:
    lines = traceback.format_exception(type(err), err, err.__traceback__)
    return Finding("crash", "".join(lines[-6:]))


def drive(
    tally: Tally,
    strategy: st.SearchStrategy[Any],
    check: Callable[[Any], Any],
    budget: int,
    base_seed: int,
    *,
    time_limit: float | None = None,
    count_cases: bool = False,
) -> Tally:
    """Run ``check`` on generated inputs (in chunks of ``CHUNK``, seeds ``base_seed``,
    ``base_seed + 1``, …) until ``budget`` inputs ran (checked cases if ``count_cases``) or
    ``time_limit`` seconds have passed."""
    started = time.monotonic()
    chunk = 0

    def done() -> int:
        return tally.cases if count_cases else tally.inputs

    while done() < budget:
        if time_limit is not None and time.monotonic() - started > time_limit:
            break
        remaining = max(1, min(CHUNK, (budget - done()) // (3 if count_cases else 1)))

        @seed(base_seed + chunk)
        @settings(
            max_examples=remaining,
            phases=[Phase.generate],
            database=None,
            deadline=None,
            derandomize=False,
            suppress_health_check=list(HealthCheck),
        )
        @given(strategy)
        def one(value: Any) -> None:
            gc.disable()  # a collection of the whole heap is no input's cost: it runs after
            begin, begin_cpu = time.perf_counter(), time.process_time()
            try:
                outcome = check(value)
            except Exception as err:  # a crash: recorded, the run goes on
                outcome = crash(err)
                outcome.input = value
            cpu, wall = time.process_time() - begin_cpu, time.perf_counter() - begin
            gc.enable()
            if isinstance(outcome, Finding) and outcome.input is None:
                outcome.input = value
            tally.record(value, cpu, outcome, wall)

        before = tally.inputs
        one()
        chunk += 1
        if tally.inputs == before:  # the strategy produced nothing new: stop
            break
    tally.seconds += time.monotonic() - started
    return tally
