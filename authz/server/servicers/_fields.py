"""Wire-field checks shared by the servicers, raising AWS-style ``ValidationError``.

Owns only presence and shape checks of request fields (required, non-empty, count limits) and
timestamp conversion; semantic rules (durations, ARNs, session names) belong to the backend.
"""

from __future__ import annotations

from collections.abc import Sized
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from authz.errors import ValidationError


def required(value: str, name: str) -> str:
    """``value`` when non-empty; else the AWS "must not be null" validation error."""
    if not value:
        raise ValidationError(
            f"1 validation error detected: Value null at '{name}' failed to satisfy "
            "constraint: Member must not be null"
        )
    return value


def required_list(values: Sized, name: str) -> None:
    if len(values) == 0:
        raise ValidationError(
            f"1 validation error detected: Value at '{name}' failed to satisfy constraint: "
            "Member must have length greater than or equal to 1"
        )


def at_most(values: Sized, limit: int, name: str) -> None:
    if len(values) > limit:
        raise ValidationError(
            f"1 validation error detected: Value at '{name}' failed to satisfy constraint: "
            f"Member must have length less than or equal to {limit}"
        )


def optional(value: str) -> str | None:
    """Proto3 strings are never null: empty means absent."""
    return value or None


def timestamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(value if value.tzinfo else value.replace(tzinfo=UTC))
    return ts
