"""A log-linear latency histogram in the spirit of HdrHistogram.

Owns the recording and summarising of latencies; knows nothing about gRPC or load shapes.

Values are whole microseconds. Values below 128 µs get a bucket each (exact); above that each
power of two is split into 64 equal buckets, so a reported value is within 1/128 (≈0.8 %) of
a recorded one (the bucket midpoint is reported). Recording is O(1) and allocation-free;
histograms of different threads or processes merge by adding their counts, and serialise to a
sparse ``{bucket: count}`` dict for JSON or a multiprocessing queue.

Percentiles use the nearest-rank definition: the p-th percentile of n samples is the
``ceil(p / 100 * n)``-th smallest sample.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

__all__ = ["Histogram"]

_SUB_BITS = 7
_SUB = 1 << _SUB_BITS  # 128 exact buckets, then 64 per power of two
_HALF = _SUB >> 1
_MAX_SHIFT = 40  # values up to 2**47 µs (four years) are representable
_SIZE = _SUB + _MAX_SHIFT * _HALF


def bucket_of(value_us: int) -> int:
    """The bucket index of a non-negative value in microseconds (clamped to the range)."""
    if value_us < _SUB:
        return max(value_us, 0)
    shift = value_us.bit_length() - _SUB_BITS
    if shift > _MAX_SHIFT:
        return _SIZE - 1
    return _SUB + (shift - 1) * _HALF + ((value_us >> shift) - _HALF)


def bucket_bounds(index: int) -> tuple[int, int]:
    """The ``[low, high)`` value range of a bucket."""
    if index < _SUB:
        return index, index + 1
    shift, offset = divmod(index - _SUB, _HALF)
    shift += 1
    low = (offset + _HALF) << shift
    return low, low + (1 << shift)


class Histogram:
    """Counts of latencies in log-linear buckets, plus exact count, sum, min and max."""

    __slots__ = ("_counts", "count", "max_us", "min_us", "total_us")

    def __init__(self) -> None:
        self._counts = [0] * _SIZE
        self.count = 0
        self.total_us = 0
        self.min_us = 0
        self.max_us = 0

    def record(self, value_us: int) -> None:
        """Add one sample (whole microseconds; negative values count as 0)."""
        value_us = max(value_us, 0)
        self._counts[bucket_of(value_us)] += 1
        if self.count == 0 or value_us < self.min_us:
            self.min_us = value_us
        self.max_us = max(self.max_us, value_us)
        self.count += 1
        self.total_us += value_us

    def record_seconds(self, seconds: float) -> None:
        """Add one sample given in seconds (rounded to the microsecond)."""
        self.record(round(seconds * 1_000_000))

    def merge(self, other: Histogram) -> None:
        """Add all samples of ``other`` into this histogram."""
        if other.count == 0:
            return
        for index, n in enumerate(other._counts):
            if n:
                self._counts[index] += n
        self.min_us = other.min_us if self.count == 0 else min(self.min_us, other.min_us)
        self.max_us = max(self.max_us, other.max_us)
        self.count += other.count
        self.total_us += other.total_us

    def percentile(self, p: float) -> float:
        """The p-th percentile (0 < p <= 100) in microseconds; 0.0 when empty."""
        if self.count == 0:
            return 0.0
        rank = max(1, math.ceil(p / 100.0 * self.count))
        seen = 0
        for index, n in enumerate(self._counts):
            seen += n
            if seen >= rank:
                low, high = bucket_bounds(index)
                value = low if high - low == 1 else (low + high) / 2.0
                return float(min(max(value, self.min_us), self.max_us))
        return float(self.max_us)

    def percentiles(self, ps: Iterable[float]) -> dict[float, float]:
        """Several percentiles at once (each one scans the buckets; fine for a report)."""
        return {p: self.percentile(p) for p in ps}

    @property
    def mean_us(self) -> float:
        return self.total_us / self.count if self.count else 0.0

    def to_dict(self) -> dict[str, object]:
        """A sparse, JSON-friendly form that ``from_dict`` reads back."""
        buckets = {str(i): n for i, n in enumerate(self._counts) if n}
        return {
            "count": self.count,
            "total_us": self.total_us,
            "min_us": self.min_us,
            "max_us": self.max_us,
            "buckets": buckets,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Histogram:
        hist = cls()
        buckets = data.get("buckets", {})
        if isinstance(buckets, Mapping):
            for key, n in buckets.items():
                hist._counts[int(key)] = int(n)
        hist.count = _as_int(data.get("count", 0))
        hist.total_us = _as_int(data.get("total_us", 0))
        hist.min_us = _as_int(data.get("min_us", 0))
        hist.max_us = _as_int(data.get("max_us", 0))
        return hist

    def copy(self) -> Histogram:
        clone = Histogram()
        clone.merge(self)
        return clone


def _as_int(value: object) -> int:
    if isinstance(value, int | float | str):
        return int(value)
    raise TypeError(f"expected a number, got `{type(value).__name__}`")
