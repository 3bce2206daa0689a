"""AWS Query protocol parameters → request dictionaries → protobuf requests.

Owns the decoding of flat form parameters (``ActionNames.member.2``,
``ContextEntries.member.1.ContextKeyValues.member.1``, ``Tags.member.1.Key``) into the nested
PascalCase dictionary of the AWS API, and its conversion into the servicers' protobuf request
(field names snake_cased; unknown parameters ignored, as AWS does). Every dimension an
attacker controls is bounded: parameter count, name length, nesting depth, list index.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.json_format import ParseDict, ParseError
from google.protobuf.message import Message

from authz.errors import ValidationError

M = TypeVar("M", bound=Message)

MAX_PARAMETERS = 2000
MAX_NAME_CHARS = 256
MAX_DEPTH = 8
MAX_INDEX = 1000
_SEGMENT = re.compile(r"[A-Za-z][A-Za-z0-9]{0,127}|[0-9]{1,4}")
_SNAKE = re.compile(r"(?<!^)(?=[A-Z])")
# parameters of the protocol itself, never part of an action's request
_PROTOCOL = frozenset({"Action", "Version"})


def form_pairs(text: str) -> list[tuple[str, str]]:
    """``application/x-www-form-urlencoded`` pairs (``+`` is a space), at most
    ``MAX_PARAMETERS`` of them."""
    try:
        return parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_PARAMETERS)
    except ValueError as err:
        raise ValidationError(f"the request has more than {MAX_PARAMETERS} parameters") from err


def decode_params(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """The nested request: ``X.member.N`` → list ``X`` (by index), ``A.B`` → ``{A: {B: …}}``.
    ``ValidationError`` naming the parameter when one breaks a bound or the shape."""
    root: dict[str | int, Any] = {}
    for count, (name, value) in enumerate(pairs, 1):
        if count > MAX_PARAMETERS:
            raise ValidationError(f"the request has more than {MAX_PARAMETERS} parameters")
        if name.startswith("X-Amz-") or name in _PROTOCOL:
            continue
        parts = name.split(".")
        if len(name) > MAX_NAME_CHARS or len(parts) > MAX_DEPTH:
            raise ValidationError(
                f"parameter `{name[:64]}` is longer than {MAX_NAME_CHARS} characters or "
                f"{MAX_DEPTH} levels"
            )
        if not all(_SEGMENT.fullmatch(p) for p in parts) or parts[0].isdigit():
            raise ValidationError(f"parameter `{name[:64]}` is not a Query protocol name")
        _put(root, parts, value, name)
    decoded: dict[str, Any] = _lists(root)
    return decoded


def _put(node: dict[str | int, Any], parts: list[str], value: str, name: str) -> None:
    for part in parts[:-1]:
        key: str | int = int(part) if part.isdigit() else part
        if isinstance(key, int) and not 1 <= key <= MAX_INDEX:
            raise ValidationError(f"parameter `{name[:64]}`: list index must be 1 to {MAX_INDEX}")
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ValidationError(f"parameter `{name[:64]}` conflicts with another parameter")
        node = child
    last: str | int = int(parts[-1]) if parts[-1].isdigit() else parts[-1]
    if isinstance(last, int) and not 1 <= last <= MAX_INDEX:
        raise ValidationError(f"parameter `{name[:64]}`: list index must be 1 to {MAX_INDEX}")
    if last in node:
        raise ValidationError(f"parameter `{name[:64]}` is given twice or conflicts")
    node[last] = value


def _lists(node: Any) -> Any:
    """``{"member": {1: a, 2: b}}`` → ``[a, b]`` (ordered by index), recursively."""
    if not isinstance(node, dict):
        return node
    if set(node) == {"member"} and isinstance(node["member"], dict):
        members = node["member"]
        if all(isinstance(k, int) for k in members):
            return [_lists(members[k]) for k in sorted(members)]
    if any(isinstance(k, int) for k in node):
        raise ValidationError("a list index must follow `member`")
    return {k: _lists(v) for k, v in node.items()}


@functools.lru_cache(maxsize=1024)  # parameter names: a bounded set per action, in practice
def _snake(name: str) -> str:
    return _SNAKE.sub("_", name).lower()


def _snake_keys(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {_snake(k): _snake_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_snake_keys(v) for v in value]
    return value


_STRING = FieldDescriptor.TYPE_STRING
_INT32 = FieldDescriptor.TYPE_INT32


def _set_flat(request: Mapping[str, Any], message: Message) -> bool:
    """Fill ``message`` when every parameter is a plain value for a known singular string or
    int32 field (``AssumeRole``'s usual shape), giving what ``ParseDict`` would; ``False``,
    having set nothing, when any is not (``ParseDict`` then decides, and words the errors)."""
    fields = message.DESCRIPTOR.fields_by_name
    plan: dict[str, str | int] = {}
    for key, value in request.items():
        field = fields.get(_snake(key))
        if field is None or field.is_repeated or not isinstance(value, str):
            return False
        if field.name in plan:  # two spellings of one field: ParseDict's error
            return False
        if field.type == _STRING:
            plan[field.name] = value
        elif field.type == _INT32 and value.isascii() and value.isdigit() and len(value) < 10:
            plan[field.name] = int(value)  # < 10 digits: always in range
        else:
            return False
    for name, parsed in plan.items():
        setattr(message, name, parsed)
    return True


def to_message(request: Mapping[str, Any], message: M) -> M:
    """Fill ``message`` from the AWS request dictionary; a value of the wrong type is a
    ``ValidationError`` (AWS's wording names the parameter)."""
    if _set_flat(request, message):
        return message
    try:
        ParseDict(_snake_keys(request), message, ignore_unknown_fields=True)
    except ParseError as err:
        raise ValidationError(f"1 validation error detected: {err}") from None
    return message
