"""AWS CLI parameter syntax for the ``authz`` commands that mirror an AWS command.

Owns three spellings the AWS CLI accepts:

* documents (``--policy-document``, ``--policy-input-list``, ``--policy``): inline JSON text,
  ``file://PATH``, ``-`` (stdin), or (our older habit) a bare file path;
* shorthand structures: ``ContextKeyName=k,ContextKeyValues=v1,v2,ContextKeyType=string`` and
  ``Key=k,Value=v`` (a list value runs until the next ``Name=``), or the same as JSON;
* ``--cli-input-json`` merged under the individual flags (a flag given wins, as in the AWS CLI).

User input is echoed exactly in error messages. Must not import grpc.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from authz.errors import ValidationError

MAX_INPUT_BYTES = 8 * 1024 * 1024  # a document or request file larger than this is refused


def read_text(source: str, what: str) -> str:
    """Text of ``file://PATH``, a bare path, or ``-`` (stdin), at most ``MAX_INPUT_BYTES``."""
    if source == "-":
        text = sys.stdin.read(MAX_INPUT_BYTES + 1)
    else:
        path = Path(source.removeprefix("file://"))
        try:
            with path.open(encoding="utf-8") as handle:
                text = handle.read(MAX_INPUT_BYTES + 1)
        except (OSError, UnicodeDecodeError) as err:
            why = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
            raise ValidationError(f"cannot read {what} `{source}`: {why}") from err
    if len(text) > MAX_INPUT_BYTES:
        raise ValidationError(f"{what} `{source}` is larger than {MAX_INPUT_BYTES} bytes")
    return text


def document_text(value: str, what: str) -> str:
    """A document given inline (JSON text) or by reference (``file://``, path, ``-``)."""
    if value.lstrip().startswith(("{", "[")):
        return value
    return read_text(value, what)


def json_value(value: str, what: str) -> Any:
    text = document_text(value, what)
    try:
        return json.loads(text)
    except ValueError as err:
        raise ValidationError(f"{what} `{value}` is not valid JSON: {err}") from err


def shorthand(value: str, what: str, keys: Sequence[str], list_keys: Iterable[str] = ()) -> Any:
    """One structure in shorthand (``K=v,L=a,b``) or JSON. Keys outside ``keys`` are refused;
    values of ``list_keys`` are lists (commas continue the list until the next ``Key=``)."""
    if value.lstrip().startswith(("{", "[")):
        return json_value(value, what)
    lists = set(list_keys)
    out: dict[str, Any] = {}
    current: str | None = None
    for token in _tokens(value):
        name, eq, rest = token.partition("=")
        rest = _unquote(rest)
        if eq and name in keys:
            if name in out:
                raise ValidationError(f"{what} `{value}`: `{name}` is given twice")
            current = name
            out[name] = [rest] if name in lists else rest
        elif current in lists:
            out[current].append(_unquote(token))
        else:
            expected = ", ".join(f"{k}=…" for k in keys)
            raise ValidationError(f"{what} `{value}`: expected {expected}")
    return out


def _tokens(value: str) -> list[str]:
    """Split shorthand on commas outside single or double quotes (the AWS CLI's rule, so
    ``ContextKeyValues='a,b'`` is one value)."""
    tokens: list[str] = []
    current: list[str] = []
    quote = ""
    for ch in value:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == ",":
            tokens.append("".join(current))
            current = []
            continue
        current.append(ch)
    tokens.append("".join(current))
    return tokens


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def context_entries(values: Sequence[str]) -> list[Any]:
    """``--context-entries`` items: shorthand or JSON (a list of entries or one entry)."""
    out: list[Any] = []
    for value in values:
        entry = shorthand(
            value,
            "--context-entries",
            ("ContextKeyName", "ContextKeyValues", "ContextKeyType"),
            ("ContextKeyValues",),
        )
        out.extend(entry if isinstance(entry, list) else [entry])
    return out


def tags(values: Sequence[str]) -> dict[str, str]:
    """``--tags`` items: ``Key=k,Value=v`` shorthand, JSON, or the older ``k=v``."""
    out: dict[str, str] = {}
    for value in values:
        if value.startswith(("Key=", "{", "[")):
            found = shorthand(value, "--tags", ("Key", "Value"))
            items = found if isinstance(found, list) else [found]
        else:
            key, eq, val = value.partition("=")
            if not eq:
                raise ValidationError(f"--tags `{value}`: expected Key=…,Value=…")
            items = [{"Key": key, "Value": val}]
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("Key"), str):
                raise ValidationError(f"--tags `{value}`: expected Key=…,Value=…")
            out[item["Key"]] = str(item.get("Value", ""))
    return out


def request(cli_input_json: str | None, flags: dict[str, Any]) -> dict[str, Any]:
    """``--cli-input-json`` (if any) with the individual flags that were given laid over it."""
    base: Any = {}
    if cli_input_json is not None:
        base = json_value(cli_input_json, "--cli-input-json")
        if not isinstance(base, dict):
            raise ValidationError("--cli-input-json must hold a JSON object")
    return {**base, **{k: v for k, v in flags.items() if v is not None}}
