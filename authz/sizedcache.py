"""Memory bounded by bytes: ``SizedLRU`` and the approximate size accounting it uses.

Owns the one rule every memo keyed by request data follows (decision cache, request-shape
memo, the Authorize repeat memo, the verified-token cache, caller-policy partitions): an entry
costs what its key and value hold (``approx_size``: the lengths of the strings and bytes in
them plus a fixed overhead per object), the cache holds at most ``max_bytes`` of entries and
evicts the least recently used first. An entry larger than a quarter of the bound is not kept
at all (one caller must not flush everyone else's entries with a single huge one).

The accounting is approximate by design: it counts what a caller controls (strings, bytes,
number of objects), not CPython's exact allocation sizes. Imports neither grpc nor cedarpy.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import fields, is_dataclass
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

OBJECT_OVERHEAD = 64  # bytes charged per container, object or entry besides its strings
_MAX_DEPTH = 8


def approx_size(value: object, _depth: int = 0) -> int:
    """Approximate bytes held by ``value``: string/bytes lengths plus ``OBJECT_OVERHEAD`` per
    object, recursing into tuples, lists, sets, mappings and dataclasses (``_MAX_DEPTH`` deep;
    deeper objects count as overhead only).

    Dispatches on the exact type for the types cache keys and values are made of (str, the
    built-in containers, dataclasses seen before) and counts a container's string and number
    items inline; anything else takes ``_approx_size_any``, the general definition. Both give
    the same result for every value (``tests/unit/test_sizedcache.py`` checks it against the
    plain recursive definition): this runs on every decision-cache put."""
    kind = type(value)
    if kind is str:
        return len(value) + 49  # type: ignore[arg-type]
    item: Any
    if _depth < _MAX_DEPTH:
        depth = _depth + 1
        total = OBJECT_OVERHEAD
        if kind is tuple or kind is list or kind is frozenset or kind is set:
            for item in value:  # type: ignore[attr-defined]
                t = type(item)
                if t is str:
                    total += len(item) + 49
                elif item is None or t is bool or t is int or t is float:
                    total += 16
                else:
                    total += approx_size(item, depth)
            return total
        if kind is dict:
            for key, item in value.items():  # type: ignore[attr-defined]
                total += len(key) + 49 if type(key) is str else approx_size(key, depth)
                t = type(item)
                if t is str:
                    total += len(item) + 49
                elif item is None or t is bool or t is int or t is float:
                    total += 16
                else:
                    total += approx_size(item, depth)
            return total
        names = _FIELDS.get(kind)
        if names is not None:  # a dataclass (instance) type met before
            for name in names:
                item = getattr(value, name, None)
                t = type(item)
                if t is str:
                    total += len(item) + 49
                elif item is None or t is bool or t is int or t is float:
                    total += 16
                else:
                    total += approx_size(item, depth)
            return total
    if kind in _STRINGS:  # bytes, a str enum, ... met before
        return len(value) + 49  # type: ignore[arg-type]
    if value is None or kind is bool or kind is int or kind is float:
        return 16
    return _approx_size_any(value, _depth)


# Field names per dataclass type (``fields()`` walks the class's field table on every call).
# Types are code, so this stays small; the bound only guards classes made at run time.
_FIELDS: dict[type, tuple[str, ...]] = {}
_STRINGS: set[type] = set()  # types that are str, bytes or bytearray (or a subclass of one)
_MAX_FIELD_TYPES = 512
_TEXT = (str, bytes, bytearray)  # (tuples: isinstance with a union builds the union each call)
_NUMBERS = (bool, int, float)
_COLLECTIONS = (tuple, list, set, frozenset)


def _approx_size_any(value: object, _depth: int) -> int:
    """``approx_size`` for any value, by ``isinstance`` (subclasses, other mappings, enums
    with a str or int base, objects at the depth limit); recurses through ``approx_size``."""
    if isinstance(value, _TEXT):
        if len(_STRINGS) < _MAX_FIELD_TYPES:
            _STRINGS.add(type(value))
        return len(value) + 49
    if value is None or isinstance(value, _NUMBERS):
        return 16
    if _depth >= _MAX_DEPTH:
        return OBJECT_OVERHEAD
    depth = _depth + 1
    if isinstance(value, _COLLECTIONS):
        return OBJECT_OVERHEAD + sum(approx_size(v, depth) for v in value)
    if isinstance(value, Mapping):
        return OBJECT_OVERHEAD + sum(
            approx_size(k, depth) + approx_size(v, depth) for k, v in value.items()
        )
    if is_dataclass(value) and not isinstance(value, type):
        names = tuple(f.name for f in fields(value))
        if len(_FIELDS) < _MAX_FIELD_TYPES:
            _FIELDS[type(value)] = names
        return OBJECT_OVERHEAD + sum(approx_size(getattr(value, n, None), depth) for n in names)
    return OBJECT_OVERHEAD


class SizedLRU(Generic[K, V]):
    """A thread-safe LRU map bounded by the approximate bytes of its entries.

    ``put(key, value, size=None)`` charges ``size`` (default: ``approx_size`` of key and
    value); ``max_bytes <= 0`` disables the cache (nothing is stored). ``max_entries``
    optionally bounds the number of entries as well."""

    def __init__(
        self, max_bytes: int, *, max_entries: int | None = None, max_entry_fraction: float = 0.25
    ) -> None:
        self.max_bytes = max(0, max_bytes)
        self.max_entries = max_entries
        self._max_entry = int(self.max_bytes * max_entry_fraction)
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.evictions = 0
        self.refused = 0  # entries larger than the per-entry bound

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    @property
    def bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def fits(self, size: int) -> bool:
        """Whether an entry charged ``size`` would be kept (enabled, within the per-entry
        bound): lets a caller skip building what would not be stored."""
        return self.max_bytes > 0 and size + OBJECT_OVERHEAD <= self._max_entry

    def get(self, key: K) -> V | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return found[0]

    def peek(self, key: K) -> V | None:
        """The value without counting a hit or miss and without refreshing its position."""
        found = self._entries.get(key)
        return None if found is None else found[0]

    def put(self, key: K, value: V, size: int | None = None) -> bool:
        """Store ``value``; False when it is not kept (disabled, or larger than the
        per-entry bound)."""
        if not self.max_bytes:
            return False
        cost = (approx_size(key) + approx_size(value) if size is None else size) + OBJECT_OVERHEAD
        with self._lock:
            if cost > self._max_entry:
                self.refused += 1
                old = self._entries.pop(key, None)
                if old is not None:
                    self._bytes -= old[1]
                return False
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._entries[key] = (value, cost)
            self._bytes += cost
            while self._entries and (
                self._bytes > self.max_bytes
                or (self.max_entries is not None and len(self._entries) > self.max_entries)
            ):
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped
                self.evictions += 1
        return True

    def items(self) -> list[tuple[K, V, int]]:
        """(key, value, charged size), least recently used first."""
        with self._lock:
            return [(k, v, cost) for k, (v, cost) in self._entries.items()]

    def adopt(self, entries: list[tuple[K, V, int]]) -> None:
        """Store ``items()`` of another cache, in their order, with the sizes charged there."""
        for key, value, cost in entries:
            self.put(key, value, size=max(0, cost - OBJECT_OVERHEAD))

    def pop(self, key: K) -> V | None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is None:
                return None
            self._bytes -= old[1]
            return old[0]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "hits": self.hits,
                "misses": self.misses,
                "evictions": self.evictions,
                "size": len(self._entries),
                "bytes": self._bytes,
            }
