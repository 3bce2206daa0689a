"""Dates as exact instants (``authz.cedar.values``): the product parses what the reference
evaluator parses to the same seconds, whatever the size of an epoch, and renders for Cedar only
what Cedar's ``datetime`` holds exactly (a policy date) or a clamped value (a request date)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from authz.cedar import values as val
from tests.reference.conditions import parse_date as reference_parse_date

epochs = st.integers(min_value=0, max_value=10**40).map(str)
iso = st.builds(
    lambda y, mo, d, h, mi, s, frac, zone: (
        f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}" + frac + zone
    ),
    st.integers(0, 9999),
    st.integers(1, 12),
    st.integers(1, 31),
    st.integers(0, 23),
    st.integers(0, 59),
    st.integers(0, 59),
    st.sampled_from(["", ".5", ".123", ".1234567", ".9999999"]),
    st.sampled_from(["", "Z", "+05:30", "-23:59", "+00:00"]),
)


@settings(max_examples=500, deadline=None)
@given(text=st.one_of(epochs, iso))
@example(text="999999999999")
@example(text="253402300799")
@example(text="253402300800")
@example(text="0000-01-01T00:00:00Z")
@example(text="0001-01-01T00:00:00+01:00")
@example(text="9999-12-31T23:59:59-01:00")
def test_dates_parse_as_the_reference_does(text: str) -> None:
    assert val.parse_date(text) == reference_parse_date(text)


@pytest.mark.parametrize(
    ("text", "cedar"),
    [
        ("2012-10-17", "2012-10-17T00:00:00.000Z"),
        ("1350432000", "2012-10-17T00:00:00.000Z"),
        ("0001-01-01T00:00:01Z", "0001-01-01T00:00:01.000Z"),
        ("2012-10-17T00:00:00.5Z", "2012-10-17T00:00:00.500Z"),
        ("2012-10-17T00:00:00.0005Z", None),  # finer than Cedar's milliseconds: the oracle
        ("0001-01-01T00:00:00Z", None),  # Cedar's first instant: kept for clamped requests
        ("9999-12-31T23:59:59.999Z", None),  # Cedar's last instant: likewise
        ("999999999999", None),  # year 33658
    ],
)
def test_policy_dates_go_to_cedar_only_when_exact(text: str, cedar: str | None) -> None:
    seconds = val.parse_date(text)
    assert seconds is not None
    assert val.cedar_datetime(seconds) == cedar


@pytest.mark.parametrize(
    ("seconds", "cedar"),
    [
        (Decimal("999999999999"), "9999-12-31T23:59:59.999Z"),
        (Decimal(10) ** 40, "9999-12-31T23:59:59.999Z"),
        (Decimal("-99999999999999"), "0001-01-01T00:00:00.000Z"),
        (Decimal("1.0009"), "1970-01-01T00:00:01.000Z"),
    ],
)
def test_request_dates_are_clamped_into_cedars_window(seconds: Decimal, cedar: str) -> None:
    assert val.cedar_request_datetime(seconds) == cedar
