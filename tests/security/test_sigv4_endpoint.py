"""Attacks on the AWS-compatible endpoint, against a real server (``--aws-listen`` on
127.0.0.1 port 0). Every request is signed by botocore's signer (``tests.sigv4_signing``);
the attacker then replays, tampers, re-dates or strips it, or abuses the transport."""

from __future__ import annotations

import datetime
import logging
import socket
import time
import urllib.parse
from pathlib import Path

import boto3
import pytest

from tests.integration.e2e.harness import E2EServer, ServerFactory
from tests.sigv4_signing import Signed, sign

BOB = "arn:aws:iam::111122223333:user/Bob"
FOO = "arn:aws:iam::444455556666:role/foo"
ASSUME = f"Action=AssumeRole&Version=2011-06-15&RoleArn={FOO}&RoleSessionName=attack"


@pytest.fixture
def server(start_server: ServerFactory, example_repo: Path) -> E2EServer:
    return start_server(example_repo, aws_listen="127.0.0.1:0", request_read_timeout_ms=500)


def url_of(server: E2EServer) -> str:
    assert server.server.aws is not None
    return f"http://127.0.0.1:{server.server.aws.port}"


def bob(server: E2EServer) -> tuple[str, str]:
    return server.backend.credentials.create(BOB)


def code_of(body: str) -> str:
    return body.split("<Code>", 1)[1].split("</Code>", 1)[0] if "<Code>" in body else ""


def session(server: E2EServer) -> dict[str, str]:
    key, secret = bob(server)
    sts = boto3.client("sts", endpoint_url=url_of(server), region_name="us-east-1",
                       aws_access_key_id=key, aws_secret_access_key=secret)  # fmt: skip
    return dict(sts.assume_role(RoleArn=FOO, RoleSessionName="victim")["Credentials"])


def test_replayed_assume_role_gets_no_second_session(server: E2EServer) -> None:
    key, secret = bob(server)
    captured = sign(url_of(server), key, secret, body=ASSUME)
    status, body = captured.send()
    assert status == 200 and "<SessionToken>" in body
    status, body = captured.send()  # the attacker replays the captured request
    assert (status, code_of(body)) == (400, "RequestExpired")
    assert "<SessionToken>" not in body


def test_replayed_presigned_url_is_refused(server: E2EServer) -> None:
    key, secret = bob(server)
    captured = sign(url_of(server), key, secret, presign_seconds=300)
    assert captured.send()[0] == 200
    status, body = captured.send()
    assert (status, code_of(body)) == (400, "RequestExpired")


def test_tampered_body_is_refused(server: E2EServer) -> None:
    key, secret = bob(server)
    captured = sign(url_of(server), key, secret, body=ASSUME)
    forged = Signed(captured.method, captured.url, captured.headers,
                    captured.body.replace(b"attack", b"attacc"))  # fmt: skip
    status, body = forged.send()
    assert (status, code_of(body)) == (403, "SignatureDoesNotMatch")


def test_tampered_signature_is_refused(server: E2EServer) -> None:
    key, secret = bob(server)
    captured = sign(url_of(server), key, secret)
    auth = captured.headers["Authorization"]
    flipped = auth[:-1] + ("a" if auth[-1] != "a" else "b")
    forged = Signed(captured.method, captured.url,
                    {**captured.headers, "Authorization": flipped}, captured.body)  # fmt: skip
    status, body = forged.send()
    assert (status, code_of(body)) == (403, "SignatureDoesNotMatch")


def test_old_and_future_dates_are_refused(server: E2EServer) -> None:
    key, secret = bob(server)
    now = datetime.datetime.now(datetime.UTC)
    for when in (now - datetime.timedelta(minutes=6), now + datetime.timedelta(minutes=6)):
        status, body = sign(url_of(server), key, secret, body=ASSUME, when=when).send()
        assert (status, code_of(body)) == (400, "RequestExpired"), when


def test_wrong_region_and_service_scopes_are_refused(server: E2EServer) -> None:
    key, secret = bob(server)
    status, body = sign(url_of(server), key, secret, region="us-west-2").send()
    assert (status, code_of(body)) == (403, "SignatureDoesNotMatch")
    assert "region" in body
    # a signature made for IAM does not authorize an STS action
    status, body = sign(url_of(server), key, secret, service="iam").send()
    assert (status, code_of(body)) == (403, "SignatureDoesNotMatch")
    assert "correct service" in body


