"""AssumeRole parameter rules (spec §6.1, §6.6): validation with the AWS ``ValidationError``
texts, the session duration and the rule that capped it, session tags with transitive keys,
source identity along a chain, and the packed size of session policies and tags.

Pure functions over plain data: no keys, no Cedar, no gRPC. ``authz.sts.service`` calls them.
"""

from __future__ import annotations

import json
import re
import unicodedata
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from authz.errors import PackedPolicyTooLarge, ValidationError

# AWS's parameter patterns are ASCII (``\w`` = ``[A-Za-z0-9_]``) and match the whole value:
# re.ASCII and fullmatch, never Python's Unicode ``\w`` nor ``$`` (which matches before a
# trailing newline). Linear-time: character classes with one ``*``, no nesting.
_SESSION_NAME = re.compile(r"[\w+=,.@-]*", re.ASCII)
_EXTERNAL_ID = re.compile(r"[\w+=,.@:/-]*", re.ASCII)
_SERIAL = re.compile(r"[\w+=/:,.@-]*", re.ASCII)
_TOKEN_CODE = re.compile(r"[0-9]*", re.ASCII)
_TAG_PUNCTUATION = frozenset("_.:/=+-@")
_RESERVED_PREFIX = "aws:"
_POLICY_CHARS = re.compile(r"[\t\n\r\u0020-\u00ff]*")
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):role/(?:[^/]*/)*([\w+=,.@-]{1,64})", re.ASCII)
_POLICY_ARN = re.compile(r"arn:(aws[a-z-]*):iam::(\d{12}|aws):policy/[\x21-\x7e]+", re.ASCII)

# PackedPolicySize: the session policies and tags, compressed, against this budget (bytes).
# AWS does not publish its packing; this approximation keeps the plaintext limit of 2,048
# characters for policies and 50 tags comfortably below 100 %.
PACKED_BUDGET_BYTES = 2048
SESSION_POLICY_PLAINTEXT_LIMIT = 2048
MFA_PAIR_REQUIRED = (
    "MultiFactorAuthentication failed, must provide both MFA serial number and one time pass code."
)


@dataclass(frozen=True)
class AssumeRoleParams:
    """The AssumeRole request, AWS parameter names in snake_case; absent = None / empty."""

    role_arn: str
    role_session_name: str
    duration_seconds: int | None = None
    external_id: str | None = None
    policy: str | None = None
    policy_arns: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    transitive_tag_keys: tuple[str, ...] = ()
    serial_number: str | None = None
    token_code: str | None = None
    source_identity: str | None = None

    @classmethod
    def from_aws(cls, params: Mapping[str, Any]) -> AssumeRoleParams:
        """From the AWS API shape (``PolicyArns: [{arn}]``, ``Tags: [{Key, Value}]``)."""
        arns = tuple(
            (a.get("arn") or a.get("Arn") or "") if isinstance(a, Mapping) else str(a)
            for a in params.get("PolicyArns") or ()
        )
        tags = tuple(
            (str(t.get("Key", "")), str(t.get("Value", ""))) for t in params.get("Tags") or ()
        )
        duration = params.get("DurationSeconds")
        return cls(
            role_arn=str(params.get("RoleArn") or ""),
            role_session_name=str(params.get("RoleSessionName") or ""),
            duration_seconds=int(duration) if duration is not None else None,
            external_id=params.get("ExternalId"),
            policy=params.get("Policy"),
            policy_arns=arns,
            tags=tags,
            transitive_tag_keys=tuple(params.get("TransitiveTagKeys") or ()),
            serial_number=params.get("SerialNumber"),
            token_code=params.get("TokenCode"),
            source_identity=params.get("SourceIdentity"),
        )


def _length(problems: list[str], value: str | None, name: str, lo: int, hi: int) -> None:
    if value is None:
        return
    if len(value) < lo:
        problems.append(
            f"Value '{value}' at '{name}' failed to satisfy constraint: "
            f"Member must have length greater than or equal to {lo}"
        )
    elif len(value) > hi:
        problems.append(
            f"Value '{value}' at '{name}' failed to satisfy constraint: "
            f"Member must have length less than or equal to {hi}"
        )


def _pattern(
    problems: list[str], value: str | None, name: str, regex: re.Pattern[str], shown: str
) -> None:
    if value is not None and not regex.fullmatch(value):
        problems.append(
            f"Value '{value}' at '{name}' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {shown}"
        )


