"""Size limits checked at the door: what one request may carry before any work is done.

Owns ``RequestLimits`` (the configurable ones come from ``authz.config.Settings``) and the
checks the gRPC servicers run on every request: ARN / resource at most 2,048 characters and
action names at most 128 (the AWS API constraints), context keys (count, name length, values
per key, value length, total size), policy documents handed in by callers (131,072 characters
each, the IAM ``policyDocumentType``; how many per list), simulation lists
(``ActionNames`` × ``ResourceArns``) and pagination parameters (``MaxItems`` 1-1000,
``Marker`` 1-320). Each refusal is a ``ValidationError`` in the AWS wording that names the
field and the limit:

    1 validation error detected: Value at 'resource' failed to satisfy constraint:
    Member must have length less than or equal to 2048

Imports neither grpc nor cedarpy: the servicers convert messages to plain values first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Sized
from dataclasses import dataclass
from typing import Any

from authz.errors import ValidationError
from authz.iam.quotas import MAX_DOCUMENT_PARAMETER

MAX_ARN_CHARS = 2048  # AWS ResourceNameType / arnType
MAX_ACTION_CHARS = 128  # AWS ActionNameType
MAX_CONTEXT_KEY_CHARS = 256  # AWS ContextKeyNameType
MIN_ACTION_CHARS = 3  # AWS ActionNameType (Simulate*Policy)
MIN_CONTEXT_KEY_CHARS = 5  # AWS ContextKeyNameType (Simulate*Policy)
MAX_POLICY_DOCUMENT_CHARS = MAX_DOCUMENT_PARAMETER  # AWS policyDocumentType: 131,072
MAX_MARKER_CHARS = 320  # AWS markerType
MAX_ITEMS_LIMIT = 1000  # AWS maxItemsType: 1-1000
DEFAULT_MAX_ITEMS = 100  # AWS: "If you do not include this parameter, ... defaults to 100"


@dataclass(frozen=True)
class RequestLimits:
    """The configurable limits (``Settings`` of the same names); the AWS constants above are
    fixed. See docs/operations.md, "Limits"."""

    max_context_keys: int = 64
    max_context_values: int = 64  # values of one key
    max_context_value_chars: int = 4096
    max_context_bytes: int = 65536  # all keys and values of one request
    max_simulation_actions: int = 1000
    max_simulation_resources: int = 1000
    max_simulation_policies: int = 10  # documents per policy list of one simulation
    max_request_seconds: float = 2.0  # server-side deadline of every call (0: none)


def too_long(name: str, limit: int) -> ValidationError:
    return ValidationError(
        f"1 validation error detected: Value at '{name}' failed to satisfy constraint: "
        f"Member must have length less than or equal to {limit}"
    )


def too_short(name: str, limit: int) -> ValidationError:
    return ValidationError(
        f"1 validation error detected: Value at '{name}' failed to satisfy constraint: "
        f"Member must have length greater than or equal to {limit}"
    )


def check_length(value: str, limit: int, name: str, minimum: int = 0) -> str:
    """``value`` when it has ``minimum`` to ``limit`` characters; else the AWS length error."""
    if len(value) > limit:
        raise too_long(name, limit)
    if len(value) < minimum:
        raise too_short(name, minimum)
    return value


def check_count(values: Sized, limit: int, name: str) -> None:
    if len(values) > limit:
        raise ValidationError(
            f"1 validation error detected: Value at '{name}' failed to satisfy constraint: "
            f"Member must have length less than or equal to {limit} (members)"
        )


def check_arn(value: str, name: str) -> str:
    return check_length(value, MAX_ARN_CHARS, name)


def check_action(value: str, name: str) -> str:
    return check_length(value, MAX_ACTION_CHARS, name)


def check_context(
    entries: Iterable[tuple[str, Sequence[str]]],
    limits: RequestLimits,
    prefix: str = "context",
    min_key_chars: int = 0,
) -> None:
    """Context entries as (key, values): count, key length (``min_key_chars`` up), values per
    key, value length and the total characters of keys and values."""
    total = 0
    for i, (key, values) in enumerate(entries, 1):
        if i > limits.max_context_keys:
            raise ValidationError(
                f"1 validation error detected: Value at '{prefix}' failed to satisfy "
                f"constraint: Member must have length less than or equal to "
                f"{limits.max_context_keys} (context keys)"
            )
        where = f"{prefix}.{i}"
        check_length(key, MAX_CONTEXT_KEY_CHARS, f"{where}.key", min_key_chars)
        if len(values) > limits.max_context_values:
            raise ValidationError(
                f"1 validation error detected: Value at '{where}.values' failed to satisfy "
                f"constraint: Member must have length less than or equal to "
                f"{limits.max_context_values} (values)"
            )
        total += len(key)
        for value in values:
            if len(value) > limits.max_context_value_chars:
                raise too_long(f"{where}.values", limits.max_context_value_chars)
            total += len(value)
        if total > limits.max_context_bytes:
            raise ValidationError(
                f"1 validation error detected: Value at '{prefix}' failed to satisfy "
                "constraint: keys and values must have total length less than or equal to "
                f"{limits.max_context_bytes}"
            )


# SimulateCustomPolicy / SimulatePrincipalPolicy, on the AWS-shaped request dictionary.
_POLICY_LISTS = (
    "PolicyInputList",
    "PermissionsBoundaryPolicyInputList",
    "SessionPolicyInputList",
)
_ARN_FIELDS = ("PolicySourceArn", "CallerArn", "ResourceOwner")


def check_simulation(request: Mapping[str, Any], limits: RequestLimits) -> None:
    """Every size limit of a Simulate*Policy request (AWS field names in the messages, in
    the camelCase the AWS API reports: ``actionNames.3``)."""
    actions = _list(request, "ActionNames")
    check_count(actions, limits.max_simulation_actions, "actionNames")
    for i, action in enumerate(actions, 1):
        check_length(str(action), MAX_ACTION_CHARS, f"actionNames.{i}", MIN_ACTION_CHARS)
    resources = _list(request, "ResourceArns")
    check_count(resources, limits.max_simulation_resources, "resourceArns")
    for i, resource in enumerate(resources, 1):
        check_arn(str(resource), f"resourceArns.{i}")
    for field in _ARN_FIELDS:
        value = request.get(field)
        if isinstance(value, str):
            check_arn(value, _camel(field))
    for field in _POLICY_LISTS:
        documents = _list(request, field)
        check_count(documents, limits.max_simulation_policies, _camel(field))
        for i, text in enumerate(documents, 1):
            check_length(str(text), MAX_POLICY_DOCUMENT_CHARS, f"{_camel(field)}.{i}")
    for field in ("ServiceControlPolicyLevels", "ResourceControlPolicyLevels"):
        levels = _list(request, field)
        check_count(levels, limits.max_simulation_policies, _camel(field))
        for n, level in enumerate(levels, 1):
            documents = level.get("PolicyInputList", []) if isinstance(level, Mapping) else level
            where = f"{_camel(field)}.{n}.policyInputList"
            check_count(documents, limits.max_simulation_policies, where)
            for i, text in enumerate(documents, 1):
                check_length(str(text), MAX_POLICY_DOCUMENT_CHARS, f"{where}.{i}")
    policy = request.get("ResourcePolicy")
    if isinstance(policy, str):
        check_length(policy, MAX_POLICY_DOCUMENT_CHARS, "resourcePolicy")
    check_context(_simulation_context(request), limits, "contextEntries", MIN_CONTEXT_KEY_CHARS)
    check_page(request.get("MaxItems"), request.get("Marker"))


def check_page(max_items: object, marker: object) -> None:
    """``MaxItems`` in 1-1000 and ``Marker`` of 1-320 characters, when given."""
    if max_items is not None and (
        not isinstance(max_items, int) or not 1 <= max_items <= MAX_ITEMS_LIMIT
    ):
        raise ValidationError(
            f"1 validation error detected: Value '{max_items}' at 'maxItems' failed to "
            f"satisfy constraint: Member must have value between 1 and {MAX_ITEMS_LIMIT}"
        )
    if isinstance(marker, str):
        check_length(marker, MAX_MARKER_CHARS, "marker")


def _simulation_context(request: Mapping[str, Any]) -> Iterable[tuple[str, Sequence[str]]]:
    for entry in _list(request, "ContextEntries"):
        if isinstance(entry, Mapping):
            values = entry.get("ContextKeyValues") or []
            yield str(entry.get("ContextKeyName", "")), [str(v) for v in values]


def _list(request: Mapping[str, Any], field: str) -> Sequence[Any]:
    value = request.get(field)
    return value if isinstance(value, list | tuple) else ()


def _camel(field: str) -> str:
    return field[:1].lower() + field[1:]
