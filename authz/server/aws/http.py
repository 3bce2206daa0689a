"""HTTP/1.1 for the AWS-compatible endpoint: one connection, bytes in, requests out.

Owns the wire side of one accepted connection: parsing with ``httptools`` (llhttp, the
parser uvicorn uses: strict about smuggling — a body framed by both ``Content-Length`` and
``Transfer-Encoding``, bad lengths, bad tokens are errors), keep-alive and pipelining, and
the bounds a client controls before any request is built: at most ``MAX_HEADERS`` header
fields and ``MAX_HEAD_BYTES`` of them (431), a request target of at most ``MAX_URL_BYTES``
(414), a body only as ``Content-Length`` (chunked: 411) of at most ``max_body_bytes`` (413,
refused before the body is read), and ``read_timeout_seconds`` from a request's first byte
to its last (408; an idle kept-alive connection is closed after the same time). Any
refusal closes the connection. ``Expect: 100-continue`` is answered as HTTP/1.1 asks.
What a request means is the caller's ``respond`` (``authz.server.aws.endpoint``); nothing
here logs a request line (a presigned URL carries a token and a signature).
"""

from __future__ import annotations

import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate

import httptools

MAX_HEADERS = 100
MAX_HEAD_BYTES = 64 * 1024
MAX_URL_BYTES = 64 * 1024
RECV_BYTES = 64 * 1024
# bytes read while a request's head is incomplete (httptools holds a header field whole
# before handing it over, so the head is bounded here, as it arrives, too)
MAX_HEAD_READ = MAX_URL_BYTES + MAX_HEAD_BYTES + RECV_BYTES

