"""AWS Query protocol XML: result documents and error documents.

Owns the rendering of a result dictionary (PascalCase, as ``to_aws`` gives it) into
``<{Action}Response xmlns=…><{Action}Result>…</{Action}Result><ResponseMetadata>
<RequestId>…</RequestId></ResponseMetadata></{Action}Response>``: lists become ``<member>``
elements, map fields ``<entry><key/><value/></entry>``, booleans ``true``/``false``; and of
``<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>``.
Text is escaped by ``xml.sax.saxutils``; nothing here parses XML.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import escape

# Result fields whose keys are data (action names), rendered as AWS maps.
MAP_FIELDS = frozenset({"EvalDecisionDetails"})


def _value(name: str, value: Any, out: list[str]) -> None:
    kind = type(value)
    if kind is str:  # most fields: checked first
        out.append(f"<{name}>{escape(value)}</{name}>")
    elif kind is bool:
        out.append(f"<{name}>{'true' if value else 'false'}</{name}>")
    elif isinstance(value, Mapping):
        out.append(f"<{name}>")
        if name in MAP_FIELDS:
            for key, item in value.items():
                out.append(f"<entry><key>{escape(str(key))}</key>")
                _value("value", item, out)
                out.append("</entry>")
        else:
            for key, item in value.items():
                _value(key, item, out)
        out.append(f"</{name}>")
    elif isinstance(value, list):
        out.append(f"<{name}>")
        for item in value:
            _value("member", item, out)
        out.append(f"</{name}>")
    elif isinstance(value, bool):
        out.append(f"<{name}>{'true' if value else 'false'}</{name}>")
    elif value is not None:
        out.append(f"<{name}>{escape(str(value))}</{name}>")


def result_document(action: str, namespace: str, result: Mapping[str, Any], rid: str) -> bytes:
    out = [f'<{action}Response xmlns="{namespace}">', f"<{action}Result>"]
    for key, value in result.items():
        _value(key, value, out)
    out.append(f"</{action}Result>")
    out.append(f"<ResponseMetadata><RequestId>{escape(rid)}</RequestId></ResponseMetadata>")
    out.append(f"</{action}Response>")
    return "".join(out).encode("utf-8")


def error_document(namespace: str, code: str, message: str, rid: str, *, sender: bool) -> bytes:
    return (
        f'<ErrorResponse xmlns="{namespace}"><Error>'
        f"<Type>{'Sender' if sender else 'Receiver'}</Type>"
        f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
        f"</Error><RequestId>{escape(rid)}</RequestId></ErrorResponse>"
    ).encode()
