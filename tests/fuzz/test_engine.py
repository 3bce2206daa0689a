"""The fuzz driver and oracles can fail: an unexpected exception is a crash, a CPU-hungry input
is over its bound, a documented refusal is not a finding, an INTERNAL status is a crash, and a
product answer unlike the reference's is a mismatch."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from hypothesis import strategies as st

from tests.fuzz import rpc
from tests.fuzz.engine import REJECTED, Tally, drive
from tests.fuzz.targets import target


def _busy(seconds: float) -> None:
    import time

    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_exceptions_are_crashes_and_refusals_are_not() -> None:
    def check(n: int) -> Any:
        if n % 3 == 0:
            raise ValueError("boom")
        return REJECTED if n % 3 == 1 else None

    tally = drive(Tally("t", 1.0), st.integers(0, 99), check, 60, 1)
    assert tally.inputs == 60
    assert tally.crashes > 0 and tally.rejected > 0
    assert tally.rejected + tally.cases == 60  # a crash is a checked case too
    assert "ValueError: boom" in tally.findings[0]["detail"]


def test_cpu_over_the_bound_is_a_finding() -> None:
    tally = drive(Tally("t", 0.01), st.just(0), lambda _: _busy(0.03), 2, 1)
    assert tally.over_bound >= 1
    assert tally.slowest_seconds >= 0.03


def test_an_internal_status_is_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rpc, "_server", lambda: rpc._Server(None, None, {}))  # type: ignore[arg-type]
    monkeypatch.setattr(rpc, "call", lambda *a: grpc.StatusCode.INTERNAL)
    finding = rpc.check((0, "user", {"action": "s3:GetObject"}))
    assert finding is not None and finding.kind == "crash"
    monkeypatch.setattr(rpc, "call", lambda *a: grpc.StatusCode.INVALID_ARGUMENT)
    assert rpc.check((0, "user", {"action": ""})) is None


def test_a_wrong_product_answer_is_a_mismatch(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.differential import compare

    _, check = target("authorize")
    user = {
        "type": "user",
        "arn": "arn:aws:iam::111111111111:user/alice",
        "account": "111111111111",
    }
    allow = {
        "Version": "2012-10-17",
        "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"},
    }
    policies = {
        "identity": [allow],
        "resource": None,
        "permissions_boundary": None,
        "session": [],
        "scp": [],
    }
    request = {
        "principal": user,
        "action": "s3:GetObject",
        "context": {},
        "resource": {"arn": "arn:aws:s3:::b/k", "account": "111111111111"},
    }
    assert check((policies, [request])) == 1
    wrong = compare.Outcome("ImplicitDeny", "identity", ())
    monkeypatch.setattr(compare, "product_outcome", lambda *a: wrong)
    monkeypatch.setattr("tests.fuzz.targets.WRITE_CASES", 0)  # keep tests/cases/data clean
    finding = check((policies, [request]))
    assert finding is not None and finding.kind == "mismatch"