REASONS = {
    100: "Continue", 200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
    408: "Request Timeout", 411: "Length Required", 413: "Content Too Large",
    414: "URI Too Long", 429: "Too Many Requests", 431: "Request Header Fields Too Large",
    500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Incoming:
    """One complete request: ``target`` as on the request line (still percent-encoded),
    ``headers`` by lowercased name, every value in arrival order."""

    method: str
    target: str
    headers: dict[str, list[str]]
    body: bytes
    keep_alive: bool

    def header(self, name: str) -> str | None:
        values = self.headers.get(name)
        return values[0] if values else None


class Refused(Exception):
    """A request refused at the door (framing, size, time, method): status and AWS error."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


Respond = Callable[[Incoming], tuple[int, bytes]]
Refusal = Callable[[Refused], bytes]


class _Requests:
    """``httptools`` callbacks → complete requests in ``done``; a bound broken raises
    ``Refused`` out of ``feed``."""

    def __init__(self, max_body_bytes: int) -> None:
        self._max_body = max_body_bytes
        self._parser = httptools.HttpRequestParser(self)
        self.done: deque[Incoming] = deque()
        self.in_message = False
        self.wants_continue = False
        self._in_body = False
        self._head_read = 0
        self._begin()

    def _begin(self) -> None:
        self._url = b""
        self._headers: dict[str, list[str]] = {}
        self._count = self._head_bytes = 0
        self._body: list[bytes] = []

    def feed(self, data: bytes) -> None:
        if not self._in_body:
            self._head_read += len(data)
            if self._head_read > MAX_HEAD_READ:
                raise _too_large_head()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError as err:
            if isinstance(err.__context__, Refused):
                raise err.__context__ from None
            raise
        except httptools.HttpParserUpgrade:
            raise Refused(400, "InvalidRequest", "protocol upgrades are not offered") from None

    # -- httptools.HTTPProtocol ---------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._begin()
        self.in_message = True

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > MAX_URL_BYTES:
            raise Refused(414, "RequestURITooLong",
                          f"the request target exceeds {MAX_URL_BYTES} bytes")  # fmt: skip

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count += 1
        self._head_bytes += len(name) + len(value)
        if self._count > MAX_HEADERS or self._head_bytes > MAX_HEAD_BYTES:
            raise _too_large_head()
        self._headers.setdefault(name.decode("latin-1").lower(), []).append(value.decode("latin-1"))

    def on_headers_complete(self) -> None:
        self._in_body, self._head_read = True, 0
        method = self._parser.get_method()
        if method not in (b"GET", b"POST"):
            raise Refused(501, "NotImplemented",
                          f"method `{method.decode('latin-1')[:16]}` is not offered")  # fmt: skip
        if "transfer-encoding" in self._headers:
            raise Refused(411, "MissingContentLength", "send the body with a Content-Length")
        lengths = self._headers.get("content-length", ["0"])
        if len(lengths) != 1 or not lengths[0].isdigit() or len(lengths[0]) > 12:
            raise Refused(400, "ValidationError", "`Content-Length` must be a number")
        if int(lengths[0]) > self._max_body:
            raise Refused(413, "RequestEntityTooLarge",
                          f"the request body exceeds {self._max_body} bytes")  # fmt: skip
        expect = self._headers.get("expect")
        self.wants_continue = bool(
            expect and expect[0].lower() == "100-continue" and int(lengths[0]) > 0
        )

    def on_body(self, body: bytes) -> None:
        self.wants_continue = False  # the client sent the body without waiting
        self._body.append(body)

    def on_message_complete(self) -> None:
        self.in_message = self.wants_continue = self._in_body = False
        self.done.append(
            Incoming(
                self._parser.get_method().decode("ascii"),
                self._url.decode("latin-1"),
                self._headers,
                b"".join(self._body),
                self._parser.should_keep_alive(),
            )
        )


def _too_large_head() -> Refused:
    return Refused(431, "RequestHeaderFieldsTooLarge",
                   f"the request has more than {MAX_HEADERS} header fields or "
                   f"{MAX_HEAD_BYTES} bytes of them")  # fmt: skip


_date_cache: tuple[int, str] = (0, "")


def _date() -> str:
    """The ``Date`` header value, formatted once a second."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True))
    return _date_cache[1]


def response_bytes(status: int, payload: bytes, *, close: bool) -> bytes:
    """One whole response (head and body leave in one write)."""
    head = (
        f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\nServer: authz\r\n"
        f"Date: {_date()}\r\nContent-Type: text/xml\r\nContent-Length: {len(payload)}\r\n"
        f"{'Connection: close' + chr(13) + chr(10) if close else ''}\r\n"
    )
    return head.encode("ascii") + payload


def serve_connection(
    sock: socket.socket,
    *,
    max_body_bytes: int,
    read_timeout_seconds: float,
    respond: Respond,
    refusal: Refusal,
) -> None:
    """Serve requests on ``sock`` until the client closes, a request asks to close, a bound
    is broken or a read times out. Never raises for what a client sends."""
    requests = _Requests(max_body_bytes)
    started: float | None = None  # when the request now arriving sent its first byte
    current = -1.0  # the socket's timeout now
    while True:
        timeout = read_timeout_seconds
        if started is not None:
            timeout = started + read_timeout_seconds - time.monotonic()
            if timeout <= 0:
                _refuse(sock, refusal, Refused(408, "RequestTimeout",
                                               "the request did not arrive in time"))  # fmt: skip
                return
        try:
            if timeout != current:
                sock.settimeout(timeout)
                current = timeout
            data = sock.recv(RECV_BYTES)
        except TimeoutError:
            if started is not None:
                continue  # the loop answers 408 now that the request's time is up
            return  # an idle kept-alive connection
        except OSError:
            return
        if not data:
            return
        if started is None:
            started = time.monotonic()
        try:
            requests.feed(data)
            refused = None
        except Refused as err:
            refused = err
        except httptools.HttpParserError:
            refused = Refused(400, "InvalidRequest", "the request is not valid HTTP/1.1")
        answered = bool(requests.done)
        while requests.done:  # requests completed before a refusal are still answered
            incoming = requests.done.popleft()
            status, payload = respond(incoming)
            close = not incoming.keep_alive
            if not _send(sock, response_bytes(status, payload, close=close)) or close:
                return
        if refused is not None:
            _refuse(sock, refusal, refused)
            return
        if requests.wants_continue:
            requests.wants_continue = False
            if not _send(sock, b"HTTP/1.1 100 Continue\r\n\r\n"):
                return
        if not requests.in_message:
            started = None
        elif answered:  # the next pipelined request began in this read
            started = time.monotonic()


def _refuse(sock: socket.socket, refusal: Refusal, refused: Refused) -> None:
    _send(sock, response_bytes(refused.status, refusal(refused), close=True))


def _send(sock: socket.socket, data: bytes) -> bool:
    try:
        sock.sendall(data)
    except OSError:
        return False
    return True
