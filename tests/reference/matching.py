"""Reference matching: IAM globs, policy variables, actions and ARNs (iam-semantics.md §2, §4.6).

Owns the token representation of patterns. A pattern is a tuple of tokens: a one-character
``str`` is a literal character, ``STAR``/``ONE`` are the wildcards ``*``/``?``. Text that a
policy variable produced (a substituted value, a default, an escape) is always literal, so it
can never act as a wildcard (§4.6). Imports nothing from ``authz``.
"""

from __future__ import annotations

import re
from enum import Enum

from tests.reference.context import Context, lookup


class Wild(Enum):
    STAR = "*"
    ONE = "?"


STAR = Wild.STAR
ONE = Wild.ONE
Token = str | Wild
Pattern = tuple[Token, ...]

MODERN_VERSION = "2012-10-17"

# `${key}` or `${key, 'default'}` (§4.6): comma, optional space, value in single quotes.
_VARIABLE = re.compile(r"\A([^,']+?)\s*(?:,\s*'([^']*)')?\Z")


def literal(text: str) -> Pattern:
    return tuple(text)


def parse_glob(text: str) -> Pattern:
    """Plain glob text (no variables): ``*`` and ``?`` are wildcards, the rest literal."""
    return tuple(STAR if ch == "*" else ONE if ch == "?" else ch for ch in text)


def expand(text: str, context: Context, version: str | None) -> Pattern | None:
    """Substitute policy variables (§4.6) and tokenise.

    Only under Version 2012-10-17; otherwise ``${...}`` is literal text. Returns None when a
    variable names a key that is absent (or multivalued) and has no default: such a value
    matches nothing.
    """
    if version != MODERN_VERSION:
        return parse_glob(text)
    out: list[Token] = []
    i = 0
    while i < len(text):
        end = text.find("}", i + 2) if text.startswith("${", i) else -1
        if end < 0:
            out.extend(parse_glob(text[i]))
            i += 1
            continue
        inner = text[i + 2 : end]
        i = end + 1
        if inner in ("*", "?", "$"):
            out.append(inner)
            continue
        match = _VARIABLE.match(inner.strip())
        if match is None:  # not a variable reference: keep the text as written
            out.extend(parse_glob("${" + inner + "}"))
            continue
        value = lookup(context, match.group(1).strip())
        if isinstance(value, str):
            out.extend(literal(value))
        elif match.group(2) is not None:
            out.extend(literal(match.group(2)))
        else:
            return None
    return tuple(out)


def text_of(pattern: Pattern) -> str:
    """The pattern as plain text (for equality operators, where wildcards are literal)."""
    return "".join(t.value if isinstance(t, Wild) else t for t in pattern)


def glob_match(pattern: Pattern, value: str, ignore_case: bool = False) -> bool:
    """``*`` any sequence (also empty, also across ``/`` and ``:``), ``?`` one character.
    Ignoring case compares the ``str.lower()`` of the pattern's text and of the value (each
    literal run between wildcards is lowered as a whole: ``Σ`` lowers by its context).

    Written as the textbook set-of-positions simulation (not the product's greedy algorithm,
    and no regex): ``alive`` holds every ``j`` such that ``pattern[:j]`` matches the value read
    so far. O(len(pattern) × len(value)), so generated inputs can never hang a test."""
    if ignore_case:
        value = value.lower()
        pattern = _lowered(pattern)
    alive = _through_stars(pattern, {0})
    for ch in value:
        step = {j + 1 for j in alive if j < len(pattern) and pattern[j] in (ONE, ch)}
        step |= {j for j in alive if j < len(pattern) and pattern[j] is STAR}
        alive = _through_stars(pattern, step)
        if not alive:
            return False
    return len(pattern) in alive


def _lowered(pattern: Pattern) -> Pattern:
    out: list[Token] = []
    run: list[str] = []
    for token in (*pattern, None):
        if isinstance(token, str):
            run.append(token)
            continue
        out.extend("".join(run).lower())
        run.clear()
        if token is not None:
            out.append(token)
    return tuple(out)


def _through_stars(pattern: Pattern, positions: set[int]) -> set[int]:
    """A ``*`` may match nothing: from ``j`` at a star, ``j + 1`` is reachable too."""
    out = set(positions)
    for j in sorted(positions):
        while j < len(pattern) and pattern[j] is STAR:
            j += 1
            out.add(j)
    return out


def split_pattern(pattern: Pattern) -> list[Pattern] | None:
    """Split on the first five ``:`` characters into six components, or None if fewer."""
    parts: list[list[Token]] = [[]]
    for token in pattern:
        if token == ":" and len(parts) < 6:
            parts.append([])
        else:
            parts[-1].append(token)
    return [tuple(p) for p in parts] if len(parts) == 6 else None


def split_arn(value: str) -> list[str] | None:
    parts = value.split(":", 5)
    return parts if len(parts) == 6 else None


def arn_match(pattern: Pattern, value: str) -> bool:
    """ARN matching (§2.2, §4.4 Arn*): component-wise on the first five colons, each
    component a case-sensitive glob (so a wildcard never crosses one of those colons); the
    sixth component is one glob. A value or pattern with fewer than six components never
    matches."""
    pattern_parts = split_pattern(pattern)
    value_parts = split_arn(value)
    if pattern_parts is None or value_parts is None:
        return False
    return all(glob_match(p, v) for p, v in zip(pattern_parts, value_parts, strict=True))


def resource_match(pattern_text: str, resource: str, context: Context, version: str | None) -> bool:
    """One Resource/NotResource entry against the request's resource (§2.2 steps 1-7)."""
    if pattern_text == "*":
        return True
    pattern = expand(pattern_text, context, version)
    return pattern is not None and arn_match(pattern, resource)


def action_match(pattern_text: str, action: str) -> bool:
    """One Action/NotAction entry: a case-insensitive glob over ``prefix:name`` (§2.1)."""
    return glob_match(parse_glob(pattern_text), action, ignore_case=True)


def as_list(value: object) -> list[object]:
    """A policy element that may be a single value or an array."""
    return list(value) if isinstance(value, list) else [value]
