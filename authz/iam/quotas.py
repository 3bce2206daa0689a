"""IAM quotas and API parameter constraints (spec §7) as pure functions that return problems.

Owns names, paths, ``MaxSessionDuration``, policy-document sizes (white space excluded), inline
aggregates, attachment counts and tags. Every function returns a list of ``QuotaProblem`` and
never raises, so the repository loader can collect all problems of a file at once; the IAM API
model (``authz.iam.iam_api``) turns them into one exception with ``as_error``. Imports neither
cedarpy nor grpc, and does not parse policies (``authz.iam.parse`` does).

Messages follow AWS: a parameter constraint is ``ValidationError`` (``1 validation error
detected: Value '<v>' at '<param>' failed to satisfy constraint: Member must ...``); a size or
count quota is ``LimitExceeded`` (``Cannot exceed quota for PolicySize: 6144``).

Decisions where the spec is silent:

* White space = the JSON white-space characters (space, TAB, LF, CR), wherever they occur.
* Every policy-document kind is also checked against the raw API parameter constraints
  (1-131072 characters of TAB, LF, CR, U+0020-U+00FF) as ``ValidationError``.
* A session policy (AssumeRole ``Policy``) is limited to 2048 raw characters, a
  ``ValidationError`` on ``policy`` as in the STS API model; the packed-size check is STS's.
* The inline aggregate quota is reported as ``Cannot exceed quota for <Kind>PolicySize: <n>``.
* Tags may be given as the API list of ``{"Key", "Value"}`` or as a ``{key: value}`` mapping.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

MAX_DOCUMENT_PARAMETER = 131072
SESSION_POLICY_MAX = 2048
_WHITESPACE = re.compile(r"[ \t\n\r]")
_DOC_CHARS = re.compile(r"[\t\n\r\u0020-\u00ff]+")
_NAME = re.compile(r"[A-Za-z0-9_+=,.@-]+")
_PATH = re.compile(r"/|/[\u0021-\u007e]+/")
_TAG = re.compile(r"[\w\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000.:/=+\-@]*")
_DOC_PATTERN = r"[\u0009\u000A\u000D\u0020-\u00FF]+"
_NAME_PATTERN = r"[\w+=,.@-]+"
_PATH_PATTERN = r"(\u002F)|(\u002F[\u0021-\u007E]+\u002F)"
_TAG_PATTERN = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*"

# kind -> (API parameter name, maximum length)
_NAMES: dict[str, tuple[str, int]] = {
    "user": ("userName", 64),
    "role": ("roleName", 64),
    "group": ("groupName", 128),
    "policy": ("policyName", 128),
    "instance-profile": ("instanceProfileName", 128),
}
# document kind -> (API parameter name, quota name, quota)
_DOCUMENTS: dict[str, tuple[str, str, int]] = {
    "trust": ("assumeRolePolicyDocument", "ACLSizePerRole", 2048),
    "managed": ("policyDocument", "PolicySize", 6144),
    "inline": ("policyDocument", "", 0),
    "session": ("policy", "", 0),
}
INLINE_AGGREGATE: dict[str, tuple[str, int]] = {
    "user": ("UserPolicySize", 2048),
    "group": ("GroupPolicySize", 5120),
    "role": ("RolePolicySize", 10240),
}
ATTACHMENTS: dict[str, tuple[str, int]] = {
    "user": ("PoliciesPerUser", 10),
    "group": ("PoliciesPerGroup", 10),
    "role": ("PoliciesPerRole", 10),
}
_DUPLICATE_TAGS = "Duplicate tag keys found. Please note that Tag keys are case insensitive."
MAX_TAGS = 50
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
MIN_SESSION_DURATION = 3600
MAX_SESSION_DURATION = 43200


@dataclass(frozen=True)
class QuotaProblem:
    """One broken constraint: AWS error code, AWS message, JSON path of the offending value."""

    code: str  # "ValidationError" | "LimitExceeded" | "MalformedPolicyDocument"
    message: str
    path: str


def size_without_whitespace(text: str) -> int:
    """The size IAM counts for a policy document: characters other than white space."""
    return len(text) - len(_WHITESPACE.findall(text))


def _invalid(value: object, param: str, constraint: str, path: str) -> QuotaProblem:
    shown = "null" if value is None else f"'{value}'"
    message = (
        f"1 validation error detected: Value {shown} at '{param}' failed to satisfy "
        f"constraint: Member must {constraint}"
    )
    return QuotaProblem("ValidationError", message, path)


def _limit(quota: str, limit: int, path: str) -> QuotaProblem:
    return QuotaProblem("LimitExceeded", f"Cannot exceed quota for {quota}: {limit}", path)


Pattern = tuple[re.Pattern[str], str]  # compiled regex, and the pattern as AWS prints it


def _string_problems(
    value: object, param: str, path: str, bounds: tuple[int, int], pattern: Pattern
) -> list[QuotaProblem]:
    """Presence, type, length bounds and pattern of one string parameter."""
    if value is None:
        return [_invalid(value, param, "not be null", path)]
    if not isinstance(value, str):
        return [_invalid(value, param, "be a string", path)]
    low, high = bounds
    regex, shown = pattern
    out = []
    if value and not regex.fullmatch(value):
        out.append(_invalid(value, param, f"satisfy regular expression pattern: {shown}", path))
    if len(value) < low:
        out.append(_invalid(value, param, f"have length greater than or equal to {low}", path))
    if len(value) > high:
        out.append(_invalid(value, param, f"have length less than or equal to {high}", path))
    return out


def name_problems(kind: str, name: object, path: str = "$") -> list[QuotaProblem]:
    """Name of a user, role (1-64) or group, policy, instance profile (1-128): ``[\\w+=,.@-]+``."""
    param, high = _NAMES[kind]
    return _string_problems(name, param, path, (1, high), (_NAME, _NAME_PATTERN))


def path_problems(value: object, path: str = "$.Path") -> list[QuotaProblem]:
    """An IAM path: 1-512 characters, ``/`` or ``/…/`` of printable ASCII."""
    return _string_problems(value, "path", path, (1, 512), (_PATH, _PATH_PATTERN))


def max_session_duration_problems(
    value: object, path: str = "$.MaxSessionDuration"
) -> list[QuotaProblem]:
    """A role's ``MaxSessionDuration``: an integer number of seconds in 3600-43200."""
    param = "maxSessionDuration"
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) < 20:
        number = int(value)
    if number is None:
        return [_invalid(value, param, "be an integer", path)]
    if number < MIN_SESSION_DURATION:
        constraint = f"have value greater than or equal to {MIN_SESSION_DURATION}"
        return [_invalid(value, param, constraint, path)]
    if number > MAX_SESSION_DURATION:
        constraint = f"have value less than or equal to {MAX_SESSION_DURATION}"
        return [_invalid(value, param, constraint, path)]
    return []