def test_session_without_token_or_secret_is_refused(server: E2EServer) -> None:
    creds = session(server)
    url = url_of(server)
    status, body = sign(url, creds["AccessKeyId"], creds["SecretAccessKey"]).send()
    assert (status, code_of(body)) == (403, "InvalidClientTokenId")  # the token is missing
    # bearer use: the token with a made-up secret
    status, body = sign(url, creds["AccessKeyId"], "A" * 40, token=creds["SessionToken"]).send()
    assert (status, code_of(body)) == (403, "SignatureDoesNotMatch")
    # the token under another access key id
    status, body = sign(url, "ASIAAAAAAAAAAAAAAAAA", creds["SecretAccessKey"],
                        token=creds["SessionToken"]).send()  # fmt: skip
    assert (status, code_of(body)) == (403, "InvalidClientTokenId")


def test_unsigned_and_half_signed_requests(server: E2EServer) -> None:
    url = url_of(server)
    status, body = Signed("POST", url + "/", {"Content-Type": "application/x-www-form-urlencoded"},
                          b"Action=GetCallerIdentity&Version=2011-06-15").send()  # fmt: skip
    assert (status, code_of(body)) == (403, "MissingAuthenticationToken")
    headers = {"Authorization": "AWS4-HMAC-SHA256 Credential=AKIAAAAAAAAAAAAAAAAA/20260101/"
               "us-east-1/sts/aws4_request"}  # fmt: skip
    status, body = Signed("POST", url + "/", headers, b"Action=GetCallerIdentity").send()
    assert (status, code_of(body)) == (400, "IncompleteSignature")


def test_oversized_body_is_refused_unread(server: E2EServer) -> None:
    assert server.server.aws is not None
    limit = server.server.aws.config.max_body_bytes
    with socket.create_connection(("127.0.0.1", server.server.aws.port), timeout=5) as conn:
        conn.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: "
                     b"application/x-www-form-urlencoded\r\nContent-Length: "
                     + str(limit + 1).encode() + b"\r\n\r\n")  # fmt: skip
        reply = read_all(conn).decode()
    assert reply.startswith("HTTP/1.1 413") and "RequestEntityTooLarge" in reply


def read_all(conn: socket.socket) -> bytes:
    data = b""
    while chunk := conn.recv(4096):
        data += chunk
    return data


def test_slow_body_is_cut_off(server: E2EServer) -> None:
    """A slowloris that announces a body and trickles it: the connection is answered and
    closed within the read timeout (500 ms here), not held open."""
    assert server.server.aws is not None
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.server.aws.port), timeout=5) as conn:
        conn.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nAc")
        reply = read_all(conn)  # the server answers and closes; the client sends no more
    assert time.monotonic() - start < 3
    assert b"RequestTimeout" in reply or reply == b""


def test_connections_beyond_the_cap_are_refused_at_once(
    start_server: ServerFactory, example_repo: Path
) -> None:
    server = start_server(example_repo, aws_listen="127.0.0.1:0", aws_max_connections=2)
    assert server.server.aws is not None
    port = server.server.aws.port
    held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(2)]
    try:
        time.sleep(0.2)  # both are being served (waiting for their request line)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as extra:
            reply = extra.recv(4096).decode()
        assert reply.startswith("HTTP/1.1 503") and "Throttling" in reply
    finally:
        for conn in held:
            conn.close()


def test_presigned_url_never_reaches_the_logs(
    server: E2EServer, caplog: pytest.LogCaptureFixture
) -> None:
    creds = session(server)
    caplog.set_level(logging.DEBUG)
    captured = sign(url_of(server), creds["AccessKeyId"], creds["SecretAccessKey"],
                    token=creds["SessionToken"], presign_seconds=60)  # fmt: skip
    assert captured.send()[0] == 200
    query = urllib.parse.urlsplit(captured.url).query
    signature = dict(urllib.parse.parse_qsl(query))["X-Amz-Signature"]
    for record in caplog.records:
        if not record.name.startswith("authz"):
            continue  # botocore logs its own canonical request on the client side
        text = record.getMessage()
        assert creds["SessionToken"] not in text and signature not in text
    audit = "\n".join(str(e) for e in server.audit_events(2))
    assert creds["SessionToken"] not in audit and signature not in audit


def test_query_parameter_bombs_are_refused_at_the_door(server: E2EServer) -> None:
    """Signed requests whose parameters would make the decoder build large or deep
    structures: refused with ValidationError naming the bound, before any action runs."""
    key, secret = bob(server)
    url = url_of(server)
    base = "Action=GetCallerIdentity&Version=2011-06-15"
    bombs = {
        "too many parameters": base + "".join(f"&P{i}=x" for i in range(2001)),
        "deep name": base + "&" + ".".join(["A"] * 9) + "=x",
        "index past the bound": base + "&ActionNames.member.1001=x",
        "index without member": base + "&ActionNames.1=x",
        "name and list at once": base + "&Tags=x&Tags.member.1.Key=k",
    }
    for label, body in bombs.items():
        status, text = sign(url, key, secret, body=body).send()
        assert (status, code_of(text)) == (400, "ValidationError"), (label, text[:300])
