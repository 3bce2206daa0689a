"""How each condition-operator family reads a value (spec §4.4): numbers, dates, IP addresses,
booleans, base64 binaries and ARNs, parsed the same way for policy literals, for the typed request
context and for the Python oracle. A value that does not parse yields None: it never matches.

Owns value parsing and the canonical text Cedar's extension constructors accept (``decimal`` with
at most four fractional digits, ``datetime`` as ``YYYY-MM-DDThh:mm:ss.SSSZ``, ``ip`` without
IPv4-mapped IPv6). Must not import cedarpy.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

from authz.iam.glob import split_arn

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_DECIMAL_LIMIT = Decimal("922337203685477.5807")
_FOUR = Decimal("0.0001")
_DATE = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?"
    r"(Z|[+-]\d{2}:?\d{2})?)?)?)?$"
)
_EPOCH = re.compile(r"^\d{1,12}$")

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


_EPOCH_ORIGIN = datetime(1970, 1, 1, tzinfo=UTC)
# The latest instant Cedar's ``datetime`` holds: an epoch date beyond it (12 digits reach year
# 33658) reads as this in the typed request context, so it orders after every literal.
LAST_CEDAR_DATETIME = "9999-12-31T23:59:59.999Z"


def parse_date(text: str) -> datetime | None:
    """W3C ISO-8601 profiles (``YYYY`` … ``YYYY-MM-DDThh:mm:ss.sTZD``) or epoch seconds. An
    epoch past ``datetime``'s range (year 9999) is a valid date that this type cannot hold:
    None here, ``date_seconds`` reads it."""
    text = text.strip()
    if _EPOCH.match(text) and len(text) != 4:
        try:
            return _EPOCH_ORIGIN + timedelta(seconds=int(text))
        except OverflowError:
            return None
    match = _DATE.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, frac, zone = match.groups()
    try:
        stamp = datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            round(float(frac) * 1_000_000) if frac else 0,
            tzinfo=_zone(zone),
        )
    except (ValueError, OverflowError):
        return None
    return stamp.astimezone(UTC)


def date_seconds(text: str) -> Decimal | None:
    """A date (as ``parse_date`` reads it) as exact seconds since the epoch, any year an epoch
    number can name: what the Python oracle compares."""
    stripped = text.strip()
    if _EPOCH.match(stripped) and len(stripped) != 4:
        return Decimal(int(stripped))
    stamp = parse_date(stripped)
    if stamp is None:
        return None
    delta = stamp - _EPOCH_ORIGIN
    whole = Decimal(delta.days * 86_400 + delta.seconds)
    return whole + Decimal(delta.microseconds) / 1_000_000


def _zone(text: str | None) -> timezone:
    if not text or text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def cedar_datetime(value: datetime) -> str | None:
    if not 1 <= value.year <= 9999:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


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
