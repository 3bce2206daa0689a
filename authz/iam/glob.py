"""IAM wildcard matching (spec §2): ``*`` any sequence, ``?`` exactly one character, and
splitting an ARN into its six components. The one matcher of the product: the translator
(service partitions), the validator (trust actions), the oracle (``?`` patterns, request-time
variables, StringLike/ArnLike conditions) all call it. Plain Python, no Cedar, no regex.

Worst case O(len(pattern) × len(value)), never exponential, never a backtracking regex:

* a pattern is compiled into *chunks*, the runs between two ``*``; a chunk is literal text with
  ``?`` holes (a fixed length);
* without a ``*`` the one chunk must cover the value; otherwise the first chunk is anchored at
  the start, the last at the end, and each middle chunk is placed at its leftmost fit after the
  previous one. Leftmost placement is optimal: any later fit of the same chunk leaves a suffix
  that the leftmost fit also leaves (the ``*`` in front absorbs the difference), so greedy never
  loses a match and never has to go back;
* finding a chunk's leftmost fit scans for its longest literal piece with ``str.find`` (C speed;
  linear two-way search for long pieces) and checks the other pieces at that offset. Each
  candidate start costs at most the chunk's length and candidate starts only move right, so one
  chunk costs O(len(chunk) × len(value)) and all chunks together O(len(pattern) × len(value)).

Case-insensitive matching (actions, spec §2.1) compares ``str.lower()`` of pattern and value, the
same rule the Cedar path applies (it lowercases the request's action and the policy's pattern).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache


class Wildcard(Enum):
    STAR = "*"
    ONE = "?"


Part = str | Wildcard  # literal text (any length) or a wildcard


@dataclass(frozen=True, slots=True)
class Chunk:
    """A run between two ``*``: ``length`` characters, literal ``pieces`` at their offsets
    (everything else is a ``?``), longest piece first."""

    length: int
    pieces: tuple[tuple[int, str], ...]

    def fits_at(self, value: str, start: int) -> bool:
        return all(value.startswith(text, start + off) for off, text in self.pieces)

    def find(self, value: str, start: int, end: int) -> int:
        """The leftmost ``s >= start`` with ``s + length <= end`` where the chunk fits, or -1.

        Leapfrog: ask each piece in turn for its next occurrence at or after its offset from
        ``s``; an occurrence further right moves ``s`` there (no fit can start in between), and
        ``s`` is the answer once every piece has been found at it in a row. ``s`` only moves
        right and each piece's search only moves right, so one chunk costs
        O(len(chunk) × len(value)) at worst, with each search done by ``str.find``."""
        last = end - self.length
        if start > last:
            return -1
        count = len(self.pieces)
        confirmed, i = 0, 0
        while confirmed < count:
            off, text = self.pieces[i]
            hit = value.find(text, start + off, last + off + len(text))
            if hit < 0:
                return -1
            if hit - off == start:
                confirmed += 1
            else:
                start, confirmed = hit - off, 1
            i = (i + 1) % count
        return start


@dataclass(frozen=True, slots=True)
class Glob:
    """A compiled pattern. ``chunks`` has one entry per ``*`` plus one."""

    chunks: tuple[Chunk, ...]
    case_insensitive: bool
    min_length: int

    def matches(self, value: str) -> bool:
        if self.case_insensitive:
            value = value.lower()
        n = len(value)
        if n < self.min_length:
            return False
        first = self.chunks[0]
        if len(self.chunks) == 1:
            return n == first.length and first.fits_at(value, 0)
        last = self.chunks[-1]
        end = n - last.length
        if not (first.fits_at(value, 0) and last.fits_at(value, end)):
            return False
        pos = first.length
        for chunk in self.chunks[1:-1]:
            found = chunk.find(value, pos, end)
            if found < 0:
                return False
            pos = found + chunk.length
        return True


def compile_parts(parts: Iterable[Part], *, case_insensitive: bool = False) -> Glob:
    """Compile a pattern given as literal text and wildcards (literal ``*``/``?`` stay literal).
    Ignoring case lowers each literal run between two wildcards as a whole, which is what
    lowering the pattern's text does (a wildcard ends a final-sigma context like a string end)."""
    chunks: list[Chunk] = []
    pieces: list[tuple[int, str]] = []
    run: list[str] = []
    offset = 0

    def flush() -> None:
        nonlocal offset
        text = "".join(run)
        run.clear()
        if text:
            pieces.append((offset, text.lower() if case_insensitive else text))
            offset += len(pieces[-1][1])

    for part in parts:
        if isinstance(part, str):
            run.append(part)
            continue
        flush()
        if part is Wildcard.STAR:
            chunks.append(_chunk(offset, pieces))
            pieces, offset = [], 0
        else:
            offset += 1
    flush()
    chunks.append(_chunk(offset, pieces))
    return Glob(tuple(chunks), case_insensitive, sum(c.length for c in chunks))


def _chunk(length: int, pieces: list[tuple[int, str]]) -> Chunk:
    return Chunk(length, tuple(sorted(pieces, key=lambda piece: -len(piece[1]))))


def glob_parts(pattern: str) -> list[Part]:
    """Plain glob text: every ``*`` and ``?`` is a wildcard, the rest literal."""
    out: list[Part] = []
    start = 0
    for i, ch in enumerate(pattern):
        if ch in "*?":
            if start < i:
                out.append(pattern[start:i])
            out.append(Wildcard.STAR if ch == "*" else Wildcard.ONE)
            start = i + 1
    if start < len(pattern):
        out.append(pattern[start:])
    return out


_CACHED_PATTERN_CHARS = 256  # longer patterns are compiled per call: the cache stays small


def compile_glob(pattern: str, case_insensitive: bool = False) -> Glob:
    if len(pattern) <= _CACHED_PATTERN_CHARS:
        return _compile_cached(pattern, case_insensitive)
    return compile_parts(glob_parts(pattern), case_insensitive=case_insensitive)


@lru_cache(maxsize=4096)
def _compile_cached(pattern: str, case_insensitive: bool) -> Glob:
    return compile_parts(glob_parts(pattern), case_insensitive=case_insensitive)


def glob_match(pattern: str, value: str, case_insensitive: bool = False) -> bool:
    """Does ``value`` match the plain glob ``pattern``?"""
    return compile_glob(pattern, case_insensitive).matches(value)


def split_arn(arn: str) -> tuple[str, str, str, str, str, str] | None:
    """Split on the first five colons; None when there are fewer than six components."""
    parts = arn.split(":", 5)
    if len(parts) != 6:
        return None
    return parts[0], parts[1], parts[2], parts[3], parts[4], parts[5]
