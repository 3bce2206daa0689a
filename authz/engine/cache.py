"""The decision cache of one snapshot: repeated questions answered without evaluating again.

Owns ``DecisionCache``: a thread-safe LRU of ``Decision``s bounded in bytes and entries, one
per ``Snapshot`` (a reload builds a new snapshot, so it starts empty by construction). A key is

    (shape, referenced keys, the request context projected onto them)

where the *shape* is what fixes the policies that apply and the principal's own facts: the
caller (kind, ARN incl. session name, account, role, unique id), the lowercased action, the
resource and the session's identity (session policy digests and names, session tags). The
*referenced keys* are every context key the evaluated partitions read (condition keys,
runtime variables, compile-time variables), learned from the evaluations of that shape and
only ever growing; an entry is stored under a set that contains everything its evaluation read,
so a request that agrees on that projection is decided the same way. A key the policies do not
read (``aws:CurrentTime`` for most principals) does not split the cache.

A shape whose partitions read a time-varying key (``aws:CurrentTime``, ``aws:EpochTime``) is
never cached (``bypassed``). Decisions with errors are not stored. Imports neither grpc nor
cedarpy.

Admission: a shape is kept from its second evaluation on. Its first one leaves only the
shape's hash in a bounded "doorkeeper" set (as TinyLFU's); storing the entry and the shape's
keys (~28,000 instructions, most of it sizing) was pure cost for a question asked once, which
is what most distinct traffic is. A repeated question pays one more evaluation, then is a hit;
until its shape is kept, ``repeatable`` is False, so the servicer's repeat memo waits too.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Mapping
from typing import TypeAlias

from authz.engine.decision import Decision
from authz.iam.conditions import TIME_VARYING_KEYS
from authz.iam.model import Caller, ContextValue, Policy
from authz.sizedcache import OBJECT_OVERHEAD, SizedLRU, approx_size

Shape: TypeAlias = tuple[Hashable, ...]
Keys: TypeAlias = frozenset[str]
_Projection: TypeAlias = tuple[tuple[str, Hashable], ...]
_Key: TypeAlias = tuple[Shape, Keys, _Projection]
_Known: TypeAlias = tuple[Keys, tuple[str, ...], bool]  # keys, sorted, reads the clock

DEFAULT_SIZE = 65_536
DEFAULT_BYTES = 64 * 1024 * 1024
DOOR_SIZE = 16_384  # shapes seen once: a hash each in a set, ~1.5 MiB when full
_NO_KEYS: Keys = frozenset()
_NOTHING_KNOWN: _Known = (_NO_KEYS, (), False)


def request_shape(
    caller: Caller,
    action: str,
    resource: str,
    session_policies: tuple[Policy, ...] = (),
    session_tags: Mapping[str, str] | None = None,
) -> Shape | None:
    """The shape part of a cache key, or None when it cannot be keyed (a session policy
    without a content digest)."""
    session: tuple[Hashable, ...] = ()
    if session_policies:
        if not all(p.digest for p in session_policies):
            return None
        session = tuple((p.digest, p.name, p.source) for p in session_policies)
    tags = tuple(sorted(session_tags.items())) if session_tags else ()
    return (caller, action.lower(), resource, session, tags)


def _projection(context: Mapping[str, ContextValue], ordered: tuple[str, ...]) -> _Projection:
    """A normalised context restricted to ``ordered`` (sorted, lowercased) keys."""
    return tuple((k, context[k]) for k in ordered if k in context)


class DecisionCache:
    """Bounded LRU of decisions plus the referenced-keys memo per shape, both bounded in
    bytes (``approx_size`` of key and value: a shape holds the caller's resource string) and
    in entries. Thread-safe: locks guard the bookkeeping only (never held while deciding).
    ``context`` arguments are normalised (``authz.iam.model.normalize_context``: lowercased
    keys, string or tuple-of-strings values), so a projection is a plain lookup per
    referenced key."""

    def __init__(self, size: int = DEFAULT_SIZE, max_bytes: int = DEFAULT_BYTES) -> None:
        self._size = max(0, size) if max_bytes > 0 else 0
        # the decisions get three quarters of the bytes, the shape memo the rest
        self._entries: SizedLRU[_Key, Decision] = SizedLRU(
            max_bytes - max_bytes // 4, max_entries=self._size
        )
        self._referenced: SizedLRU[Shape, _Known] = SizedLRU(max_bytes // 4, max_entries=self._size)
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.bypassed = 0
        # The size memos of this cache's decisions and callers: per cache, so they go with its
        # snapshot. Module-wide, they kept each replaced snapshot's Decision objects (~200 per
        # revision under the soak's traffic) and callers until 4,096 had gathered.
        self._decision_memo: dict[int, tuple[Decision, int]] = {}
        self._caller_memo: dict[int, tuple[Caller, int]] = {}
        # Hashes of shapes evaluated once and not kept yet (module docstring, "Admission");
        # cleared when full: a shape seen once before the clear counts as new again.
        self._door: set[int] = set()
        self._door_size = min(self._size, DOOR_SIZE)
        self.deferred = 0

    @property
    def enabled(self) -> bool:
        return self._size > 0

    @property
    def evictions(self) -> int:
        return self._entries.evictions

    def get(self, shape: Shape, context: Mapping[str, ContextValue]) -> Decision | None:
        """The cached decision for this request, or None (counted as a miss or a bypass)."""
        known = self._referenced.peek(shape)
        # (the counters are statistics: unlocked increments may rarely lose one)
        if known is None:
            self.misses += 1
            return None
        if known[2]:
            self.bypassed += 1
            return None
        found = self._entries.get((shape, known[0], _projection(context, known[1])))
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    def put(
        self,
        shape: Shape,
        context: Mapping[str, ContextValue],
        referenced: Keys,
        decision: Decision,
    ) -> None:
        """Record what this shape's evaluation read and, when cacheable, its decision."""
        if not self._size:
            return
        with self._lock:  # read-modify-write of the shape's keys
            known = self._referenced.peek(shape)
            if known is None:
                marker = hash(shape)
                if marker not in self._door:  # its first evaluation: remember it was seen
                    if len(self._door) >= self._door_size:
                        self._door.clear()
                    self._door.add(marker)
                    self.deferred += 1
                    return
                self._door.discard(marker)
                known = _NOTHING_KNOWN
            if not referenced <= known[0]:
                keys = known[0] | referenced
                known = (keys, tuple(sorted(keys)), bool(keys & TIME_VARYING_KEYS))
            shape_bytes = shape_size(shape, self._caller_memo)
            self._referenced.put(shape, known, size=shape_bytes + known_size(known))
        if decision.errors or known[2]:
            return
        projection = _projection(context, known[1])
        size = (
            shape_bytes
            + projection_size(projection)
            + _decision_bytes(decision, self._decision_memo)
        )
        self._entries.put((shape, known[0], projection), decision, size=size)

    def repeatable(self, shape: Shape | None) -> bool:
        """Whether every evaluation of this shape so far read no time-varying key (after
        ``put``, that includes the one just made): a request of the shape is then decided the
        same way again on this snapshot."""
        if shape is None:
            return False
        known = self._referenced.peek(shape)
        return known is not None and not known[2]

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "hits": self.hits,
                "misses": self.misses,
                "bypassed": self.bypassed,
                "deferred": self.deferred,
                "evictions": self._entries.evictions,
                "size": len(self._entries),
                "bytes": self._entries.bytes + self._referenced.bytes,
            }