def validate_params(p: AssumeRoleParams) -> None:
    """Raise ``ValidationError`` listing every violated constraint, in the AWS wording."""
    problems: list[str] = []
    _length(problems, p.role_arn, "roleArn", 20, 2048)
    _length(problems, p.role_session_name, "roleSessionName", 2, 64)
    _pattern(problems, p.role_session_name, "roleSessionName", _SESSION_NAME, r"[\w+=,.@-]*")
    if p.duration_seconds is not None and not 900 <= p.duration_seconds <= 43200:
        bound = (
            "greater than or equal to 900"
            if p.duration_seconds < 900
            else ("less than or equal to 43200")
        )
        problems.append(
            f"Value '{p.duration_seconds}' at 'durationSeconds' failed to satisfy constraint: "
            f"Member must have value {bound}"
        )
    _length(problems, p.external_id, "externalId", 2, 1224)
    _pattern(problems, p.external_id, "externalId", _EXTERNAL_ID, r"[\w+=,.@:\/-]*")
    _length(problems, p.serial_number, "serialNumber", 9, 256)
    _pattern(problems, p.serial_number, "serialNumber", _SERIAL, r"[\w+=/:,.@-]*")
    _length(problems, p.token_code, "tokenCode", 6, 6)
    _pattern(problems, p.token_code, "tokenCode", _TOKEN_CODE, r"[\d]*")
    _length(problems, p.source_identity, "sourceIdentity", 2, 64)
    _pattern(problems, p.source_identity, "sourceIdentity", _SESSION_NAME, r"[\w+=,.@-]*")
    if p.policy is not None:
        _length(problems, p.policy, "policy", 1, 2048 * 5)
        _pattern(problems, p.policy, "policy", _POLICY_CHARS, r"[\u0009\u000A\u000D\u0020-\u00FF]+")
    if len(p.policy_arns) > 10:
        problems.append(
            "Value at 'policyArns' failed to satisfy constraint: "
            "Member must have length less than or equal to 10"
        )
    for i, arn in enumerate(p.policy_arns, start=1):
        _length(problems, arn, f"policyArns.{i}.member.arn", 20, 2048)
    _tag_problems(problems, p)
    if problems:
        count = len(problems)
        noun = "error" if count == 1 else "errors"
        raise ValidationError(f"{count} validation {noun} detected: " + "; ".join(problems))
    role = _ROLE_ARN.fullmatch(p.role_arn)
    if role is None:
        raise ValidationError(f"{p.role_arn} is invalid")
    if p.source_identity is not None and _reserved(p.source_identity):
        raise ValidationError(
            "SourceIdentity cannot begin with the text aws:. This prefix is reserved for AWS "
            "internal use."
        )
    for key, _ in p.tags:
        if _reserved(key):
            raise ValidationError(
                f"Tag key {key} cannot begin with the text aws:. This prefix is reserved for "
                "AWS internal use."
            )
    _check_policy_arns(p.policy_arns, role.group(1))
    if (p.serial_number is None) != (p.token_code is None):
        raise ValidationError(MFA_PAIR_REQUIRED)


def _reserved(value: str) -> bool:
    """``aws:`` in any case: AWS reserves the prefix for its own tags and identities."""
    return value[: len(_RESERVED_PREFIX)].lower() == _RESERVED_PREFIX


def _tag_chars_ok(value: str) -> bool:
    """AWS's tag character set ``[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]``: Unicode letters,
    separators (spaces) and numbers, and ``_.:/=+-@`` — no control characters (Python's
    ``\\s`` would let tab, newline and the other C0 separators through)."""
    return all(unicodedata.category(ch)[0] in "LZN" or ch in _TAG_PUNCTUATION for ch in value)


def _tag_pattern(problems: list[str], value: str, name: str, shown: str) -> None:
    if not _tag_chars_ok(value):
        problems.append(
            f"Value '{value}' at '{name}' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {shown}"
        )


