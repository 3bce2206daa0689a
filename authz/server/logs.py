"""Structured logging for the server: one JSON object per line, with the request id.

Owns the JSON formatter and ``configure_logging``. Callers never log secrets or tokens; as a
second line of defence the formatter masks anything shaped like a bearer token, a JWS/JWT, or
an AWS secret-key field before the line is written.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from authz.server import callctx

_MASKS = (
    (re.compile(r"(?i)(bearer\s+)\S+"), r"\1[redacted]"),
    (re.compile(r"eyJ[\w-]*\.[\w-]+\.[\w-]*"), "[redacted-token]"),
    (
        re.compile(
            r"(?i)((?:secret[_-]?access[_-]?key|session[_-]?token)[\"']?\s*[:=]\s*[\"']?)"
            r"[^\s\"',}]+"
        ),
        r"\1[redacted]",
    ),
)

# LogRecord attributes that are not user-supplied ``extra`` fields.
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys() | {"message", "asctime"}
)


def redact(text: str) -> str:
    """Mask token- and secret-shaped substrings."""
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", "request_id", ...extra}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None) or callctx.request_id()
        if rid:
            entry["request_id"] = rid
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, default=str, separators=(",", ":")))


def configure_logging(level: int | str = logging.INFO, stream: TextIO | None = None) -> None:
    """Send the ``authz`` loggers to ``stream`` (stderr) as JSON lines."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("authz")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
