"""The decision cache of one snapshot: repeated questions answered without evaluating again.

Owns ``DecisionCache``: a bounded, thread-safe LRU of ``Decision``s, one per ``Snapshot`` (a
reload builds a new snapshot, so it starts empty by construction). A key is

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
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from typing import TypeAlias

from authz.engine.decision import Decision
from authz.iam.conditions import TIME_VARYING_KEYS
from authz.iam.model import Caller, ContextValue, Policy

Shape: TypeAlias = tuple[Hashable, ...]
Keys: TypeAlias = frozenset[str]
_Projection: TypeAlias = tuple[tuple[str, Hashable], ...]
_Key: TypeAlias = tuple[Shape, Keys, _Projection]
_Known: TypeAlias = tuple[Keys, tuple[str, ...], bool]  # keys, sorted, reads the clock

DEFAULT_SIZE = 65_536
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
    """Bounded LRU of decisions plus the referenced-keys memo per shape. Thread-safe: a lock
    guards the bookkeeping only (never held while deciding). ``context`` arguments are
    normalised (``authz.iam.model.normalize_context``: lowercased keys, string or
    tuple-of-strings values), so a projection is a plain lookup per referenced key."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self._size = max(0, size)
        self._entries: OrderedDict[_Key, Decision] = OrderedDict()
        self._referenced: OrderedDict[Shape, _Known] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.bypassed = 0
        self.evictions = 0

    @property
    def enabled(self) -> bool:
        return self._size > 0

    def get(self, shape: Shape, context: Mapping[str, ContextValue]) -> Decision | None:
        """The cached decision for this request, or None (counted as a miss or a bypass)."""
        with self._lock:
            known = self._referenced.get(shape)
            if known is None:
                self.misses += 1
                return None
            if known[2]:
                self.bypassed += 1
                return None
            key = (shape, known[0], _projection(context, known[1]))
            found = self._entries.get(key)
            if found is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
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
        with self._lock:
            known = self._referenced.get(shape, _NOTHING_KNOWN)
            if not referenced <= known[0]:
                keys = known[0] | referenced
                known = (keys, tuple(sorted(keys)), bool(keys & TIME_VARYING_KEYS))
            self._referenced[shape] = known
            self._referenced.move_to_end(shape)
            if len(self._referenced) > self._size:
                self._referenced.popitem(last=False)
            if decision.errors or known[2]:
                return
            self._entries[(shape, known[0], _projection(context, known[1]))] = decision
            if len(self._entries) > self._size:
                self._entries.popitem(last=False)
                self.evictions += 1

    def repeatable(self, shape: Shape | None) -> bool:
        """Whether every evaluation of this shape so far read no time-varying key (after
        ``put``, that includes the one just made): a request of the shape is then decided the
        same way again on this snapshot."""
        if shape is None:
            return False
        with self._lock:
            known = self._referenced.get(shape)
        return known is not None and not known[2]

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "hits": self.hits,
                "misses": self.misses,
                "bypassed": self.bypassed,
                "evictions": self.evictions,
                "size": len(self._entries),
            }
