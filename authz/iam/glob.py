"""IAM wildcard matching (spec §2): ``*`` any sequence, ``?`` exactly one character, and
splitting an ARN into its six components. Used by the translator (service partitions, ARN
values), the validator (trust actions) and the repository loader. Plain Python, no Cedar.
(Patterns with policy variables are matched by ``authz.cedar.pattern``.)"""

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
