"""JWKS over HTTPS: ``JwksCache`` fetches an issuer's key set, keeps it, refreshes it aside.

Owns the network side of OpenID Connect, bounded everywhere: HTTPS only, a connect-and-read
timeout, at most ``MAX_JWKS_BYTES`` read (a larger answer is refused, never buffered), at most
one fetch per URL in flight, a minimum interval between fetches of one URL (an unknown ``kid``
in a stream of forged tokens cannot make the server hammer the issuer) and a bounded number of
URLs. Serving never waits on the network beyond ``wait_seconds``: a request that finds fresh
keys uses them; stale keys are used while a background thread refreshes them; a request that
finds none (first use, or after an unknown ``kid``) waits at most ``wait_seconds`` for the fetch
it started, and then fails with ``IDPCommunicationError`` (the issuer is unreachable) — other
issuers and every other RPC are unaffected.

OIDC discovery: a provider without a JWKS source of its own names its issuer URL; its key set
is found at ``jwks_uri`` of ``<issuer>/.well-known/openid-configuration`` (HTTPS, and the
document's ``issuer`` must be the issuer's URL). Imports neither grpc nor cedarpy.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

from authz.errors import IDPCommunicationError
from authz.oidc.jwks import MAX_JWKS_BYTES, JwksError, KeySet, parse_jwks_bytes

log = logging.getLogger("authz.oidc.fetch")

DISCOVERY_PATH = "/.well-known/openid-configuration"


@dataclass(frozen=True)
class FetchSettings:
    """``refresh_seconds``: keys older than this are refreshed in the background;
    ``max_stale_seconds``: keys are used at most this long after their last successful fetch
    (an issuer down longer than that makes its tokens fail); ``min_interval_seconds``: the
    least time between two fetches of one URL; ``wait_seconds``: how long a request waits for
    a fetch it needs."""

    timeout_seconds: float = 5.0
    refresh_seconds: float = 3600.0
    max_stale_seconds: float = 86400.0
    min_interval_seconds: float = 30.0
    wait_seconds: float = 5.0
    max_bytes: int = MAX_JWKS_BYTES
    max_urls: int = 256
    ca_file: str | None = None


@dataclass
class _Entry:
    keys: KeySet | None = None
    fetched_at: float = 0.0  # monotonic time of the last successful fetch
    attempted_at: float = -1e18  # monotonic time the last fetch started
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)
    in_flight: bool = False


Opener = Callable[[str, float, int, ssl.SSLContext], bytes]


def https_get(url: str, timeout: float, limit: int, context: ssl.SSLContext) -> bytes:
    """GET ``url`` over verified HTTPS; at most ``limit`` bytes (more is an error)."""
    if not url.startswith("https://"):
        raise OSError(f"`{url}` is not an https URL")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=context), _NoRedirect()
    )
    with opener.open(request, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise OSError(f"answer of {length} bytes is larger than {limit} (the limit)")
        body: bytes = response.read(limit + 1)
    if len(body) > limit:
        raise OSError(f"answer is larger than {limit} bytes (the limit)")
    return body


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are not followed: the configured URL is the one trusted."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class JwksCache:
    """Key sets by URL (a ``jwks_uri``, or an issuer URL for discovery). Thread-safe."""

    def __init__(
        self,
        settings: FetchSettings | None = None,
        *,
        opener: Opener = https_get,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings or FetchSettings()
        self._opener = opener
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        context = ssl.create_default_context()  # the system's CAs ...
        if self.settings.ca_file:  # ... and the operator's (create_default_context(cafile=)
            context.load_verify_locations(self.settings.ca_file)  # would drop the system's)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._context = context
        self.fetches = 0  # successful and failed, for tests and metrics

    def keys(self, url: str, *, discover: bool = False, kid: str | None = None) -> KeySet:
        """The key set at ``url`` (``discover``: ``url`` is an issuer, use OIDC discovery).
        ``kid``: the key a token names; a cached set without it is refetched (key rotation),
        at most once per ``min_interval_seconds``. ``IDPCommunicationError`` when no usable
        set can be had within ``wait_seconds``."""
        now = self._monotonic()
        with self._lock:
            entry = self._entries.get(url)
            if entry is None:
                if len(self._entries) >= self.settings.max_urls:
                    self._evict_oldest()
                entry = self._entries[url] = _Entry()
            usable = entry.keys is not None and (
                now - entry.fetched_at <= self.settings.max_stale_seconds
            )
            rotated = usable and kid is not None and not entry.keys.has_kid(kid)  # type: ignore[union-attr]
            stale = usable and now - entry.fetched_at > self.settings.refresh_seconds
            wanted = not usable or rotated or stale
            allowed = now - entry.attempted_at >= self.settings.min_interval_seconds
            started = wanted and allowed and not entry.in_flight
            if started:
                entry.in_flight, entry.attempted_at = True, now
                entry.done = threading.Event()
            done = entry.done
            must_wait = (not usable or rotated) and (entry.in_flight or started)
        if started:
            threading.Thread(
                target=self._fetch, args=(url, discover, entry), name="authz-jwks", daemon=True
            ).start()
        if must_wait:
            done.wait(self.settings.wait_seconds)
        with self._lock:
            if entry.keys is not None and (
                self._monotonic() - entry.fetched_at <= self.settings.max_stale_seconds
            ):
                return entry.keys
            reason = entry.error or "no answer yet"
        raise IDPCommunicationError(
            f"Couldn't retrieve verification key from your identity provider: {reason}"
        )

    def _evict_oldest(self) -> None:
        idle = [(e.attempted_at, u) for u, e in self._entries.items() if not e.in_flight]
        if idle:
            del self._entries[min(idle)[1]]

    def _fetch(self, url: str, discover: bool, entry: _Entry) -> None:
        keys: KeySet | None = None
        error: str | None = None
        try:
            keys = self._download(url, discover)
        except (OSError, JwksError, ValueError) as err:
            error = _describe(err)
            log.warning("JWKS fetch from %s failed: %s", url, error)
        except Exception as err:  # a bug must not leave waiters hanging
            error = f"internal error ({type(err).__name__})"
            log.exception("JWKS fetch from %s failed", url)
        with self._lock:
            self.fetches += 1
            if keys is not None:
                entry.keys, entry.fetched_at, entry.error = keys, self._monotonic(), None
            else:
                entry.error = error
            entry.in_flight = False
            entry.done.set()

    def _download(self, url: str, discover: bool) -> KeySet:
        s = self.settings
        jwks_uri = url
        if discover:
            raw = self._opener(url.rstrip("/") + DISCOVERY_PATH, s.timeout_seconds,
                               s.max_bytes, self._context)  # fmt: skip
            document = json.loads(raw.decode("utf-8"))
            if not isinstance(document, dict) or document.get("issuer") != url:
                raise ValueError("the discovery document's `issuer` is not the provider's URL")
            jwks_uri = str(document.get("jwks_uri", ""))
            if not jwks_uri.startswith("https://"):
                raise ValueError("the discovery document's `jwks_uri` is not an https URL")
        return parse_jwks_bytes(
            self._opener(jwks_uri, s.timeout_seconds, s.max_bytes, self._context), s.max_bytes
        )


def _describe(err: BaseException) -> str:
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP status {err.code}"
    if isinstance(err, urllib.error.URLError):
        return f"cannot connect: {err.reason}"
    if isinstance(err, JwksError):
        return f"invalid JWKS: {err.message}"
    if isinstance(err, TimeoutError):
        return "timed out"
    return str(err) or type(err).__name__