def _decision_bytes(decision: Decision, memo: dict[int, tuple[Decision, int]] | None = None) -> int:
    """Decisions are shared between entries; charge the matched statements (the rest is a
    fixed part). Remembered per Decision object (equal evaluations share one) in ``memo``
    (a ``DecisionCache``'s own; the module's by default)."""
    memo = _DECISION_BYTES if memo is None else memo
    found = memo.get(id(decision))
    if found is not None and found[0] is decision:
        return found[1]
    size = 128 + sum(approx_size(m) for m in decision.matched)
    if len(memo) >= _MEMO_SIZE:
        memo.clear()
    memo[id(decision)] = (decision, size)
    return size


# The sizes below are ``approx_size`` of the decision cache's own keys, computed from their
# known layout (tests/unit/test_decision_cache.py checks them against ``approx_size``): the
# general walk costs ~20,000 instructions for a shape, on every decision stored.
_MEMO_SIZE = 4096
_CALLER_BYTES: dict[int, tuple[Caller, int]] = {}  # id -> (caller, its size in a shape)
_DECISION_BYTES: dict[int, tuple[Decision, int]] = {}


def shape_size(shape: Shape, memo: dict[int, tuple[Caller, int]] | None = None) -> int:
    """``approx_size(shape)`` of a ``request_shape`` tuple; the caller's part remembered per
    Caller object (frozen) in ``memo`` (a ``DecisionCache``'s own; the module's by default)."""
    memo = _CALLER_BYTES if memo is None else memo
    if len(shape) != 5:
        return approx_size(shape)
    caller, action, resource, session, tags = shape
    if type(action) is not str or type(resource) is not str:
        return approx_size(shape)
    found = memo.get(id(caller))
    if found is None or found[0] is not caller:
        if not isinstance(caller, Caller):
            return approx_size(shape)
        found = (caller, approx_size(caller, 1))
        if len(memo) >= _MEMO_SIZE:
            memo.clear()
        memo[id(caller)] = found
    session_bytes = OBJECT_OVERHEAD if session == () else approx_size(session, 1)
    tags_bytes = OBJECT_OVERHEAD if tags == () else approx_size(tags, 1)
    return (
        OBJECT_OVERHEAD + found[1] + len(action) + len(resource) + 98 + session_bytes + tags_bytes
    )


def known_size(known: _Known) -> int:
    """``approx_size(known)``: (keys, the same keys sorted, a flag)."""
    keys, ordered, clock = known
    text = 0
    for key in ordered:
        if type(key) is not str:
            return approx_size(known)
        text += len(key) + 49
    if type(keys) is not frozenset or len(keys) != len(ordered) or type(clock) is not bool:
        return approx_size(known)
    return 3 * OBJECT_OVERHEAD + 16 + 2 * text


def projection_size(projection: _Projection) -> int:
    """``approx_size(projection)``: (key, value) pairs of strings or tuples of strings."""
    total = OBJECT_OVERHEAD
    for pair in projection:
        if type(pair) is not tuple or len(pair) != 2 or type(pair[0]) is not str:
            return approx_size(projection)
        value = pair[1]
        total += OBJECT_OVERHEAD + len(pair[0]) + 49  # the pair and its key
        total += len(value) + 49 if type(value) is str else approx_size(value, 2)
    return total
