"""``SizedLRU``: bounded by approximate bytes, least recently used evicted first."""

from __future__ import annotations

import enum
import types
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from typing import ClassVar, NamedTuple

from hypothesis import given, settings
from hypothesis import strategies as st

from authz.engine.cache import DecisionCache
from authz.engine.decision import Decision, EvalDecision
from authz.iam.model import Caller, CallerKind
from authz.sizedcache import SizedLRU, approx_size


def test_approx_size_counts_strings_and_containers() -> None:
    assert approx_size("x" * 1000) > 1000
    assert approx_size(("x" * 1000, "y" * 1000)) > 2000
    assert approx_size({"k" * 500: "v" * 500}) > 1000
    caller = Caller(CallerKind.USER, "arn:aws:iam::111122223333:user/" + "n" * 2000)
    assert approx_size(caller) > 2000


def test_bytes_bound_evicts_least_recently_used() -> None:
    cache: SizedLRU[str, str] = SizedLRU(10_000)
    for i in range(100):
        cache.put(f"k{i}", "v" * 1000)
    assert cache.bytes <= 10_000
    assert len(cache) < 10
    assert cache.get("k99") is not None
    assert cache.get("k0") is None
    assert cache.evictions > 0


def test_recently_read_entries_survive() -> None:
    cache: SizedLRU[str, str] = SizedLRU(5_000)
    cache.put("keep", "v" * 1000)
    for i in range(20):
        cache.get("keep")
        cache.put(f"k{i}", "v" * 1000)
    assert cache.get("keep") is not None


def test_an_entry_above_a_quarter_of_the_bound_is_not_kept() -> None:
    cache: SizedLRU[str, str] = SizedLRU(10_000)
    cache.put("small", "v")
    assert not cache.put("huge", "v" * 3000)
    assert cache.get("huge") is None
    assert cache.get("small") is not None  # one huge entry flushes nobody


def test_entries_bound_and_disabled_cache() -> None:
    cache: SizedLRU[int, int] = SizedLRU(1 << 20, max_entries=3)
    for i in range(10):
        cache.put(i, i)
    assert len(cache) == 3
    off: SizedLRU[int, int] = SizedLRU(0)
    assert not off.put(1, 1) and off.get(1) is None


def test_decision_cache_is_bounded_in_bytes_by_distinct_resources() -> None:
    """2 KiB resources: the shape memo and the decisions stay under the byte bound."""
    cache = DecisionCache(size=1_000_000, max_bytes=256 * 1024)
    caller = Caller(CallerKind.USER, "arn:aws:iam::111122223333:user/a", "111122223333")
    decision = Decision(EvalDecision.ALLOWED)
    for i in range(2000):
        shape = (caller, "s3:getobject", f"arn:aws:s3:::b/{i:06d}" + "k" * 2030, (), ())
        cache.put(shape, {}, frozenset(), decision)
        cache.put(shape, {}, frozenset(), decision)  # kept from its second evaluation on
    stats = cache.stats()
    assert stats["bytes"] <= 256 * 1024
    assert stats["evictions"] > 1000


# -- approx_size's fast path gives the plain recursive definition's result ------------------


def _reference_size(value: object, _depth: int = 0) -> int:
    """The definition ``approx_size`` had before its exact-type fast path (kept verbatim)."""
    if isinstance(value, str | bytes | bytearray):
        return len(value) + 49
    if value is None or isinstance(value, bool | int | float):
        return 16
    if _depth >= 8:
        return 64
    depth = _depth + 1
    if isinstance(value, tuple | list | set | frozenset):
        return 64 + sum(_reference_size(v, depth) for v in value)
    if isinstance(value, Mapping):
        return 64 + sum(
            _reference_size(k, depth) + _reference_size(v, depth) for k, v in value.items()
        )
    if is_dataclass(value) and not isinstance(value, type):
        return 64 + sum(_reference_size(getattr(value, f.name, None), depth) for f in fields(value))
    return 64


class _Text(str):
    pass


class _Tag(enum.StrEnum):
    A = "alpha"
    B = "b"


class _Count(enum.IntEnum):
    ONE = 1


class _Pair(NamedTuple):
    left: object
    right: object


@dataclass(frozen=True)
class _Box:
    item: object
    label: str = "box"


@dataclass(frozen=True, slots=True)
class _Slotted:
    first: object
    second: object = None
    NOTE: ClassVar[str] = "class variables are not fields"


@dataclass
class _Mutable:
    items: list[object] = field(default_factory=list)


_leaves = st.one_of(
    st.text(max_size=20),
    st.binary(max_size=20),
    st.binary(max_size=8).map(bytearray),
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=8).map(_Text),
    st.sampled_from(list(_Tag)),
    st.just(_Count.ONE),
    st.sampled_from(list(CallerKind)),
    st.builds(object),
)
_hashable = st.one_of(st.text(max_size=8), st.integers(), st.none(), st.sampled_from(list(_Tag)))


def _containers(children: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.frozensets(_hashable, max_size=4),
        st.sets(_hashable, max_size=4),
        st.dictionaries(_hashable, children, max_size=4),
        st.dictionaries(st.text(max_size=4), children, max_size=3).map(types.MappingProxyType),
        st.builds(_Pair, children, children),
        st.builds(_Box, children),
        st.builds(_Slotted, children, children),
        st.builds(_Mutable, st.lists(children, max_size=3)),
        st.builds(
            Caller,
            st.sampled_from(list(CallerKind)),
            st.text(max_size=30),
            st.none() | st.text(max_size=12),
        ),
    )


_values = st.recursive(_leaves, _containers, max_leaves=40)


@settings(max_examples=400, deadline=None)
@given(_values)
def test_approx_size_equals_the_plain_definition(value: object) -> None:
    assert approx_size(value) == _reference_size(value)


def _nested(levels: int) -> object:
    value: object = ("leaf", b"bytes", 7)
    for i in range(levels):
        value = [value, {"k": value}, _Box(value, label=f"l{i}")] if i % 2 else (value,)
    return value


def test_approx_size_stops_at_the_same_depth() -> None:
    for levels in range(14):  # around the depth limit (8) on every container kind
        value = _nested(levels)
        assert approx_size(value) == _reference_size(value)
    deep = Decision(EvalDecision.ALLOWED, errors=tuple("e" * n for n in range(5)))
    assert approx_size([[[[[[[[deep]]]]]]]]) == _reference_size([[[[[[[[deep]]]]]]]])
