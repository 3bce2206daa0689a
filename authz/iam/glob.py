"""IAM wildcard matching (spec §2): ``*`` any sequence, ``?`` exactly one character, and ARN
matching component by component. Used by the translator for oracle facts and by the repository
for name look-ups. Plain Python, no Cedar."""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=65536)
def glob_regex(pattern: str, case_insensitive: bool = False) -> re.Pattern[str]:
    """Compile an IAM glob into an anchored regex (``*`` -> ``.*``, ``?`` -> ``.``)."""
    parts = []
    for ch in pattern:
        if ch == "*":
            parts.append(".*")
        elif ch == "?":
            parts.append(".")
        else:
            parts.append(re.escape(ch))
    flags = re.DOTALL | (re.IGNORECASE if case_insensitive else 0)
    return re.compile("".join(parts) + r"\Z", flags)


def glob_match(pattern: str, value: str, case_insensitive: bool = False) -> bool:
    return glob_regex(pattern, case_insensitive).match(value) is not None


def split_arn(arn: str) -> tuple[str, str, str, str, str, str] | None:
    """Split on the first five colons; None when there are fewer than six components."""
    parts = arn.split(":", 5)
    if len(parts) != 6:
        return None
    return parts[0], parts[1], parts[2], parts[3], parts[4], parts[5]


def arn_match(pattern: str, value: str) -> bool:
    """ARN matching (spec §2.2): ``*`` alone matches all; components 1-5 glob one by one
    (a wildcard never crosses ``:``), component 6 as a single glob; case-sensitive."""
    if pattern == "*":
        return True
    pat = split_arn(pattern)
    val = split_arn(value)
    if pat is None or val is None:
        return False
    return all(glob_match(p, v) for p, v in zip(pat, val, strict=True))
