"""The product's wildcard matcher (``authz.iam.glob``) against the reference evaluator's
(``tests.reference.matching``) on generated patterns and values, and its worst cases: patterns
that make a backtracking regex take exponential or quadratic time decide in milliseconds."""

from __future__ import annotations

import time

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from authz.cedar.oracle import ActionFact, Probe, arn_pattern_matches, compile_fact
from authz.cedar.pattern import fits_cedar_like, parse_pattern
from authz.iam.glob import Wildcard, compile_parts, glob_match
from tests.reference import matching as ref

# Letters that fold (ASCII, Latin-1, German sharp s, dotted I, Greek final sigma, Kelvin sign),
# multi-byte characters, the ARN separators and the wildcards themselves.
ALPHABET = "aAbB:/*?éÉßİıςΣK日😀-"
texts = st.text(alphabet=ALPHABET, max_size=24)
values = st.text(alphabet=ALPHABET.replace("*", "").replace("?", "") + "*?", max_size=40)


def _tokens(text: str) -> ref.Pattern:
    return ref.parse_glob(text)


@settings(max_examples=600, deadline=None)
@given(pattern=texts, value=values, ignore_case=st.booleans())
@example(pattern="*a?b", value="xxab", ignore_case=False)
@example(pattern="*a?b", value="xaxb", ignore_case=False)
@example(pattern="?", value="İ", ignore_case=True)
@example(pattern="İ*", value="i̇x", ignore_case=True)
@example(pattern="a*a*a", value="aa", ignore_case=False)
def test_glob_agrees_with_the_reference(pattern: str, value: str, ignore_case: bool) -> None:
    expected = ref.glob_match(_tokens(pattern), value, ignore_case=ignore_case)
    assert glob_match(pattern, value, ignore_case) is expected


@st.composite
def parts(draw: st.DrawFn) -> list[str | Wildcard]:
    """A pattern as parts: literal runs may hold ``*``/``?`` (escaped ``${*}``/``${?}``)."""
    items = st.one_of(
        st.sampled_from([Wildcard.STAR, Wildcard.ONE]), st.text(alphabet=ALPHABET, max_size=4)
    )
    return draw(st.lists(items, max_size=10))


@settings(max_examples=400, deadline=None)
@given(pattern=parts(), value=values)
def test_literal_wildcard_characters_stay_literal(
    pattern: list[str | Wildcard], value: str
) -> None:
    tokens: list[ref.Token] = []
    for part in pattern:
        if part is Wildcard.STAR:
            tokens.append(ref.STAR)
        elif part is Wildcard.ONE:
            tokens.append(ref.ONE)
        else:
            tokens.extend(ref.literal(part))
    expected = ref.glob_match(tuple(tokens), value)
    assert compile_parts(pattern).matches(value) is expected


arn_texts = st.text(alphabet="as3:/*?b-x日", max_size=30)


@settings(max_examples=400, deadline=None)
@given(pattern=arn_texts, value=st.text(alphabet="as3:/b-x日*?", max_size=30))
@example(pattern="arn:aws:s3:::*/*/??.csv", value="arn:aws:s3:::b/k/ab.csv")
@example(pattern="a*:*:*:*:*:*", value="arn:aws:s3:::x:y")
def test_arn_matching_agrees_with_the_reference(pattern: str, value: str) -> None:
    expected = ref.arn_match(_tokens(pattern), value)
    parsed = parse_pattern(pattern, variables=False, wildcards=True)
    assert arn_pattern_matches(parsed, value) is expected


@settings(max_examples=300, deadline=None)
@given(pattern=st.text(alphabet="s3:GgEeTt*?ΣσςİK", max_size=16), action=texts)
def test_action_facts_agree_with_the_reference(pattern: str, action: str) -> None:
    """The oracle's action fact (lowercased pattern, lowercased action), as the translator
    builds it, against the reference's case-insensitive action match."""
    matcher = compile_fact(ActionFact(pattern.lower()))
    got = matcher(Probe(action=action.lower(), resource="", context={}))
    assert got is ref.action_match(pattern, action)


MIB = 1 << 20
PATHOLOGIES = [
    ("*a" * 1000 + "?b", "a" * MIB, False),  # issue 10: exponential for a backtracking regex
    ("*a" * 1000 + "?b", "a" * (MIB - 2) + "xb", True),  # the same, matching
    ("*" + "a" * 1000 + "?b*", "a" * MIB, False),  # a long chunk with a hole, never found
    ("*" + "a?" * 500 + "b*", "a" * MIB, False),  # many holes
    # every piece everywhere, never together: the leapfrog's slowest known shape, one Python
    # step per position (~0.7 s per MiB); request values are far shorter (resource ≤ 2 KiB)
    ("*a?b*", "ab" * (MIB // 8), False),
    ("*/*/??.csv", "/" * MIB, False),  # the realistic two-star pattern
    ("*?" * 1000, "a" * MIB, True),
    ("*" * 5000 + "b", "a" * MIB, False),
]


@pytest.mark.parametrize(("pattern", "value", "expected"), PATHOLOGIES, ids=range(len(PATHOLOGIES)))
def test_pathological_patterns_decide_in_milliseconds(
    pattern: str, value: str, expected: bool
) -> None:
    """Generous bound (1 s); the measured figures are in benchmarks/results/matching.json."""
    start = time.perf_counter()
    got = glob_match(pattern, value)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"{elapsed:.3f} s"
    assert got is expected


def test_case_insensitive_pathology_is_fast() -> None:
    start = time.perf_counter()
    assert not glob_match("*A" * 1000 + "?B", "a" * (1 << 20), case_insensitive=True)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    ("text", "fits"),
    [
        ("arn:aws:s3:::bucket/*", True),
        ("arn:aws:s3:::" + "x" * 500 + "/*", True),  # a long prefix is read once
        ("arn:aws:s3:::*" + "x" * 64, True),
        ("arn:aws:s3:::*" + "x" * 65, False),
        ("*" + "a" * 40 + "*" + "b" * 40, True),
    ],
)
def test_long_runs_after_a_star_are_kept_from_cedar_like(text: str, fits: bool) -> None:
    """Cedar's ``like`` costs len(value) × (longest run after a ``*``): longer runs go to the
    oracle (see ``authz.cedar.pattern.CEDAR_LIKE_MAX_RUN``)."""
    assert fits_cedar_like(parse_pattern(text, variables=False, wildcards=True)) is fits
