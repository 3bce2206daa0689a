"""Attacks on the AWS-compatible endpoint's HTTP/1.1 framing, against a real server
(``--aws-listen`` on 127.0.0.1 port 0, read timeout 500 ms), written as raw bytes on a socket:
header floods, huge request targets, chunked and doubly-framed (smuggling) bodies, methods
the endpoint does not offer, slow headers, and pipelined requests whose answers must not
cross. Each refusal closes the connection."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from authz.server.aws import http
from tests.integration.e2e.harness import E2EServer, ServerFactory
from tests.sigv4_signing import sign

BOB = "arn:aws:iam::111122223333:user/Bob"
HEAD = b"POST / HTTP/1.1\r\nHost: x\r\n"


@pytest.fixture
def server(start_server: ServerFactory, example_repo: Path) -> E2EServer:
    return start_server(example_repo, aws_listen="127.0.0.1:0", request_read_timeout_ms=500)


def port_of(server: E2EServer) -> int:
    assert server.server.aws is not None
    return server.server.aws.port


def exchange(server: E2EServer, data: bytes) -> bytes:
    """Send ``data``, then read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port_of(server)), timeout=5) as conn:
        conn.sendall(data)
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    return reply


def raw(server: E2EServer, body: str) -> bytes:
    """A request signed by botocore for this server, as bytes on the wire."""
    key, secret = server.backend.credentials.create(BOB)
    signed = sign(f"http://127.0.0.1:{port_of(server)}", key, secret, body=body)
    headers = {"Host": urlsplit(signed.url).netloc, **signed.headers,
               "Content-Length": str(len(signed.body))}  # fmt: skip
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return f"POST / HTTP/1.1\r\n{head}\r\n".encode() + signed.body


def test_a_flood_of_header_fields_is_refused(server: E2EServer) -> None:
    flood = b"".join(b"X-Pad-%d: a\r\n" % i for i in range(http.MAX_HEADERS + 1))
    reply = exchange(server, HEAD + flood + b"\r\n")
    assert reply.startswith(b"HTTP/1.1 431") and b"RequestHeaderFieldsTooLarge" in reply


def test_a_huge_header_value_is_refused(server: E2EServer) -> None:
    reply = exchange(server, HEAD + b"X-Pad: " + b"a" * (http.MAX_HEAD_BYTES + 1) + b"\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 431")


