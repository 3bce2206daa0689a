"""``SizedLRU``: bounded by approximate bytes, least recently used evicted first."""

from __future__ import annotations

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
    stats = cache.stats()
    assert stats["bytes"] <= 256 * 1024
    assert stats["evictions"] > 1000