def document_size_problems(
    kind: str, text: str, path: str = "$", *, quota: int | None = None
) -> list[QuotaProblem]:
    """Raw API constraints of a policy document parameter, then its size quota.

    ``kind`` is ``trust`` (2048, adjustable: pass ``quota=4096``), ``managed`` (6144),
    ``inline`` (only the API constraints; the quota is per entity, see
    ``inline_aggregate_problems``) or ``session`` (2048 raw characters).
    """
    param, quota_name, default = _DOCUMENTS[kind]
    high = SESSION_POLICY_MAX if kind == "session" else MAX_DOCUMENT_PARAMETER
    shown = (_DOC_CHARS, _DOC_PATTERN)
    out = _string_problems(text, param, path, (1, high), shown)
    if out or not quota_name:
        return out
    limit = quota if quota is not None else default
    if size_without_whitespace(text) > limit:
        out.append(_limit(quota_name, limit, path))
    return out


def inline_aggregate_problems(
    entity: str, texts: Sequence[str], path: str = "$"
) -> list[QuotaProblem]:
    """The aggregate size of an entity's inline policies: user 2048, group 5120, role 10240."""
    quota_name, limit = INLINE_AGGREGATE[entity]
    total = sum(size_without_whitespace(t) for t in texts if isinstance(t, str))
    return [_limit(quota_name, limit, path)] if total > limit else []


def attachment_count_problems(
    entity: str, count: int, path: str = "$", *, quota: int | None = None
) -> list[QuotaProblem]:
    """Managed policies attached to one user, group or role: 10 (adjustable to 20)."""
    quota_name, default = ATTACHMENTS[entity]
    limit = quota if quota is not None else default
    return [_limit(quota_name, limit, path)] if count > limit else []


def tag_problems(tags: object, path: str = "$.Tags") -> list[QuotaProblem]:
    """At most 50 tags; keys 1-128 and values 0-256 characters; keys unique ignoring case."""
    pairs = _tag_pairs(tags)
    if pairs is None:
        return [_invalid(tags, "tags", "be a list of Key/Value pairs", path)]
    out: list[QuotaProblem] = []
    if len(pairs) > MAX_TAGS:
        out.append(_invalid(tags, "tags", f"have length less than or equal to {MAX_TAGS}", path))
    seen: set[str] = set()
    for index, (key, value) in enumerate(pairs, start=1):
        where = f"{path}[{index - 1}]"
        key_param, value_param = f"tags.{index}.member.key", f"tags.{index}.member.value"
        tag = (_TAG, _TAG_PATTERN)
        out += _string_problems(key, key_param, where + ".Key", (1, MAX_TAG_KEY), tag)
        out += _string_problems(value, value_param, where + ".Value", (0, MAX_TAG_VALUE), tag)
        if isinstance(key, str):
            if key.lower() in seen:
                out.append(QuotaProblem("ValidationError", _DUPLICATE_TAGS, where + ".Key"))
            seen.add(key.lower())
    return out


def _tag_pairs(tags: object) -> list[tuple[object, object]] | None:
    if tags is None:
        return []
    if isinstance(tags, Mapping):
        return list(tags.items())
    if not isinstance(tags, list):
        return None
    pairs: list[tuple[object, object]] = []
    for item in tags:
        if not isinstance(item, Mapping):
            return None
        pairs.append((item.get("Key"), item.get("Value")))
    return pairs


def as_error_message(problems: Sequence[QuotaProblem]) -> str:
    """One AWS message for several problems of the same code (``2 validation errors …``)."""
    if len(problems) == 1 or problems[0].code != "ValidationError":
        return problems[0].message
    prefix = "1 validation error detected: "
    parts = [p.message.removeprefix(prefix) for p in problems if p.code == "ValidationError"]
    return f"{len(parts)} validation errors detected: " + "; ".join(parts)