def test_a_huge_request_target_is_refused(server: E2EServer) -> None:
    target = b"/?" + b"A" * (http.MAX_URL_BYTES + 1)
    reply = exchange(server, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 414") and b"RequestURITooLong" in reply


def test_chunked_bodies_are_refused(server: E2EServer) -> None:
    reply = exchange(server, HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nAc=1&\r\n0\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 411") and b"MissingContentLength" in reply


def test_a_smuggled_second_request_is_not_served(server: E2EServer) -> None:
    """Content-Length and Transfer-Encoding at once (the classic desync): refused as a
    whole, and the request hidden in the body never runs."""
    hidden = raw(server, "Action=GetCallerIdentity&Version=2011-06-15")
    body = b"0\r\n\r\n" + hidden
    reply = exchange(server, HEAD + b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n"
                     % len(body) + body)  # fmt: skip
    assert reply.count(b"HTTP/1.1 ") == 1 and reply.startswith(b"HTTP/1.1 4")
    assert b"GetCallerIdentityResult" not in reply


def test_two_content_lengths_are_refused(server: E2EServer) -> None:
    reply = exchange(server, HEAD + b"Content-Length: 3\r\nContent-Length: 30\r\n\r\nabc")
    assert reply.startswith(b"HTTP/1.1 400")


def test_methods_not_offered_are_refused(server: E2EServer) -> None:
    for method in (b"PUT", b"DELETE", b"OPTIONS"):
        reply = exchange(server, method + b" / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 501"), method


def test_garbage_is_refused(server: E2EServer) -> None:
    reply = exchange(server, b"\x16\x03\x01\x02\x00garbage\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400") and b"InvalidRequest" in reply


def test_slow_headers_are_cut_off(server: E2EServer) -> None:
    """A slowloris trickling header lines, each within the per-read timeout: the whole
    request must arrive within the read timeout (500 ms), so the connection is answered
    408 and closed long before the trickle would end."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port_of(server)), timeout=5) as conn:
        conn.sendall(HEAD)
        reply = b""
        try:
            for i in range(40):  # 40 x 100 ms = 4 s if never cut off
                conn.sendall(b"X-Slow-%d: a\r\n" % i)
                time.sleep(0.1)
        except OSError:
            pass  # the server closed the connection: the point of the test
        while chunk := conn.recv(65536):
            reply += chunk
    assert time.monotonic() - start < 2.5
    assert reply.startswith(b"HTTP/1.1 408") and b"RequestTimeout" in reply


def test_an_idle_kept_alive_connection_is_closed(server: E2EServer) -> None:
    start = time.monotonic()
    reply = exchange(server, b"")
    assert reply == b"" and time.monotonic() - start < 2.5


def test_pipelined_requests_are_answered_in_order(server: E2EServer) -> None:
    first = raw(server, "Action=GetCallerIdentity&Version=2011-06-15")
    second = raw(server, "Action=NoSuchAction&Version=2011-06-15")
    closing = (b"GET /?Action=GetCallerIdentity&Version=2011-06-15 HTTP/1.1\r\nHost: x\r\n"
               b"Connection: close\r\n\r\n")  # unsigned  # fmt: skip
    reply = exchange(server, first + second + closing)
    answers = reply.split(b"HTTP/1.1 ")[1:]
    assert [a[:3] for a in answers] == [b"200", b"400", b"403"]
    assert b"GetCallerIdentityResult" in answers[0] and b"InvalidAction" in answers[1]
    assert b"MissingAuthenticationToken" in answers[2] and b"Connection: close" in answers[2]


def test_expect_100_continue_is_answered_before_the_body(server: E2EServer) -> None:
    request = raw(server, "Action=GetCallerIdentity&Version=2011-06-15")
    head, _, body = request.partition(b"\r\n\r\n")
    with socket.create_connection(("127.0.0.1", port_of(server)), timeout=5) as conn:
        conn.sendall(head + b"\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n")
        assert conn.recv(65536) == b"HTTP/1.1 100 Continue\r\n\r\n"
        conn.sendall(body)
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200") and b"GetCallerIdentityResult" in reply


def test_an_endless_header_line_is_cut_off_as_it_arrives(server: E2EServer) -> None:
    """One header value that never ends: refused once the head passes its bound, without
    the server holding the whole line (it would otherwise buffer until the timeout)."""
    with socket.create_connection(("127.0.0.1", port_of(server)), timeout=5) as conn:
        conn.sendall(HEAD + b"X-Pad: ")
        reply = b""
        try:
            for _ in range(64):  # up to 4 MiB, far past the bound
                conn.sendall(b"a" * 65536)
        except OSError:
            pass  # refused and closed
        try:
            while chunk := conn.recv(65536):
                reply += chunk
        except ConnectionResetError:
            pass  # the unread flood made the close a reset: the answer may be lost with it
    assert reply == b"" or reply.startswith(b"HTTP/1.1 431")


def test_actions_the_endpoint_does_not_know_share_one_metrics_series(server: E2EServer) -> None:
    """The caller chooses ``Action=``: an unknown one is counted as ``Unknown``, so sending
    many names cannot grow the metrics (one series per value would be unbounded)."""
    for n in range(5):
        target = f"/?Action=NoSuchAction{n}&Version=2011-06-15"
        reply = exchange(
            server, f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
        )
        assert b"InvalidAction" in reply
    sample = server.server.metrics.registry.get_sample_value
    assert (
        sample("authz_grpc_requests_total", {"method": "Unknown", "code": "INVALID_ARGUMENT"}) == 5
    )
    for n in range(5):
        labels = {"method": f"NoSuchAction{n}", "code": "INVALID_ARGUMENT"}
        assert sample("authz_grpc_requests_total", labels) is None
