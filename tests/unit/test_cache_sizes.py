"""The decision cache charges its entries ``approx_size`` of their keys: the layout-aware sizes
(``shape_size``, ``known_size``, ``projection_size``, the per-Decision memo) give exactly what
the general walk gives, so the memory bound is the same as before they existed."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from authz.engine import cache
from authz.engine.cache import known_size, projection_size, request_shape, shape_size
from authz.engine.decision import Decision, EvalDecision, Layer, MatchedStatement
from authz.iam.model import Caller, CallerKind, Policy, PolicyType
from authz.sizedcache import approx_size

_text = st.text(max_size=40)
_callers = st.builds(
    Caller,
    st.sampled_from(list(CallerKind)),
    _text,
    st.none() | _text,
    st.none() | _text,
    st.none() | _text,
)
_sessions = st.lists(st.tuples(_text, _text, _text), max_size=3).map(tuple)
_tags = st.lists(st.tuples(_text, _text), max_size=3).map(tuple)


@settings(max_examples=300, deadline=None)
@given(_callers, _text, _text, _sessions, _tags)
def test_shape_size_is_approx_size(
    caller: Caller,
    action: str,
    resource: str,
    session: tuple[tuple[str, str, str], ...],
    tags: tuple[tuple[str, str], ...],
) -> None:
    shape = (caller, action, resource, session, tags)
    assert shape_size(shape) == approx_size(shape)
    assert shape_size(shape) == approx_size(shape)  # again, from the per-caller memo


def test_shape_size_of_request_shapes_and_odd_tuples() -> None:
    caller = Caller(CallerKind.USER, "arn:aws:iam::1:user/a", "1", None, "AIDA")
    policy = Policy("p", PolicyType.SESSION, "2012-10-17", (), source="s", digest="d" * 24)
    tagged = request_shape(caller, "S3:Get", "arn:aws:s3:::b/k", (policy,), {"team": "x"})
    assert tagged is not None and shape_size(tagged) == approx_size(tagged)
    for odd in ((caller, "a"), ("not a caller", "a", "r", (), ()), (caller, 1, "r", (), ())):
        assert shape_size(odd) == approx_size(odd)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(st.frozensets(_text, max_size=6), st.booleans())
def test_known_size_is_approx_size(keys: frozenset[str], clock: bool) -> None:
    known = (keys, tuple(sorted(keys)), clock)
    assert known_size(known) == approx_size(known)


_values = _text | st.lists(_text, max_size=3).map(tuple)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_text, _values), max_size=6).map(tuple))
def test_projection_size_is_approx_size(projection: tuple[tuple[str, object], ...]) -> None:
    assert projection_size(projection) == approx_size(projection)  # type: ignore[arg-type]


def test_decision_bytes_are_remembered_per_decision_and_equal_the_walk() -> None:
    matched = (MatchedStatement("p", Layer.IDENTITY, "Sid", "Allow", "f.json"),)
    decision = Decision(EvalDecision.ALLOWED, matched)
    expected = 128 + sum(approx_size(m) for m in matched)
    assert cache._decision_bytes(decision) == expected
    assert cache._decision_bytes(decision) == expected  # from the memo
    other = Decision(EvalDecision.IMPLICIT_DENY)
    assert cache._decision_bytes(other) == 128


def test_a_decision_cache_keeps_its_size_memos_to_itself() -> None:
    """The decisions and callers a snapshot's cache sized are remembered by that cache only,
    so they are freed with its snapshot: in module-wide memos each replaced snapshot's
    Decision objects stayed until 4,096 had gathered (RSS crept under reloads)."""
    caller = Caller(CallerKind.USER, "arn:aws:iam::111111111111:user/memo", "111111111111")
    matched = (MatchedStatement("p", Layer.IDENTITY, "Sid", "Allow", "f.json"),)
    decision = Decision(EvalDecision.ALLOWED, matched)
    shape = request_shape(caller, "s3:GetObject", "arn:aws:s3:::b/k")
    assert shape is not None
    before = (dict(cache._DECISION_BYTES), dict(cache._CALLER_BYTES))
    held = cache.DecisionCache()
    held.put(shape, {}, frozenset(), decision)  # seen once: not kept yet
    assert held.get(shape, {}) is None
    held.put(shape, {}, frozenset(), decision)
    assert held.get(shape, {}) is decision
    assert before == (cache._DECISION_BYTES, cache._CALLER_BYTES)  # the module's untouched
    assert held._decision_memo[id(decision)] == (decision, 128 + approx_size(matched[0]))
    assert held._caller_memo[id(caller)][0] is caller
