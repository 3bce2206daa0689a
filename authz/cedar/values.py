"""How each condition-operator family reads a value (spec §4.4): numbers, dates, IP addresses,
booleans, base64 binaries and ARNs, parsed the same way for policy literals, for the typed request
context and for the Python oracle. A value that does not parse yields None: it never matches.

Dates are exact ``Decimal`` seconds since 1970-01-01T00:00:00Z, whatever their size: an epoch of
any number of digits (but four: that is a year) is a valid instant, as the reference evaluator and
the validator (which accepts epochs up to 2^63 - 1) have it; the year 0000 is not a date. Cedar's
``datetime`` holds 0001-01-01 to 9999-12-31 in milliseconds, so a *policy* date outside that window
or with finer precision is left to the oracle (``cedar_datetime`` → None), and a *request* date is
clamped into it (``cedar_request_datetime``): every policy date Cedar sees lies strictly inside,
so a clamped value compares exactly as the real one would.

Owns value parsing and the canonical text Cedar's extension constructors accept (``decimal`` with
at most four fractional digits, ``datetime`` as ``YYYY-MM-DDThh:mm:ss.SSSZ``, ``ip`` without
IPv4-mapped IPv6). Must not import cedarpy.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import ipaddress
import re
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal, InvalidOperation

from authz.iam.glob import split_arn

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_DECIMAL_LIMIT = Decimal("922337203685477.5807")
_FOUR = Decimal("0.0001")
_DATE = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?"
    r"(Z|[+-]\d{2}:?\d{2})?)?)?)?$"
)
_EPOCH = re.compile(r"^\d+$")
_UNIX = datetime(1970, 1, 1, tzinfo=UTC)
_CEDAR_FIRST_MS = -62135596800000  # 0001-01-01T00:00:00.000Z
_CEDAR_LAST_MS = 253402300799999  # 9999-12-31T23:59:59.999Z
_MS = Decimal(1000)

Number = Decimal
IpNet = ipaddress.IPv4Network | ipaddress.IPv6Network
ArnParts = tuple[str, str, str, str, str, str]


def parse_number(text: str) -> Decimal | None:
    if not _NUMBER.match(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def cedar_decimal(value: Decimal) -> str | None:
    """The ``decimal(...)`` argument, or None when Cedar cannot represent the value exactly."""
    if abs(value) > _DECIMAL_LIMIT or value.quantize(_FOUR) != value:
        return None
    return f"{value.quantize(_FOUR):f}"


def parse_date(text: str) -> Decimal | None:
    """W3C ISO-8601 profiles (``YYYY`` … ``YYYY-MM-DDThh:mm:ss.sTZD``) or epoch seconds, as
    exact seconds since the epoch."""
    text = text.strip()
    if _EPOCH.match(text) and len(text) != 4:
        return Decimal(text)
    match = _DATE.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, frac, zone = match.groups()
    try:
        fields = (int(year), int(month or 1), int(day or 1))
        clock = (int(hour or 0), int(minute or 0), int(second or 0))
        datetime(*fields, *clock)  # checks month, day of month, hour, minute, second
        offset = _offset(zone)
    except ValueError:
        return None
    seconds = Decimal(calendar.timegm((*fields, *clock, 0, 0, 0)))
    return seconds + (Decimal(frac) if frac else 0) - offset


def _offset(text: str | None) -> int:
    """A time zone designator as seconds east of UTC; ValueError from a day on."""
    if not text or text == "Z":
        return 0
    digits = text[1:].replace(":", "")
    seconds = int(digits[:2]) * 3600 + int(digits[2:]) * 60
    if seconds >= 86400:
        raise ValueError(text)
    return -seconds if text[0] == "-" else seconds


def cedar_datetime(seconds: Decimal) -> str | None:
    """A policy date as Cedar ``datetime`` text; None when Cedar cannot hold it exactly
    (sub-millisecond, or not strictly inside Cedar's window: see the module docstring)."""
    ms = seconds * _MS
    if ms != ms.to_integral_value() or not _CEDAR_FIRST_MS < ms < _CEDAR_LAST_MS:
        return None
    return _datetime_text(int(ms))


def cedar_request_datetime(seconds: Decimal) -> str:
    """A request date as Cedar ``datetime`` text: whole milliseconds, clamped into the window."""
    ms = int((seconds * _MS).to_integral_value(rounding=ROUND_FLOOR))
    return _datetime_text(min(max(ms, _CEDAR_FIRST_MS), _CEDAR_LAST_MS))


def _datetime_text(ms: int) -> str:
    stamp = _UNIX + timedelta(milliseconds=ms)
    return (
        f"{stamp.year:04d}-{stamp.month:02d}-{stamp.day:02d}T"
        f"{stamp.hour:02d}:{stamp.minute:02d}:{stamp.second:02d}.{stamp.microsecond // 1000:03d}Z"
    )


def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """A request address; IPv4-mapped IPv6 becomes IPv4 (Cedar rejects the mapped form)."""
    try:
        addr = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.scope_id:
            return None
        if addr.ipv4_mapped is not None:
            return addr.ipv4_mapped
    return addr


def parse_network(text: str) -> IpNet | None:
    """A policy CIDR; a bare address is a /32 (/128); host bits are ignored."""
    text = text.strip()
    addr_part, _, prefix = text.partition("/")
    addr = parse_ip(addr_part)
    if addr is None:
        return None
    try:
        if prefix:
            bits = int(prefix)
            if isinstance(addr, ipaddress.IPv4Address) and ":" in addr_part:
                bits -= 96  # ::ffff:a.b.c.d/120 → a.b.c.d/24
            return ipaddress.ip_network(f"{addr}/{bits}", strict=False)
        return ipaddress.ip_network(str(addr))
    except ValueError:
        return None


def parse_bool(text: str) -> bool | None:
    lowered = text.strip().lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    return None


def decode_binary(text: str) -> str | None:
    """A ``BinaryEquals`` policy value (base64) as the UTF-8 string it encodes."""
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None


def parse_arn(text: str) -> ArnParts | None:
    return split_arn(text)
