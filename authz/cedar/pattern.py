"""IAM value patterns as segments: literal text, the ``*``/``?`` wildcards and policy variables
(spec §2, §4.6), plus their renderings (Cedar string / ``like`` literal, a compiled
``authz.iam.glob`` matcher for the oracle).

Owns variable syntax (``${key}``, ``${key, 'default'}``, ``${*}``, ``${?}``, ``${$}``), compile-time
and request-time substitution, and ARN component splitting of a pattern. Must not import cedarpy:
it renders Cedar *text* only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from authz.iam.glob import Glob, Part, Wildcard, compile_parts
from authz.iam.model import ContextValue


@dataclass(frozen=True, slots=True)
class Wild:
    """A wildcard: ``*`` (any run of characters) or ``?`` (exactly one character)."""

    char: str


@dataclass(frozen=True, slots=True)
class Var:
    """A policy variable ``${key}``; ``key`` is lowercased; ``default`` is the quoted fallback."""

    key: str
    default: str | None = None


STAR = Wild("*")
QMARK = Wild("?")
Segment = str | Wild | Var
Pattern = tuple[Segment, ...]

_VAR_BODY = re.compile(r"^\s*([^,\s]+)\s*(?:,\s*'((?:[^']|'')*)'\s*)?$")
_ESCAPES = {"*": "*", "?": "?", "$": "$"}


def parse_pattern(text: str, *, variables: bool, wildcards: bool) -> Pattern:
    """Split an IAM value into segments. Without ``variables`` (Version 2008-10-17, or an
    operator that takes none) ``${…}`` is literal text; without ``wildcards`` ``*``/``?`` are."""
    out: list[Segment] = []
    pos = 0
    while variables:
        start = text.find("${", pos)
        end = text.find("}", start + 2) if start >= 0 else -1
        if end < 0:
            break  # no further `${…}` (a linear scan: never a regex over policy text)
        _literal(text[pos:start], wildcards, out)
        out.append(_variable(text[start : end + 1], text[start + 2 : end]))
        pos = end + 1
    _literal(text[pos:], wildcards, out)
    return _merge(out)


def _variable(whole: str, body: str) -> Segment:
    if body in _ESCAPES:
        return _ESCAPES[body]
    parsed = _VAR_BODY.match(body)
    if parsed is None:
        return whole  # not a variable: literal text
    default = parsed.group(2)
    return Var(parsed.group(1).lower(), default.replace("''", "'") if default is not None else None)


def _literal(text: str, wildcards: bool, out: list[Segment]) -> None:
    if not wildcards:
        if text:
            out.append(text)
        return
    buf: list[str] = []
    for ch in text:
        if ch in "*?":
            if buf:
                out.append("".join(buf))
                buf = []
            out.append(STAR if ch == "*" else QMARK)
        else:
            buf.append(ch)
    if buf:
        out.append("".join(buf))


def _merge(segments: list[Segment]) -> Pattern:
    out: list[Segment] = []
    for seg in segments:
        if isinstance(seg, str) and out and isinstance(out[-1], str):
            out[-1] = out[-1] + seg
        elif not (isinstance(seg, str) and not seg):
            out.append(seg)
    return tuple(out)


def variables_of(pattern: Pattern) -> frozenset[str]:
    return frozenset(seg.key for seg in pattern if isinstance(seg, Var))


def has_qmark(pattern: Pattern) -> bool:
    return any(seg == QMARK for seg in pattern)


def has_wildcard(pattern: Pattern) -> bool:
    return any(isinstance(seg, Wild) for seg in pattern)


def substitute(pattern: Pattern, lookup: Callable[[str], str | bool | None]) -> Pattern | None:
    """Replace the variables ``lookup`` knows. ``lookup`` returns the value, ``None`` when the
    key is known to be absent, or ``False`` to leave the variable in place (request-time).
    Returns None when an absent variable has no default: the element matches nothing."""
    out: list[Segment] = []
    for seg in pattern:
        if not isinstance(seg, Var):
            out.append(seg)
            continue
        value = lookup(seg.key)
        if value is False:
            out.append(seg)
        elif isinstance(value, str):
            out.append(value)
        elif seg.default is not None:
            out.append(seg.default)
        else:
            return None
    return _merge(out)


def context_lookup(context: Mapping[str, ContextValue]) -> Callable[[str], str | bool | None]:
    """A request-time ``lookup``: single-valued keys only (spec §4.6)."""

    def lookup(key: str) -> str | None:
        value = context.get(key)
        return value if isinstance(value, str) else None

    return lookup


def literal_text(pattern: Pattern) -> str:
    """The pattern as plain text, wildcards as their characters (equality operators)."""
    return "".join(
        seg if isinstance(seg, str) else seg.char for seg in pattern if not isinstance(seg, Var)
    )


def cedar_string(text: str) -> str:
    """A Cedar string literal."""
    return '"' + _escape(text, like=False) + '"'


# Cedar's ``like`` is the greedy two-pointer algorithm: after each ``*`` a failed attempt
# re-reads at most the literal run that follows it, so one test costs up to
# len(value) × (longest run after the first ``*``), holding the GIL (measured: 1,000-character
# run × 1 MiB value = 1.7 s; benchmarks/results/matching.json). Patterns with a longer run go to
# the oracle, whose matcher finds a run with one ``str.find``.
CEDAR_LIKE_MAX_RUN = 64


def fits_cedar_like(pattern: Pattern) -> bool:
    """Is every literal run after the first ``*`` at most ``CEDAR_LIKE_MAX_RUN`` characters?"""
    run, starred = 0, False
    for seg in pattern:
        if seg == STAR:
            run, starred = 0, True
        elif isinstance(seg, str):
            run += len(seg)
        elif isinstance(seg, Wild):
            run += 1
        if starred and run > CEDAR_LIKE_MAX_RUN:
            return False
    return True


def cedar_like(pattern: Pattern) -> str:
    """A Cedar ``like`` literal; only ``*`` segments are wildcards (caller excludes ``?``)."""
    body = "".join(
        _escape(seg, like=True) if isinstance(seg, str) else "*"
        for seg in pattern
        if isinstance(seg, str) or seg == STAR
    )
    return '"' + body + '"'


def _escape(text: str, *, like: bool) -> str:
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif like and ch == "*":
            out.append("\\*")
        elif ord(ch) < 0x20 or ch == "\x7f":
            out.append(f"\\u{{{ord(ch):x}}}")
        else:
            out.append(ch)
    return "".join(out)


def to_glob(pattern: Pattern, *, case_insensitive: bool = False) -> Glob:
    """The matcher of a variable-free pattern (``*`` any run, ``?`` one character)."""
    if sum(len(seg) for seg in pattern if isinstance(seg, str)) <= _CACHED_PATTERN_CHARS:
        return _glob_cached(pattern, case_insensitive)
    return compile_parts(_glob_parts(pattern), case_insensitive=case_insensitive)


_CACHED_PATTERN_CHARS = 256  # longer patterns are compiled per call: the cache stays small


@lru_cache(maxsize=16384)
def _glob_cached(pattern: Pattern, case_insensitive: bool) -> Glob:
    return compile_parts(_glob_parts(pattern), case_insensitive=case_insensitive)


def _glob_parts(pattern: Pattern) -> list[Part]:
    out: list[Part] = []
    for seg in pattern:
        if isinstance(seg, Wild):
            out.append(Wildcard.STAR if seg.char == "*" else Wildcard.ONE)
        elif isinstance(seg, str):
            out.append(seg)
    return out


def split_components(pattern: Pattern) -> list[Pattern] | None:
    """Split on the first five literal colons into six component patterns (spec §2.2);
    None when there are fewer than six components."""
    comps: list[list[Segment]] = [[]]
    for seg in pattern:
        if not isinstance(seg, str) or len(comps) == 6:
            comps[-1].append(seg)
            continue
        pieces = seg.split(":", 6 - len(comps))
        comps[-1].append(pieces[0])
        for piece in pieces[1:]:
            comps.append([piece])
    if len(comps) != 6:
        return None
    return [_merge(c) for c in comps]


def join_components(comps: list[Pattern]) -> Pattern:
    """``split_components``' inverse: the components joined by literal colons."""
    segments: list[Segment] = []
    for i, comp in enumerate(comps):
        if i:
            segments.append(":")
        segments.extend(comp)
    return _merge(segments)


def is_star(pattern: Pattern) -> bool:
    return pattern == (STAR,)


def pattern_text(pattern: Pattern) -> str:
    """The pattern in IAM spelling (``${key}`` for variables), for diagnostics."""
    out = []
    for seg in pattern:
        if isinstance(seg, Var):
            out.append(
                "${" + seg.key + (f", '{seg.default}'" if seg.default is not None else "") + "}"
            )
        elif isinstance(seg, Wild):
            out.append(seg.char)
        else:
            out.append(seg.replace("*", "${*}").replace("?", "${?}"))
    return "".join(out)
