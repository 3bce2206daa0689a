"""Verifying a SigV4-signed request: scope, time, secret, signature, replay — in that order.

Owns the checks AWS makes before a request is believed: the credential scope names a region
this server accepts, the expected service and the request's own date; ``X-Amz-Date`` lies
within ``window_seconds`` (5 minutes) of the server clock (a presigned request: not in the
future beyond the window, and not past ``X-Amz-Expires``); the caller-supplied ``resolve``
turns (access key id, session token) into the secret and the principal (raising
``InvalidClientTokenId`` / ``ExpiredToken`` itself); the signature recomputed from the
request's bytes equals the one presented (``hmac.compare_digest``); and the signature has not
been accepted before (``authz.sigv4.replay``) — for presigned requests and for requests the
caller marks ``once`` (those that mint credentials: a replayed AssumeRole would hand the
replayer a fresh session). Other signed requests may repeat within the window, as in AWS:
SDKs send byte-identical requests (same second, same body, no signed nonce), e.g. two
``GetCallerIdentity`` calls in one second. Cheap checks run first, so a request with a stale
date or foreign scope never costs a key lookup.
"""

from __future__ import annotations

import calendar
import functools
import hmac
import time
from collections.abc import Callable, Collection
from typing import TypeVar

from authz.errors import RequestExpired, SignatureDoesNotMatch
from authz.sigv4.canonical import (
    HttpRequest,
    canonical_request,
    signature,
    signing_key,
    string_to_sign,
)
from authz.sigv4.parse import SignatureMaterial, parse_signature
from authz.sigv4.replay import ReplayGuard

T = TypeVar("T")
Resolve = Callable[[str, str | None], tuple[str, T]]

DEFAULT_WINDOW_SECONDS = 300


@functools.lru_cache(maxsize=64)  # one date string per second, seen by many calls
def _epoch(amz_date: str) -> int:
    """Epoch seconds of ``YYYYMMDDTHHMMSSZ`` (already matched by ``parse``); ``ValueError``
    for an impossible date. (``time.strptime`` cost ~15 µs a call.)"""
    year, month, day = int(amz_date[0:4]), int(amz_date[4:6]), int(amz_date[6:8])
    hour, minute, second = int(amz_date[9:11]), int(amz_date[11:13]), int(amz_date[13:15])
    if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]):
        raise ValueError(amz_date)
    if hour > 23 or minute > 59 or second > 60:
        raise ValueError(amz_date)
    return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))


class SigV4Verifier:
    """Verifies requests for the given ``regions``. Thread-safe."""

    def __init__(
        self,
        regions: Collection[str],
        *,
        window_seconds: int = DEFAULT_WINDOW_SECONDS,
        clock: Callable[[], float] = time.time,
        replay: ReplayGuard | None = None,
    ) -> None:
        if not regions:
            raise ValueError("at least one region must be accepted")
        self._regions = frozenset(regions)
        self._window = window_seconds
        self._clock = clock
        self._replay = replay if replay is not None else ReplayGuard()

    @property
    def replay(self) -> ReplayGuard:
        return self._replay

    def verify(
        self,
        request: HttpRequest,
        service: str,
        resolve: Resolve[T],
        material: SignatureMaterial | None = None,
        *,
        once: bool = True,
    ) -> T:
        """The principal ``resolve`` returned, once the request is proven; else raise.
        ``once``: refuse a second use of the signature (presigned requests always are)."""
        m = material if material is not None else parse_signature(request)
        self._check_scope(m, service)
        now = self._clock()
        until = self._check_time(m, now)
        secret, principal = resolve(m.access_key_id, m.session_token)
        canonical = canonical_request(request, m.signed_headers, presigned=m.presigned)
        key = signing_key(secret, m.scope_date, m.region, m.service)
        expected = signature(key, string_to_sign(m.amz_date, m.scope, canonical))
        if not hmac.compare_digest(expected.encode("ascii"), m.signature.encode("ascii")):
            raise SignatureDoesNotMatch(reason="signature")
        if once or m.presigned:
            self._replay.admit(m.signature, until, now)
        return principal

    def _check_scope(self, m: SignatureMaterial, service: str) -> None:
        if m.region not in self._regions:
            raise SignatureDoesNotMatch(
                f"Credential should be scoped to a valid region, not `{m.region}` "
                f"(this endpoint accepts {', '.join(sorted(self._regions))}).",
                reason="scope_region",
            )
        if m.service != service:
            raise SignatureDoesNotMatch(
                f"Credential should be scoped to correct service: '{service}'.",
                reason="scope_service",
            )
        if m.scope_date != m.amz_date[:8]:
            raise SignatureDoesNotMatch(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
                f"date from HTTP: '{m.scope_date}' != '{m.amz_date[:8]}', from '{m.amz_date}'.",
                reason="scope_date",
            )

    def _check_time(self, m: SignatureMaterial, now: float) -> float:
        """The moment until which this signature must be remembered (replay)."""
        try:
            signed_at = _epoch(m.amz_date)
        except ValueError:
            raise RequestExpired(
                f"`X-Amz-Date` `{m.amz_date}` is not a valid date", reason="bad_date"
            ) from None
        if signed_at > now + self._window:
            raise RequestExpired(
                f"Request is not yet valid: `X-Amz-Date` {m.amz_date} is more than "
                f"{self._window} seconds ahead of the server time.",
                reason="future",
            )
        if m.presigned:
            assert m.expires_seconds is not None
            until = signed_at + m.expires_seconds
            if now > until:
                raise RequestExpired("Request has expired", reason="presign_expired")
            return float(until)
        if signed_at < now - self._window:
            raise RequestExpired(
                f"Request has expired: `X-Amz-Date` {m.amz_date} is more than "
                f"{self._window} seconds before the server time.",
                reason="past",
            )
        return float(signed_at + self._window)
