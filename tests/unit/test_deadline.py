"""``authz.deadline``: the earlier of the caller's and the server's deadline; checks raise
``DeadlineExceeded`` (AWS ``Throttling``) once it has passed, and cost nothing without one."""

from __future__ import annotations

import time

import pytest

from authz import deadline
from authz.deadline import Deadline
from authz.errors import DeadlineExceeded, Throttling


def test_within_takes_the_earlier_deadline() -> None:
    both = Deadline.within(0.5, 2.0)
    assert both is not None and both.budget == 0.5
    server = Deadline.within(None, 2.0)
    assert server is not None and server.budget == 2.0
    assert Deadline.within(None, 0) is None
    expired = Deadline.within(-1.0, 2.0)
    assert expired is not None and expired.budget == 0.0 and expired.expired()


def test_check_raises_once_the_deadline_passed() -> None:
    deadline.check("outside a call")  # no deadline: free
    with deadline.bound(Deadline.within(0.05, None)):
        deadline.check("early")
        time.sleep(0.06)
        with pytest.raises(DeadlineExceeded) as caught:
            deadline.check("simulating result 7 of 90000")
    assert isinstance(caught.value, Throttling) and caught.value.code == "Throttling"
    assert "simulating result 7 of 90000" in str(caught.value)
    deadline.check("after the call")  # unbound again


def test_simulation_stops_between_pairs() -> None:
    from authz.engine.simulate import simulate_custom_policy

    policy = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'
    request = {
        "PolicyInputList": [policy],
        "ActionNames": [f"s3:A{i}" for i in range(1000)],
        "ResourceArns": [f"arn:aws:s3:::b/{i}" for i in range(1000)],
        "CallerArn": "arn:aws:iam::111122223333:user/a",
        "MaxItems": 1000,
    }
    with deadline.bound(Deadline.within(0.0, None)), pytest.raises(DeadlineExceeded):
        simulate_custom_policy(request)
    assert len(simulate_custom_policy(request)["EvaluationResults"]) == 1000