def _tag_problems(problems: list[str], p: AssumeRoleParams) -> None:
    if len(p.tags) > 50:
        problems.append(
            "Value at 'tags' failed to satisfy constraint: Member must have length less than "
            "or equal to 50"
        )
    for i, (key, value) in enumerate(p.tags, start=1):
        _length(problems, key, f"tags.{i}.member.key", 1, 128)
        _tag_pattern(problems, key, f"tags.{i}.member.key", r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+")
        _length(problems, value, f"tags.{i}.member.value", 0, 256)
        _tag_pattern(problems, value, f"tags.{i}.member.value", r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*")
    if len(p.transitive_tag_keys) > 50:
        problems.append(
            "Value at 'transitiveTagKeys' failed to satisfy constraint: Member must have length "
            "less than or equal to 50"
        )
    for i, key in enumerate(p.transitive_tag_keys, start=1):
        _length(problems, key, f"transitiveTagKeys.{i}.member", 1, 128)
        _tag_pattern(problems, key, f"transitiveTagKeys.{i}.member", r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+")


def _check_policy_arns(arns: Sequence[str], role_account: str) -> None:
    """Managed session policies must be in the role's account or AWS managed
    (``arn:aws:iam::aws:policy/...``); anything else is refused before any look-up, so the
    answer does not depend on what exists."""
    for arn in arns:
        match = _POLICY_ARN.fullmatch(arn)
        if match is None or match.group(2) not in (role_account, "aws"):
            raise ValidationError(
                f"Policy {arn} is not a managed policy of the role's account {role_account} "
                "or an AWS managed policy: managed session policies must exist in the same "
                "account as the role."
            )


def role_arn_parts(role_arn: str) -> tuple[str, str]:
    """(account, role name) of a role ARN; the path is not part of the session ARN."""
    match = _ROLE_ARN.fullmatch(role_arn)
    if match is None:
        raise ValidationError(f"{role_arn} is invalid")
    return match.group(1), match.group(2)


@dataclass(frozen=True)
class TtlPolicy:
    """Server TTL configuration. Precedence (each rule can only shorten, and says so):
    request DurationSeconds (default ``default_seconds``) → role MaxSessionDuration (a larger
    request is a ValidationError, as in AWS) → 1 h when chaining (ValidationError likewise) →
    server ``maximum_seconds`` (capped, reported) → server ``minimum_seconds`` (raised,
    reported)."""

    default_seconds: int = 3600
    minimum_seconds: int = 900
    maximum_seconds: int = 43200
    chaining_limit_seconds: int = 3600


@dataclass(frozen=True)
class Duration:
    seconds: int
    capped_by: str  # "request", "default", "server-maximum", "server-minimum"


def session_duration(
    requested: int | None, role_max: int, chaining: bool, ttl: TtlPolicy
) -> Duration:
    if requested is not None and requested > role_max:
        raise ValidationError(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
        )
    if chaining and requested is not None and requested > ttl.chaining_limit_seconds:
        raise ValidationError(
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed "
            "by role chaining."
        )
    seconds, rule = (
        (requested, "request")
        if requested is not None
        else (
            min(ttl.default_seconds, role_max),
            "default",
        )
    )
    if chaining and seconds > ttl.chaining_limit_seconds:
        seconds, rule = ttl.chaining_limit_seconds, "role-chaining"
    if seconds > ttl.maximum_seconds:
        seconds, rule = ttl.maximum_seconds, "server-maximum"
    if seconds < ttl.minimum_seconds:
        seconds, rule = ttl.minimum_seconds, "server-minimum"
    return Duration(seconds, rule)


@dataclass(frozen=True)
class SessionTags:
    tags: dict[str, str] = field(default_factory=dict)  # key (original case) -> value
    transitive_keys: tuple[str, ...] = ()


def session_tags(
    requested: Sequence[tuple[str, str]],
    transitive_keys: Sequence[str],
    inherited: Mapping[str, str],
) -> SessionTags:
    """Merge the caller's inherited transitive tags with the requested ones (spec §6.6).

    Keys are case-insensitive; a requested key may not repeat another requested key nor an
    inherited transitive key; every transitive key must name a requested tag."""
    seen: dict[str, str] = {}
    for key, _ in requested:
        if key.lower() in seen:
            raise ValidationError(
                f"Duplicate tag keys found: {key}. Tag keys are case insensitive."
            )
        seen[key.lower()] = key
    for key in inherited:
        if key.lower() in seen:
            raise ValidationError(
                f"Tag key {key} is a transitive session tag of the calling session and cannot be "
                "overridden."
            )
    for key in transitive_keys:
        if key.lower() not in seen:
            raise ValidationError(f"Transitive tag key {key} is not a session tag of this request.")
    tags = dict(inherited)
    tags.update(dict(requested))
    keys = {k.lower(): k for k in inherited} | {k.lower(): k for k in transitive_keys}
    return SessionTags(tags=tags, transitive_keys=tuple(sorted(keys.values())))


def principal_tags(role_tags: Mapping[str, str], session: Mapping[str, str]) -> dict[str, str]:
    """aws:PrincipalTag/* for a session: session tags override role tags, case-insensitively."""
    merged = {k.lower(): v for k, v in role_tags.items()}
    merged.update({k.lower(): v for k, v in session.items()})
    return merged


def source_identity(requested: str | None, inherited: str | None) -> str | None:
    """Sticky along a chain: once set it cannot change (spec §6.1)."""
    if inherited is not None and requested is not None and requested != inherited:
        raise ValidationError(
            "SourceIdentity cannot be changed once set on a role session: the calling session "
            f"has source identity {inherited}."
        )
    return inherited if inherited is not None else requested


def packed_policy_size(policy: str | None, arns: Sequence[str], tags: Mapping[str, str]) -> int:
    """PackedPolicySize as an integer percentage; ``PackedPolicyTooLarge`` over 100 %."""
    plaintext = _minified(policy) if policy else ""
    if len(plaintext) > SESSION_POLICY_PLAINTEXT_LIMIT:
        raise PackedPolicyTooLarge(
            "Packed policy consumes more than 100% of the allotted space: the session policy "
            f"has {len(plaintext)} characters, the limit is {SESSION_POLICY_PLAINTEXT_LIMIT}."
        )
    blob = "\n".join([plaintext, *arns, *(f"{k}={v}" for k, v in sorted(tags.items()))])
    size = len(zlib.compress(blob.encode(), 9))
    percent = -(-100 * size // PACKED_BUDGET_BYTES)
    if percent > 100:
        raise PackedPolicyTooLarge(
            f"Packed policy consumes {percent}% of allotted space, please use smaller policy."
        )
    return percent


def _minified(policy: str) -> str:
    try:
        return json.dumps(json.loads(policy), separators=(",", ":"))
    except ValueError:
        return policy
